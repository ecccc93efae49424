"""Adopting mlaudit in a legacy repository: a baseline of accepted findings, and diff gating.

``mlaudit baseline`` writes ``.mlaudit-baseline.json``: the open findings and failing
repo-level checks of today, keyed by fingerprint (rule, path, enclosing symbol, normalised
source line, occurrence — never the line number), so unrelated edits do not invalidate it.
``--baseline FILE`` marks matching findings suppressed (kind external, reason "baseline"):
they stay in every report but no longer fail the gate; entries that match nothing any more
are reported as stale. Verdicts and scores are left as they are: a baseline accepts debt, it
does not pay it.

``--diff-base REF`` marks each finding with whether it sits on a line changed since REF
(untracked files count as new); only those gate the run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlaudit.config import ConfigError
from mlaudit.results import BaselineUse, ScanResult

BASELINE_FILE = ".mlaudit-baseline.json"
BASELINE_FORMAT = 1
BASELINE_REASON = "baseline"


def baseline_entries(result: ScanResult) -> list[dict[str, Any]]:
    """Today's open problems, as baseline entries (sorted, deterministic)."""
    entries: list[dict[str, Any]] = []
    for check in result.checks:
        for finding in check.findings:
            if finding.suppressed and not finding.baselined:
                continue  # already accepted in source or config, with its own reason
            entries.append(
                {
                    "fingerprint": finding.fingerprint,
                    "code": finding.code,
                    "path": finding.path,
                    "message": finding.message,
                }
            )
        if check.rule.scope == "repo" and check.verdict == "fail" and check.fingerprint:
            anchor = check.anchor
            entries.append(
                {
                    "fingerprint": check.fingerprint,
                    "code": check.rule.code,
                    "path": anchor.path if anchor else None,
                    "message": check.reason,
                }
            )
    # No line numbers: the file must not churn when unrelated edits move findings.
    entries.sort(key=lambda e: (e["code"], e["path"] or "", e["fingerprint"]))
    return entries


def render_baseline(result: ScanResult) -> str:
    data = {
        "mlaudit_baseline": BASELINE_FORMAT,
        "note": "Findings accepted when mlaudit was adopted; see `mlaudit baseline --help`.",
        "entries": baseline_entries(result),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load_baseline(path: Path) -> list[dict[str, Any]]:
    """The entries of a baseline file; a missing or malformed file is a usage error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--baseline {path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"--baseline {path}: not valid JSON: {exc}") from exc
    if (
        not isinstance(data, dict)
        or data.get("mlaudit_baseline") != BASELINE_FORMAT
        or not isinstance(data.get("entries"), list)
        or not all(
            isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in data["entries"]
        )
    ):
        raise ConfigError(
            f"--baseline {path}: not an mlaudit baseline (write one with `mlaudit baseline`)"
        )
    return list(data["entries"])


def apply_baseline(result: ScanResult, entries: list[dict[str, Any]], shown_path: str) -> None:
    """Mark baselined findings and repo-level failures; record matched and stale entries."""
    wanted = {e["fingerprint"]: e for e in entries}
    used: set[str] = set()
    for check in result.checks:
        for finding in check.findings:
            if finding.suppressed or finding.fingerprint not in wanted:
                continue
            finding.suppressed = True
            finding.baselined = True
            finding.suppression_kind = "external"
            finding.suppression_reason = BASELINE_REASON
            used.add(finding.fingerprint)
        if check.rule.scope == "repo" and check.fingerprint in wanted:
            used.add(check.fingerprint)
            if check.verdict == "fail":
                check.baselined = True
    stale = [
        {k: e.get(k) for k in ("fingerprint", "code", "path", "message")}
        for e in entries
        if e["fingerprint"] not in used
    ]
    result.baseline = BaselineUse(path=shown_path, matched=len(used), stale=stale)
    if stale:
        result.notes.append(
            f"baseline {shown_path}: {len(stale)} stale entr{'y' if len(stale) == 1 else 'ies'}"
            " (fixed or moved); run `mlaudit baseline` to refresh it"
        )


# -- --diff-base ------------------------------------------------------------------------------
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def _unquote(path: str) -> str:
    if path.startswith('"') and path.endswith('"'):
        import ast

        try:
            return str(ast.literal_eval(path))
        except (ValueError, SyntaxError):
            return path.strip('"')
    return path


def parse_unified_diff(text: str) -> dict[str, set[int]]:
    """New-side line numbers added or changed per file, from ``git diff --unified=0``."""
    changed: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in text.splitlines():
        if line.startswith("+++ "):
            target = _unquote(line[4:].rstrip("\t"))
            if target == "/dev/null":
                current = None
            else:
                current = changed.setdefault(target.removeprefix("b/"), set())
            continue
        match = _HUNK.match(line)
        if match and current is not None:
            start, count = int(match.group(1)), int(match.group(2) or "1")
            current.update(range(start, start + count))
    return changed


def changed_lines(root: Path, ref: str) -> tuple[dict[str, set[int]], set[str]]:
    """Lines changed since ``ref`` (paths relative to ``root``), and untracked files."""
    try:
        import git
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ConfigError("--diff-base needs gitpython") from exc
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise ConfigError(f"--diff-base: {root} is not in a git work tree") from exc
    top = Path(repo.working_tree_dir or root).resolve()
    prefix = root.resolve().relative_to(top).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    try:
        repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
    except git.GitCommandError as exc:
        raise ConfigError(f"--diff-base: unknown revision {ref!r}") from exc
    diff = repo.git.execute(
        [
            "git",
            "-c",
            "core.quotepath=off",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--unified=0",
            "--find-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            ref,
            "--",
            ".",
        ],
        with_extended_output=False,
        as_process=False,
        stdout_as_string=True,
    )
    untracked_out = repo.git.execute(
        ["git", "-c", "core.quotepath=off", "ls-files", "-z", "--others", "--exclude-standard"],
        with_extended_output=False,
        as_process=False,
        stdout_as_string=True,
    )
    assert isinstance(diff, str) and isinstance(untracked_out, str)

    def relative(path: str) -> str | None:
        return path[len(prefix) :] if path.startswith(prefix) else None

    changed: dict[str, set[int]] = {}
    for path, lines in parse_unified_diff(diff).items():
        rel = relative(path)
        if rel is not None:
            changed[rel] = lines
    untracked = {r for p in untracked_out.split("\0") if p and (r := relative(p)) is not None}
    return changed, untracked


def apply_diff(result: ScanResult, root: Path, ref: str) -> None:
    """Mark each finding in or out of the change since ``ref``."""
    changed, untracked = changed_lines(root, ref)
    for check in result.checks:
        for finding in check.findings:
            end = (
                finding.end_line
                if finding.end_line and finding.end_line >= finding.line
                else finding.line
            )
            lines = changed.get(finding.path, set())
            finding.in_diff = finding.path in untracked or any(
                n in lines for n in range(finding.line, end + 1)
            )
    result.diff_base = ref
