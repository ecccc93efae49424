"""SARIF 2.1.0 for GitHub code scanning.

Repo-relative URIs under ``%SRCROOT%``; a rule for every check that ran; code findings as
results with stable ``partialFingerprints``; repo-level problems attached to the file where
the fix belongs; suppressed findings kept with their ``suppressions``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from mlaudit.catalog import SECTIONS, Rule
from mlaudit.results import CheckResult, Evidence, Finding, ScanResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/mlaudit/mlaudit"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}


def _uri(path: str) -> str:
    return quote(path, safe="/-_.~")


def _help_markdown(rule: Rule) -> str:
    remediation = rule.remediation
    language = remediation.get("language", "python")
    parts = [
        f"**{rule.code} {rule.name}** — {rule.summary}",
        "",
        rule.rationale,
        "",
        "### How to fix",
        "",
        remediation["text"].strip(),
    ]
    if remediation.get("before"):
        parts += ["", "Before:", "", f"```{language}", remediation["before"].rstrip(), "```"]
    if remediation.get("after"):
        parts += ["", "After:", "", f"```{language}", remediation["after"].rstrip(), "```"]
    references = [r for r in rule.references if r.get("url")]
    if references:
        parts += ["", "### References", ""]
        parts += [f"- [{r['title']}]({r['url']})" for r in references]
    return "\n".join(parts)


def _help_text(rule: Rule) -> str:
    return f"{rule.rationale}\n\nHow to fix: {rule.remediation['text'].strip()}"


def _rule(rule: Rule) -> dict[str, Any]:
    tags = [rule.section, *rule.tags]
    if rule.security_severity:
        tags.append("security")
    properties: dict[str, Any] = {
        "tags": list(dict.fromkeys(tags))[:10],
        "precision": rule.precision,
        "problem.severity": PROBLEM_SEVERITY[rule.severity],
        "scope": rule.scope,
        "weight": rule.weight,
    }
    if rule.security_severity:
        properties["security-severity"] = rule.security_severity
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": _help_text(rule), "markdown": _help_markdown(rule)},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": properties,
    }


def _location(
    path: str, line: int, col: int = 1, end_line: int | None = None, snippet: str = ""
) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": line, "startColumn": col}
    if end_line is not None and end_line >= line:
        region["endLine"] = end_line
    if snippet:
        region["snippet"] = {"text": snippet}
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(path), "uriBaseId": "%SRCROOT%"},
            "region": region,
        }
    }


def _finding_result(check: CheckResult, index: int, finding: Finding) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": check.rule.code,
        "ruleIndex": index,
        "level": LEVELS[check.rule.severity],
        "message": {"text": finding.message},
        "locations": [
            _location(finding.path, finding.line, finding.col, finding.end_line, finding.snippet)
        ],
        "partialFingerprints": {"mlaudit/v1": finding.fingerprint},
    }
    if finding.cell is not None:
        result["properties"] = {"cell": finding.cell, "cellLine": finding.cell_line}
    if finding.suppressed:
        result["suppressions"] = [
            {
                "kind": finding.suppression_kind or "inSource",
                "justification": finding.suppression_reason or "no reason given",
            }
        ]
    return result


def _repo_result(check: CheckResult, index: int, anchor: Evidence) -> dict[str, Any]:
    rule = check.rule
    level = LEVELS[rule.severity] if check.verdict == "fail" else "note"
    text = f"{rule.code} {rule.name} ({check.verdict}): {check.reason}"
    basis = f"{rule.code}\0{anchor.path}\0repo"
    return {
        "ruleId": rule.code,
        "ruleIndex": index,
        "level": level,
        "message": {"text": text},
        "locations": [_location(anchor.path or "", anchor.line or 1)],
        "partialFingerprints": {
            "mlaudit/v1": hashlib.sha256(basis.encode()).hexdigest()[:32] + ":0"
        },
        "properties": {"verdict": check.verdict},
    }


def to_dict(scan: ScanResult) -> dict[str, Any]:
    ran = [c for c in scan.checks if c.verdict != "ignored"]
    rules = [_rule(c.rule) for c in ran]
    results: list[dict[str, Any]] = []
    for index, check in enumerate(ran):
        for finding in check.findings:
            results.append(_finding_result(check, index, finding))
        if (
            check.rule.scope == "repo"
            and check.verdict in ("fail", "partial")
            and check.anchor is not None
            and check.anchor.path
        ):
            results.append(_repo_result(check, index, check.anchor))
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlaudit",
                        "version": scan.version,
                        "semanticVersion": scan.version,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": "mlaudit/"},
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": {
                    "score": scan.score,
                    "sections": {s.id: s.score for s in scan.sections},
                    "sectionTitles": {
                        k: v for k, v in SECTIONS.items() if any(s.id == k for s in scan.sections)
                    },
                },
            }
        ],
    }


def render(scan: ScanResult) -> str:
    return json.dumps(to_dict(scan), indent=2, ensure_ascii=False) + "\n"
