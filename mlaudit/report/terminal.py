"""The terminal report: traits, one line per check by section with the evidence that
decided it, findings with file:line and an excerpt, section scores and the total."""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mlaudit.catalog import SECTIONS
from mlaudit.gate import GateOutcome
from mlaudit.results import CheckResult, Evidence, ScanResult

STYLE = {"pass": "green", "partial": "yellow", "fail": "bold red", "n/a": "dim", "ignored": "dim"}
LABEL = {"pass": "PASS", "partial": "PARTIAL", "fail": "FAIL", "n/a": "N/A", "ignored": "IGNORED"}
MAX_FINDINGS_SHOWN = 10


def _where(item: Evidence) -> str:
    if item.path and item.line:
        return f"{item.path}:{item.line}"
    return item.path or ""


def _score_text(score: float | None) -> Text:
    if score is None:
        return Text("n/a", style="dim")
    style = "green" if score >= 80 else "yellow" if score >= 50 else "bold red"
    return Text(f"{score:g}", style=style)


def _check_lines(console: Console, check: CheckResult) -> None:
    rule = check.rule
    head = Text()
    head.append(f"  {LABEL[check.verdict]:<8}", style=STYLE[check.verdict])
    head.append(f"{rule.code} ", style="bold")
    head.append(f"{rule.name}  ")
    head.append(check.reason, style="dim" if check.verdict in ("n/a", "pass") else "")
    if check.baselined:
        head.append(" (baselined)", style="dim")
    console.print(head)
    for item in check.evidence[:3]:
        where = _where(item)
        console.print(
            f"           [cyan]{escape(where)}[/cyan] {escape(item.message)}"
            if where
            else f"           {escape(item.message)}"
        )
    for shown, finding in enumerate(check.findings):
        if shown >= MAX_FINDINGS_SHOWN:
            console.print(
                f"           … {len(check.findings) - shown} more finding(s) (use -f json for all)"
            )
            break
        if finding.baselined:
            mark = " [dim](baselined)[/dim]"
        elif finding.suppressed:
            mark = " [dim](suppressed: " + escape(finding.suppression_reason or "") + ")[/dim]"
        elif finding.in_diff is False:
            mark = " [dim](unchanged since the diff base)[/dim]"
        else:
            mark = ""
        cell = (
            f" [dim](cell {finding.cell}, line {finding.cell_line})[/dim]"
            if finding.cell is not None
            else ""
        )
        console.print(
            f"           [bold cyan]{escape(finding.path)}:{finding.line}:"
            f"{finding.col}[/bold cyan]{cell} {escape(finding.message)}{mark}"
        )
        if finding.snippet:
            console.print(f"             [dim]{finding.line:>4} │[/dim] {escape(finding.snippet)}")


def render(result: ScanResult, stream: IO[str], color: bool, gate: GateOutcome | None) -> None:
    console = Console(
        file=stream,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        soft_wrap=True,
        width=120 if not color else None,
    )
    console.print(
        f"[bold]mlaudit {escape(result.version)}[/bold] — {result.files_scanned} files scanned"
    )
    console.print()
    console.print("[bold]Traits[/bold]")
    for trait in result.traits:
        mark = "[green]✓[/green]" if trait.present else "[dim]·[/dim]"
        detail = ""
        if trait.evidence:
            first = trait.evidence[0]
            detail = (
                f"  [dim]{escape(first.message)}"
                + (
                    f" ({escape(_where(first))})"
                    if first.path and first.path not in first.message
                    else ""
                )
                + "[/dim]"
            )
        console.print(f"  {mark} {trait.name:<10}{detail}")
    for section_id, title in SECTIONS.items():
        checks = [c for c in result.checks if c.rule.section == section_id]
        if not checks:
            continue
        section = next((s for s in result.sections if s.id == section_id), None)
        console.print()
        header = Text(f"{title}", style="bold underline")
        header.append("  ")
        header.append_text(_score_text(section.score if section else None))
        console.print(header)
        for check in checks:
            _check_lines(console, check)
    if result.notes:
        console.print()
        for note in result.notes:
            console.print(f"[dim]note: {escape(note)}[/dim]")
    console.print()
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("Section")
    table.add_column("Score", justify="right")
    for section in result.sections:
        table.add_row(section.title, _score_text(section.score))
    console.print(table)
    total = Text("Overall score: ", style="bold")
    total.append_text(_score_text(result.score))
    total.append(" / 100")
    console.print(total)
    if gate is not None and not gate.passed:
        for reason in gate.reasons:
            console.print(f"[bold red]gate failed:[/bold red] {escape(reason)}")
