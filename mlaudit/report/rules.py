"""`mlaudit rule`: a rule's documentation from the catalog, or the list of all rules."""

from __future__ import annotations

import io
import json
from typing import Any

from mlaudit.catalog import SECTIONS, Rule, load_catalog


def _rule_dict(rule: Rule) -> dict[str, Any]:
    return {
        "code": rule.code,
        "name": rule.name,
        "section": rule.section,
        "severity": rule.severity,
        "weight": rule.weight,
        "scope": rule.scope,
        "applies_when": rule.applies_when,
        "summary": rule.summary,
        "rationale": rule.rationale,
        "remediation": rule.remediation,
        "references": rule.references,
        "related": rule.related,
        "vocabulary": rule.vocabulary,
    }


def render_rule(rule: Rule, output_format: str) -> str:
    if output_format == "json":
        return json.dumps(_rule_dict(rule), indent=2) + "\n"
    out = io.StringIO()
    write = out.write
    write(f"{rule.code} {rule.name}\n\n")
    write(f"{rule.summary}\n\n")
    write(
        f"Section: {SECTIONS[rule.section]} · severity {rule.severity} · weight "
        f"{rule.weight} · scope {rule.scope} · applies when {rule.applies_when}\n\n"
    )
    write("## Why it matters\n\n")
    write(rule.rationale.rstrip() + "\n\n")
    write("## How to fix\n\n")
    write(rule.remediation["text"].rstrip() + "\n")
    for label in ("before", "after"):
        if rule.remediation.get(label):
            write(f"\n{label.capitalize()}:\n\n")
            for line in rule.remediation[label].rstrip().splitlines():
                write(f"    {line}\n")
    if rule.related:
        write("\n## Related rules of other tools\n\n")
        write("".join(f"- {item}\n" for item in rule.related))
    if rule.references:
        write("\n## References\n\n")
        for ref in rule.references:
            write(f"- {ref['title']}" + (f" <{ref['url']}>" if ref.get("url") else "") + "\n")
    return out.getvalue()


def render_rule_list(output_format: str) -> str:
    rules = list(load_catalog().values())
    if output_format == "json":
        return json.dumps([_rule_dict(r) for r in rules], indent=2) + "\n"
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None)
    for column in ("Code", "Name", "Section", "Severity", "Scope", "Summary"):
        table.add_column(column, overflow="fold")
    for rule in rules:
        table.add_row(
            rule.code, rule.name, SECTIONS[rule.section], rule.severity, rule.scope, rule.summary
        )
    out = io.StringIO()
    Console(file=out, width=160, no_color=True, highlight=False).print(table)
    return out.getvalue()
