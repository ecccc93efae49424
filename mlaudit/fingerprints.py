"""Code excerpts and stable fingerprints for findings.

A fingerprint must survive unrelated edits (lines inserted above a finding), so it hashes
the rule, the path, the enclosing symbol and the whitespace-normalised source line, plus an
occurrence index among identical findings — never the line number.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from mlaudit.results import CheckResult, Finding

CONTEXT_LINES = 1


class SourceLines:
    """Lines of the files findings point at, read lazily and at most once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lines: dict[str, list[str]] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            try:
                data = (self.root / path).read_bytes()[:4_000_000]
                text = data.decode("utf-8-sig", errors="replace")
                self._lines[path] = text.splitlines()
            except OSError:
                self._lines[path] = []
        return self._lines[path]

    def line(self, path: str, number: int) -> str:
        lines = self.lines(path)
        return lines[number - 1] if 0 < number <= len(lines) else ""


def _normalise(text: str) -> str:
    return " ".join(text.split())


def fingerprint_findings(results: list[CheckResult], sources: SourceLines) -> None:
    """Fill each finding's snippet and fingerprint, in a deterministic order."""
    seen: Counter[str] = Counter()
    every: list[Finding] = [f for r in results for f in r.findings]
    every.sort(key=lambda f: (f.code, f.path, f.line, f.col, f.message))
    for finding in every:
        source = sources.line(finding.path, finding.line)
        finding.snippet = source.strip()[:200]
        basis = "\0".join(
            (finding.code, finding.path, finding.symbol, _normalise(source) or finding.message)
        )
        occurrence = seen[basis]
        seen[basis] += 1
        digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
        finding.fingerprint = f"{digest}:{occurrence}"
