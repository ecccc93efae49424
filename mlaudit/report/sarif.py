"""SARIF 2.1.0 for GitHub code scanning.

Repo-relative URIs under ``%SRCROOT%``; a rule for every check that ran; code findings as
results with stable ``partialFingerprints``; repo-level problems attached to the file where
the fix belongs; suppressed findings kept with their ``suppressions``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlaudit.catalog import SECTIONS, Rule
from mlaudit.fingerprints import LineHashes
from mlaudit.report.rules import rule_markdown_body, rule_url
from mlaudit.results import CheckResult, Evidence, Finding, ScanResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/mlaudit/mlaudit"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}


def _uri(path: str) -> str:
    return quote(path, safe="/-_.~")


def _help_markdown(rule: Rule) -> str:
    return f"**{rule.code} {rule.name}**\n\n" + rule_markdown_body(rule)


def _help_text(rule: Rule) -> str:
    parts = [rule.rationale, "", "How to fix: " + rule.remediation["text"].strip()]
    if rule.remediation.get("before"):
        parts += ["", "Example:", "", rule.remediation["before"].rstrip()]
    if rule.remediation.get("after"):
        parts += ["", "Use instead:", "", rule.remediation["after"].rstrip()]
    parts += ["", f"Documentation: {rule_url(rule)}"]
    return "\n".join(parts)


def _rule(rule: Rule) -> dict[str, Any]:
    tags = [rule.section, *rule.tags]
    if rule.security_severity:
        tags.insert(0, "security")  # GitHub lists a rule as a security alert by this tag
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
        "helpUri": rule_url(rule),
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


def _fingerprints(
    fingerprint: str, path: str, line: int, hashes: LineHashes | None
) -> dict[str, str]:
    prints = {"mlaudit/v1": fingerprint}
    line_hash = hashes.get(path, line) if hashes is not None else None
    if line_hash is not None:
        prints["primaryLocationLineHash"] = line_hash
    return prints


def _finding_result(
    check: CheckResult, index: int, finding: Finding, hashes: LineHashes | None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": check.rule.code,
        "ruleIndex": index,
        "level": LEVELS[check.rule.severity],
        "message": {"text": finding.message},
        "locations": [
            _location(finding.path, finding.line, finding.col, finding.end_line, finding.snippet)
        ],
        "partialFingerprints": _fingerprints(
            finding.fingerprint, finding.path, finding.line, hashes
        ),
    }
    properties: dict[str, Any] = {}
    if finding.symbol:
        properties["symbol"] = finding.symbol
    if finding.baselined:
        properties["baselined"] = True
    if finding.in_diff is not None:
        properties["inDiff"] = finding.in_diff
    if finding.cell is not None:
        properties["cell"] = finding.cell
        properties["cellLine"] = finding.cell_line
    if properties:
        result["properties"] = properties
    if finding.suppressed:
        result["suppressions"] = [
            {
                "kind": finding.suppression_kind or "inSource",
                "justification": finding.suppression_reason or "no reason given",
            }
        ]
    return result


def _repo_result(
    check: CheckResult, index: int, anchor: Evidence, hashes: LineHashes | None
) -> dict[str, Any]:
    rule = check.rule
    level = LEVELS[rule.severity] if check.verdict == "fail" else "note"
    text = f"{rule.code} {rule.name} ({check.verdict}): {check.reason}"
    result: dict[str, Any] = {
        "ruleId": rule.code,
        "ruleIndex": index,
        "level": level,
        "message": {"text": text},
        "locations": [_location(anchor.path or "", anchor.line or 1)],
        "partialFingerprints": _fingerprints(
            check.fingerprint, anchor.path or "", anchor.line or 1, hashes
        ),
        "properties": {"verdict": check.verdict},
    }
    if check.baselined:
        result["properties"]["baselined"] = True
        result["suppressions"] = [{"kind": "external", "justification": "baseline"}]
    return result


def to_dict(scan: ScanResult, root: Path | None = None) -> dict[str, Any]:
    """The SARIF log; with ``root``, results also carry GitHub's primaryLocationLineHash."""
    hashes = LineHashes(root) if root is not None else None
    ran = [c for c in scan.checks if c.verdict != "ignored"]
    rules = [_rule(c.rule) for c in ran]
    results: list[dict[str, Any]] = []
    for index, check in enumerate(ran):
        for finding in check.findings:
            results.append(_finding_result(check, index, finding, hashes))
        if (
            check.rule.scope == "repo"
            and check.verdict in ("fail", "partial")
            and check.anchor is not None
            and check.anchor.path
        ):
            results.append(_repo_result(check, index, check.anchor, hashes))
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
                    **_run_policy(scan),
                    "score": scan.score,
                    "sections": {s.id: s.score for s in scan.sections},
                    "sectionTitles": {
                        k: v for k, v in SECTIONS.items() if any(s.id == k for s in scan.sections)
                    },
                },
            }
        ],
    }


def _run_policy(scan: ScanResult) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if scan.baseline is not None:
        policy["baseline"] = {
            "path": scan.baseline.path,
            "matched": scan.baseline.matched,
            "stale": len(scan.baseline.stale),
        }
    if scan.diff_base is not None:
        policy["diffBase"] = scan.diff_base
    if scan.paths is not None:
        policy["paths"] = list(scan.paths)
    return policy


def render(scan: ScanResult, root: Path | None = None) -> str:
    return json.dumps(to_dict(scan, root), indent=2, ensure_ascii=False) + "\n"
