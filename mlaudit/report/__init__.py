"""Reports: one ScanResult rendered as terminal text, concise lines, JSON, SARIF, Markdown or
GitHub workflow commands. Every format shows the same facts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlaudit.gate import GateOutcome
    from mlaudit.results import ScanResult

FORMATS = ("terminal", "concise", "json", "sarif", "markdown", "github")


def render(
    output_format: str,
    result: ScanResult,
    gate: GateOutcome | None,
    root: Path | None = None,
    color: bool = False,
) -> str:
    """The report as text (``root`` lets SARIF add GitHub's line hashes)."""
    if output_format == "terminal":
        from mlaudit.report.terminal import render as render_terminal

        buffer = io.StringIO()
        render_terminal(result, buffer, color=color, gate=gate)
        return buffer.getvalue()
    if output_format == "json":
        from mlaudit.report import json_report

        return json_report.render(result)
    if output_format == "sarif":
        from mlaudit.report import sarif

        return sarif.render(result, root)
    if output_format == "markdown":
        from mlaudit.report import markdown

        return markdown.render(result, gate)
    if output_format == "github":
        from mlaudit.report import github

        return github.render(result, gate)
    if output_format == "concise":
        from mlaudit.report import concise

        return concise.render(result, gate)
    raise ValueError(f"unknown report format {output_format!r}")
