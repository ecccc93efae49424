"""`mlaudit rule`: a rule's documentation from the catalog, or the list of all rules."""

from __future__ import annotations

import io
import json
from typing import Any

from mlaudit.catalog import SECTIONS, Rule, load_catalog

# Stable URL of a rule's generated documentation (docs/rules/<CODE>.md in the repository):
# SARIF helpUri, links in the Markdown report and in GitHub annotations.
RULE_DOCS_URL = "https://github.com/mlaudit/mlaudit/blob/main/docs/rules/{code}.md"


def rule_url(rule: Rule) -> str:
    return RULE_DOCS_URL.format(code=rule.code)


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
    if output_format == "markdown":
        return rule_markdown(rule)
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


def _fence(text: str, language: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def rule_markdown_body(rule: Rule) -> str:
    """The sections of a rule's documentation, in ruff's order: what it does, why it
    matters, an example and what to use instead. Also SARIF's help.markdown."""
    remediation = rule.remediation
    language = remediation.get("language", "python")
    parts = [
        "## What it does",
        "",
        rule.summary,
        "",
        "## Why is this bad?",
        "",
        rule.rationale.rstrip(),
        "",
        "## How to fix it",
        "",
        remediation["text"].rstrip(),
    ]
    if remediation.get("before"):
        parts += ["", "## Example", "", _fence(remediation["before"], language)]
    if remediation.get("after"):
        parts += ["", "## Use instead", "", _fence(remediation["after"], language)]
    if rule.vocabulary:
        parts += ["", "## What it recognises", ""]
        parts += [
            f"- `{key}`: " + ", ".join(f"`{name}`" for name in names)
            for key, names in rule.vocabulary.items()
        ]
        parts += [
            "",
            f"Extend a list in `[tool.mlaudit.vocabulary.{rule.code}]` of your configuration.",
        ]
    if rule.related:
        parts += ["", "## Related rules of other tools", ""]
        parts += [f"- {item}" for item in rule.related]
    if rule.references:
        parts += ["", "## References", ""]
        parts += [
            f"- [{ref['title']}]({ref['url']})" if ref.get("url") else f"- {ref['title']}"
            for ref in rule.references
        ]
    return "\n".join(parts) + "\n"


def rule_markdown(rule: Rule) -> str:
    """The generated page docs/rules/<CODE>.md."""
    head = [
        f"# {rule.code} {rule.name}",
        "",
        "<!-- Generated from rules/" + rule.code + ".yaml by "
        "`mlaudit rule --all --format markdown --write-docs docs/rules`; do not edit. -->",
        "",
        "| section | severity | weight | scope | applies when | precision |",
        "|---|---|---|---|---|---|",
        f"| {SECTIONS[rule.section]} | {rule.severity} | {rule.weight} | {rule.scope} "
        f"| {rule.applies_when} | {rule.precision} |",
        "",
    ]
    if rule.security_severity:
        head[-1:] = ["", f"Security severity: {rule.security_severity} (CVSS-like, 0-10)", ""]
    return "\n".join(head) + "\n" + rule_markdown_body(rule)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_index_markdown(rules: list[Rule]) -> str:
    lines = [
        "# mlaudit rules",
        "",
        "<!-- Generated from rules/ by "
        "`mlaudit rule --all --format markdown --write-docs docs/rules`; do not edit. -->",
        "",
        "| code | name | section | severity | summary |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| [{r.code}]({r.code}.md) | {r.name} | {SECTIONS[r.section]} | {r.severity} "
        f"| {_cell(r.summary)} |"
        for r in rules
    ]
    return "\n".join(lines) + "\n"


def rule_docs() -> dict[str, str]:
    """Every generated documentation file, by file name."""
    rules = list(load_catalog().values())
    docs = {f"{r.code}.md": rule_markdown(r) for r in rules}
    docs["README.md"] = rules_index_markdown(rules)
    return docs


def render_rule_list(output_format: str) -> str:
    rules = list(load_catalog().values())
    if output_format == "json":
        return json.dumps([_rule_dict(r) for r in rules], indent=2) + "\n"
    if output_format == "markdown":
        return "\n".join(rule_markdown(r) for r in rules)
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
