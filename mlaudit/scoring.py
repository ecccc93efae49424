"""Verdicts to scores.

A check's value is pass 1, partial 0.5, fail 0; n/a and ignored checks, and checks of
weight 0, are left out. A section's score is the weighted mean of its checks' values,
times 100; the overall score is the weighted mean over every scored check (not the mean of
the sections), so a section with more weight at stake moves the total more.
"""

from __future__ import annotations

from mlaudit.catalog import SECTIONS
from mlaudit.results import CheckResult, SectionScore

VALUES = {"pass": 1.0, "partial": 0.5, "fail": 0.0}


def _weighted(results: list[CheckResult]) -> float | None:
    scored = [r for r in results if r.verdict in VALUES and r.rule.weight > 0]
    total = sum(r.rule.weight for r in scored)
    if total == 0:
        return None
    return round(100 * sum(r.rule.weight * VALUES[r.verdict] for r in scored) / total, 1)


def score(results: list[CheckResult]) -> tuple[list[SectionScore], float | None]:
    sections = []
    for section_id, title in SECTIONS.items():
        members = [r for r in results if r.rule.section == section_id]
        if not members:
            continue
        sections.append(SectionScore(section_id, title, _weighted(members), len(members)))
    return sections, _weighted(results)
