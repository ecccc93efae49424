"""The JSON report (``schema_version`` 1), described by mlaudit/schemas/report.schema.json."""

from __future__ import annotations

import json
from typing import Any

from mlaudit.results import CheckResult, Evidence, Finding, ScanResult

SCHEMA_VERSION = 1


def _evidence(item: Evidence) -> dict[str, Any]:
    return {"path": item.path, "line": item.line, "message": item.message}


def _finding(item: Finding) -> dict[str, Any]:
    result = {
        "path": item.path,
        "line": item.line,
        "column": item.col,
        "end_line": item.end_line if item.end_line is not None else item.line,
        "message": item.message,
        "symbol": item.symbol,
        "snippet": item.snippet,
        "fingerprint": item.fingerprint,
        "suppressed": item.suppressed,
        "suppression_kind": item.suppression_kind,
        "suppression_reason": item.suppression_reason,
        "baselined": item.baselined,
        "in_diff": item.in_diff,
    }
    if item.cell is not None:
        result["cell"] = item.cell
        result["cell_line"] = item.cell_line
    return result


def _check(result: CheckResult) -> dict[str, Any]:
    rule = result.rule
    return {
        "code": rule.code,
        "name": rule.name,
        "section": rule.section,
        "severity": rule.severity,
        "scope": rule.scope,
        "weight": rule.weight,
        "verdict": result.verdict,
        "reason": result.reason,
        "evidence": [_evidence(e) for e in result.evidence],
        "location": _evidence(result.anchor) if result.anchor else None,
        "findings": [_finding(f) for f in result.findings],
        "fingerprint": result.fingerprint or None,
        "baselined": result.baselined,
    }


def to_dict(result: ScanResult) -> dict[str, Any]:
    verdicts: dict[str, int] = {}
    for check in result.checks:
        verdicts[check.verdict] = verdicts.get(check.verdict, 0) + 1
    findings = [f for c in result.checks for f in c.findings]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlaudit", "version": result.version},
        "score": result.score,
        "sections": [
            {"id": s.id, "title": s.title, "score": s.score, "checks": s.checks}
            for s in result.sections
        ],
        "traits": [
            {"name": t.name, "present": t.present, "evidence": [_evidence(e) for e in t.evidence]}
            for t in result.traits
        ],
        "checks": [_check(c) for c in result.checks],
        "routes": [
            {
                "method": r.method,
                "path": r.path,
                "handler": r.handler,
                "file": r.file,
                "line": r.line,
                "framework": r.framework,
            }
            for r in result.routes
        ],
        "summary": {
            "files": result.files_scanned,
            "findings": len(findings),
            "open_findings": sum(1 for f in findings if not f.suppressed),
            "suppressed": sum(1 for f in findings if f.suppressed),
            "verdicts": dict(sorted(verdicts.items())),
        },
        "notes": list(result.notes),
        "policy": {
            "baseline": (
                {
                    "path": result.baseline.path,
                    "matched": result.baseline.matched,
                    "stale": result.baseline.stale,
                }
                if result.baseline is not None
                else None
            ),
            "diff_base": result.diff_base,
            "paths": result.paths,
        },
    }


def render(result: ScanResult) -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n"
