"""Project-level result reuse: when nothing a scan depends on changed since the last scan,
its results are the answer, and no fact is decoded and no check runs.

What a scan depends on, and so what the key holds: the content of every file mlaudit parses
and the size and modification time of every other file in the workspace; HEAD and the refs
(git history facts); the settings, the options that change results, the environment
switches of the index; and mlaudit itself (version, facts version, and the size and
modification time of its code and rule catalog, so an edited checkout never reuses a stale
answer). The stored results are those before ``--baseline`` and ``--diff-base``, which are
applied afresh on every scan. The file is signed like the facts cache (a results file that
this machine did not write is never trusted).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import msgspec

from mlaudit import __version__
from mlaudit.catalog import Rule, rules_dir
from mlaudit.config import Config
from mlaudit.index.cache import SignedStore
from mlaudit.index.extract import FACTS_VERSION, digest
from mlaudit.index.facts import FileFacts
from mlaudit.results import (
    CheckResult,
    Evidence,
    Finding,
    Route,
    ScanResult,
    SectionScore,
    Trait,
)

RESULTS_FILE = "results.msgpack"
# Environment switches that change what the index records.
_ENVIRONMENT = ("MLAUDIT_FULL_PASS", "MLAUDIT_FILE_TIMEOUT")


class _Check(msgspec.Struct, array_like=True):
    code: str
    verdict: str
    reason: str
    evidence: list[Evidence]
    findings: list[Finding]
    anchor: Evidence | None
    fingerprint: str
    baselined: bool


class _Results(msgspec.Struct, array_like=True):
    version: str
    traits: list[Trait]
    checks: list[_Check]
    sections: list[SectionScore]
    score: float | None
    routes: list[Route]
    files_scanned: int
    notes: list[str]
    paths: list[str] | None


def _code_stamp() -> str:
    """Size and modification time of mlaudit's own code and rules: an edit is a new key."""
    package = Path(__file__).resolve().parent
    rows: list[str] = []
    for folder in (package, rules_dir()):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".yaml", ".json") and "__pycache__" not in path.parts:
                stat = path.stat()
                rows.append(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return digest("\n".join(rows).encode("utf-8", errors="surrogateescape"))


def results_key(
    root: Path,
    tree: str,
    refs: str,
    config: Config,
    options: tuple[object, ...],
    notes: list[str],
    is_git: bool,
) -> str:
    """The key of one scan's results (see the module docstring for what it holds)."""
    environment = [(name, os.environ.get(name)) for name in _ENVIRONMENT]
    parts = [
        __version__,
        FACTS_VERSION,
        _code_stamp(),
        str(root),
        tree,
        refs,
        repr(dataclasses.astuple(config)),
        repr(options),
        repr(environment),
        repr(notes),
        repr(is_git),
    ]
    return digest("\x1f".join(parts).encode("utf-8", errors="surrogateescape"))


def reusable(files: dict[str, FileFacts], timeouts: tuple[str, ...]) -> bool:
    """Results built while a file ran over its time budget depend on the machine's load:
    such a scan is not stored (the next one retries the file)."""
    return not any(
        error.message.startswith(timeouts) for facts in files.values() for error in facts.errors
    )


class ResultStore:
    """The last scan's results in the cache directory, under their key."""

    def __init__(self, directory: Path) -> None:
        self._store = SignedStore(directory, RESULTS_FILE)

    def get(self, key: str, rules: dict[str, Rule]) -> ScanResult | None:
        stored = self._store.get(key, _Results)
        if stored is None or any(check.code not in rules for check in stored.checks):
            return None
        return ScanResult(
            version=stored.version,
            traits=stored.traits,
            checks=[
                CheckResult(
                    rules[c.code],
                    c.verdict,
                    c.reason,
                    c.evidence,
                    c.findings,
                    c.anchor,
                    c.fingerprint,
                    c.baselined,
                )
                for c in stored.checks
            ],
            sections=stored.sections,
            score=stored.score,
            routes=stored.routes,
            files_scanned=stored.files_scanned,
            notes=stored.notes,
            paths=stored.paths,
        )

    def put(self, key: str, scan: ScanResult, dropped_notes: tuple[str, ...] = ()) -> None:
        """Store ``scan`` (before baseline and diff), without notes about this run only."""
        checks = [
            _Check(
                c.rule.code,
                c.verdict,
                c.reason,
                c.evidence,
                c.findings,
                c.anchor,
                c.fingerprint,
                c.baselined,
            )
            for c in scan.checks
        ]
        notes = [n for n in scan.notes if n not in dropped_notes]
        results = _Results(
            scan.version,
            scan.traits,
            checks,
            scan.sections,
            scan.score,
            scan.routes,
            scan.files_scanned,
            notes,
            scan.paths,
        )
        self._store.put(key, results)
