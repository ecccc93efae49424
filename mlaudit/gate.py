"""The CI gate: does this result pass `--fail-under` and `--fail-on`?"""

from __future__ import annotations

from dataclasses import dataclass

from mlaudit.config import SEVERITY_ORDER
from mlaudit.results import ScanResult


@dataclass
class GateOutcome:
    passed: bool
    reasons: list[str]


def evaluate_gate(result: ScanResult, fail_under: float | None, fail_on: str) -> GateOutcome:
    """Failing reasons: a score below the threshold, or an open problem at/above a severity.

    A problem is an unsuppressed finding, or a repo-level check whose verdict is fail.
    """
    reasons: list[str] = []
    if fail_under is not None and result.score is not None and result.score < fail_under:
        reasons.append(f"score {result.score:g} is below --fail-under {fail_under:g}")
    if fail_on != "none":
        floor = SEVERITY_ORDER[fail_on]
        for check in result.checks:
            if SEVERITY_ORDER[check.rule.severity] < floor:
                continue
            open_findings = len(check.open_findings)
            if open_findings:
                reasons.append(
                    f"{check.rule.code} {check.rule.name}: {open_findings} "
                    f"{check.rule.severity} finding(s)"
                )
            elif check.rule.scope == "repo" and check.verdict == "fail":
                reasons.append(f"{check.rule.code} {check.rule.name}: fail ({check.rule.severity})")
    return GateOutcome(not reasons, reasons)
