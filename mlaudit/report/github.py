"""GitHub Actions workflow commands: ``::error file=...,line=...::message`` annotations.

GitHub shows at most 10 error, 10 warning and 10 notice annotations per step and drops the
rest, so past 9 of a level the remaining ones are summarised in a tenth annotation of that
level (the JSON, SARIF and Markdown reports keep everything). Only problems that gate are
annotated: open findings (on changed lines under --diff-base) and failing repo-level checks,
at the file where the fix belongs.
"""

from __future__ import annotations

from mlaudit.config import SEVERITY_ORDER
from mlaudit.gate import GateOutcome, gating, repo_failure_gates
from mlaudit.report.rules import rule_url
from mlaudit.results import ScanResult

PER_LEVEL = 10
COMMAND = {"error": "error", "warning": "warning", "note": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(
    level: str, message: str, title: str, path: str | None, line: int | None, col: int | None = None
) -> str:
    props = []
    if path:
        props.append(f"file={_prop(path)}")
        if line:
            props.append(f"line={line}")
            if col:
                props.append(f"col={col}")
    props.append(f"title={_prop(title)}")
    return f"::{COMMAND[level]} {','.join(props)}::{_data(message)}"


def render(result: ScanResult, gate: GateOutcome | None = None) -> str:
    items: list[tuple[int, str, int, str, str]] = []  # (order, path, line, level, command)
    for check in result.checks:
        rule = check.rule
        title = f"{rule.code} {rule.name}"
        for finding in check.findings:
            if gating(finding):
                text = f"{finding.message}\n{rule_url(rule)}"
                command = _annotation(
                    rule.severity, text, title, finding.path, finding.line, finding.col
                )
                items.append(
                    (
                        -SEVERITY_ORDER[rule.severity],
                        finding.path,
                        finding.line,
                        rule.severity,
                        command,
                    )
                )
        if repo_failure_gates(result, check) and check.anchor is not None:
            anchor = check.anchor
            text = f"{check.reason}\n{rule_url(rule)}"
            command = _annotation(rule.severity, text, title, anchor.path, anchor.line)
            items.append(
                (
                    -SEVERITY_ORDER[rule.severity],
                    anchor.path or "",
                    anchor.line or 0,
                    rule.severity,
                    command,
                )
            )
    items.sort(key=lambda i: (i[0], i[1], i[2], i[4]))
    lines: list[str] = []
    for level in ("error", "warning", "note"):
        of_level = [i[4] for i in items if i[3] == level]
        if len(of_level) <= PER_LEVEL:
            lines += of_level
            continue
        lines += of_level[: PER_LEVEL - 1]
        rest = len(of_level) - (PER_LEVEL - 1)
        lines.append(
            f"::{COMMAND[level]} title=mlaudit::{rest} more {level}-level problem(s) not "
            "annotated (GitHub shows 10 per step); see the job summary or the SARIF report"
        )
    score = "n/a" if result.score is None else f"{result.score:g} / 100"
    summary = f"mlaudit {result.version}: score {score}, {len(items)} gating problem(s)"
    if gate is not None:
        summary += "; gate passed" if gate.passed else "; gate failed: " + "; ".join(gate.reasons)
    lines.append(summary)
    return "\n".join(lines) + "\n"
