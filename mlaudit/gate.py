"""The CI gate: does this result pass `--fail-under` and `--fail-on`?"""

from __future__ import annotations

from dataclasses import dataclass

from mlaudit.config import SEVERITY_ORDER
from mlaudit.results import CheckResult, Finding, ScanResult


@dataclass
class GateOutcome:
    passed: bool
    reasons: list[str]


def gating(finding: Finding) -> bool:
    """A finding that can fail the gate: not suppressed (in source, config or baseline) and,
    under ``--diff-base``, on a changed line."""
    return not finding.suppressed and finding.in_diff is not False


def gating_findings(check: CheckResult) -> list[Finding]:
    return [f for f in check.findings if gating(f)]


def repo_failure_gates(result: ScanResult, check: CheckResult) -> bool:
    """A failing repo-level verdict gates unless baselined; under ``--diff-base`` it is shown
    and scored but does not gate (the change did not introduce it; --fail-under still holds
    the score)."""
    return (
        check.rule.scope == "repo"
        and check.verdict == "fail"
        and not check.baselined
        and result.diff_base is None
    )


def evaluate_gate(result: ScanResult, fail_under: float | None, fail_on: str) -> GateOutcome:
    """Failing reasons: a score below the threshold, or an open problem at/above a severity.

    A problem is a gating finding (see ``gating``), or a repo-level check whose verdict is
    fail (see ``repo_failure_gates``).
    """
    reasons: list[str] = []
    if fail_under is not None and result.score is not None and result.score < fail_under:
        reasons.append(f"score {result.score:g} is below --fail-under {fail_under:g}")
    if fail_on != "none":
        floor = SEVERITY_ORDER[fail_on]
        for check in result.checks:
            if SEVERITY_ORDER[check.rule.severity] < floor:
                continue
            open_findings = len(gating_findings(check))
            if open_findings:
                what = "new " if result.diff_base is not None else ""
                reasons.append(
                    f"{check.rule.code} {check.rule.name}: {open_findings} {what}"
                    f"{check.rule.severity} finding(s)"
                )
            elif repo_failure_gates(result, check):
                reasons.append(f"{check.rule.code} {check.rule.name}: fail ({check.rule.severity})")
    return GateOutcome(not reasons, reasons)
