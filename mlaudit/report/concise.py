"""One line per open problem, ``path:line:col: CODE message`` (ruff's concise output), for
pre-commit hooks and editors; a last line with the count and the gate."""

from __future__ import annotations

from mlaudit.gate import GateOutcome, gating, repo_failure_gates
from mlaudit.results import ScanResult


def render(result: ScanResult, gate: GateOutcome | None = None) -> str:
    rows: list[tuple[str, int, int, str]] = []
    for check in result.checks:
        rule = check.rule
        for finding in check.findings:
            if gating(finding):
                rows.append(
                    (
                        finding.path,
                        finding.line,
                        finding.col,
                        f"{rule.code} [{rule.severity}] {finding.message}",
                    )
                )
        if repo_failure_gates(result, check) and check.anchor is not None:
            anchor = check.anchor
            rows.append(
                (
                    anchor.path or ".",
                    anchor.line or 1,
                    1,
                    f"{rule.code} [{rule.severity}] {rule.name}: {check.reason}",
                )
            )
    rows.sort()
    lines = [f"{path}:{line}:{col}: {text}" for path, line, col, text in rows]
    tail = f"Found {len(rows)} problem(s)"
    if result.score is not None:
        tail += f"; score {result.score:g} / 100"
    if gate is not None and not gate.passed:
        tail += "; gate failed: " + "; ".join(gate.reasons)
    lines.append(tail + ".")
    return "\n".join(lines) + "\n"
