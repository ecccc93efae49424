"""A pull-request-comment-sized Markdown summary: the score and gate, the section table,
the failing checks with links to their documentation, and the top findings.

Kept well under GitHub's limits (65,536 characters for a comment, 1 MiB for a job summary):
at most ``MAX_FINDINGS`` findings are listed, the full list is in the JSON and SARIF.
"""

from __future__ import annotations

from mlaudit.config import SEVERITY_ORDER
from mlaudit.gate import GateOutcome, gating, repo_failure_gates
from mlaudit.report.rules import rule_url
from mlaudit.results import CheckResult, ScanResult

MAX_FINDINGS = 15
MAX_TEXT = 160
ICON = {"pass": "✅", "partial": "🟡", "fail": "❌", "n/a": "⚪", "ignored": "⚪"}


def _cell(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _rule_link(check: CheckResult) -> str:
    return f"[{check.rule.code}]({rule_url(check.rule)}) {check.rule.name}"


def render(result: ScanResult, gate: GateOutcome | None = None) -> str:
    out: list[str] = []
    verdict = ""
    if gate is not None:
        verdict = " — ✅ gate passed" if gate.passed else " — ❌ gate failed"
    if result.score is not None:
        out.append(f"## mlaudit: {_score(result.score)} / 100{verdict}")
    else:
        out.append(f"## mlaudit{verdict}")
    out.append("")
    if gate is not None and not gate.passed:
        out += [f"- {_cell(reason, 300)}" for reason in gate.reasons]
        out.append("")
    scored = [s for s in result.sections if s.score is not None]
    if scored:
        out += ["| Section | Score | Checks |", "|---|---:|---:|"]
        out += [f"| {s.title} | {_score(s.score)} | {s.checks} |" for s in result.sections]
        out.append("")

    failing = [c for c in result.checks if c.verdict in ("fail", "partial")]
    if failing:
        out += ["### Failing checks", "", "| | Check | Severity | Why |", "|---|---|---|---|"]
        for check in sorted(
            failing, key=lambda c: (-SEVERITY_ORDER[c.rule.severity], c.verdict, c.rule.code)
        ):
            reason = check.reason
            if check.rule.scope == "code":
                open_count = sum(1 for f in check.findings if gating(f))
                if open_count != len(check.findings):
                    reason += f" ({open_count} gating, {len(check.findings) - open_count} not)"
            elif check.baselined or (
                check.verdict == "fail" and not repo_failure_gates(result, check)
            ):
                reason += " (does not gate: " + (
                    "baselined)" if check.baselined else "--diff-base)"
                )
            out.append(
                f"| {ICON[check.verdict]} | {_rule_link(check)} | {check.rule.severity} "
                f"| {_cell(reason)} |"
            )
        out.append("")
    else:
        out += ["No failing check.", ""]

    findings = [(c, f) for c in result.checks for f in c.findings if gating(f)]
    findings.sort(key=lambda cf: (-SEVERITY_ORDER[cf[0].rule.severity], cf[1].path, cf[1].line))
    if findings:
        title = "New findings" if result.diff_base is not None else "Top findings"
        out += [f"### {title}", "", "| Rule | Location | Message |", "|---|---|---|"]
        for check, finding in findings[:MAX_FINDINGS]:
            out.append(
                f"| [{check.rule.code}]({rule_url(check.rule)}) "
                f"| `{_cell(finding.path, 120)}:{finding.line}` | {_cell(finding.message)} |"
            )
        if len(findings) > MAX_FINDINGS:
            out.append("")
            out.append(
                f"… and {len(findings) - MAX_FINDINGS} more; "
                "the JSON and SARIF reports list them all."
            )
        out.append("")
    hidden = [f for c in result.checks for f in c.findings if not gating(f)]
    if hidden:
        kinds = []
        baselined = sum(1 for f in hidden if f.baselined)
        suppressed = sum(1 for f in hidden if f.suppressed and not f.baselined)
        outside = sum(1 for f in hidden if not f.suppressed and f.in_diff is False)
        if suppressed:
            kinds.append(f"{suppressed} suppressed")
        if baselined:
            kinds.append(f"{baselined} baselined")
        if outside:
            kinds.append(f"{outside} on lines unchanged since {result.diff_base}")
        out += [f"Not gating: {', '.join(kinds)}.", ""]
    if result.notes:
        out += ["<details><summary>Notes</summary>", ""]
        out += [f"- {_cell(note, 300)}" for note in result.notes]
        out += ["", "</details>", ""]
    out.append(f"<sub>mlaudit {result.version} · {result.files_scanned} files scanned</sub>")
    return "\n".join(out) + "\n"
