"""The pipeline, in the order data flows: config, workspace, index, project, checks,
policy, scoring. Reports render the ScanResult this returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlaudit import __version__
from mlaudit.catalog import load_catalog
from mlaudit.checks import load_checks, not_applicable
from mlaudit.config import Config
from mlaudit.fingerprints import SourceLines, fingerprint_findings
from mlaudit.index.build import IndexBuilder, default_jobs, open_cache
from mlaudit.policy import apply_suppressions, ignore_reason, select_rules
from mlaudit.project import Project
from mlaudit.project.demand import Demand
from mlaudit.results import CheckResult, Outcome, ScanResult
from mlaudit.scoring import score
from mlaudit.workspace import discover

# Rounds of "parse the light modules that entry points and handlers reach".
MAX_ROUNDS = 8


@dataclass
class ScanOptions:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    jobs: int | None = None
    use_cache: bool = True
    cache_dir: str | None = None


def run_scan(root: Path, config: Config, options: ScanOptions) -> ScanResult:
    """Audit the repository at ``root``."""
    catalog = load_catalog()
    rules = select_rules(catalog, config, options.select, options.ignore)
    workspace = discover(root, config.exclude)
    cache = open_cache(workspace.root, options.cache_dir or config.cache_dir, options.use_cache)
    jobs = options.jobs or config.jobs or default_jobs()
    builder = IndexBuilder(workspace, jobs, cache)
    files = builder.first_round()
    # The project model uses every catalog vocabulary (SERVES reads ML307's loaders), even
    # for rules not selected, and user vocabulary extensions.
    every_rule = {**catalog, **rules}
    key = builder.python_key()
    known = builder.cached_demand(key)
    if known is not None:
        files = builder.deepen(known)
    else:
        demand = Demand(Project(workspace, files, every_rule))
        deepened: set[str] = set()
        for _ in range(MAX_ROUNDS):
            wanted = demand.run(builder.light_paths())
            if not wanted:
                break
            files = builder.deepen(wanted)
            demand.parsed(files, wanted)
            deepened |= wanted
        builder.remember_demand(key, deepened)
    project = Project(workspace, files, every_rule)
    builder.save_cache()
    registry = load_checks()
    results: list[CheckResult] = []
    present = project.present_traits
    for code, rule in rules.items():
        reason = ignore_reason(rule, config)
        if reason is not None:
            results.append(CheckResult(rule, "ignored", reason))
            continue
        if not rule.applies(present):
            outcome = not_applicable(rule, project)
        else:
            outcome = registry[code](project, rule)
        result = CheckResult(
            rule,
            outcome.verdict,
            outcome.reason,
            outcome.evidence,
            outcome.findings,
            _anchor(outcome),
        )
        apply_suppressions(result, files, config)
        results.append(result)
    fingerprint_findings(results, SourceLines(workspace.root))
    sections, overall = score(results)
    notes = list(workspace.notes)
    if cache is not None and cache.note:
        notes.append(cache.note)
    if not workspace.is_git:
        notes.append("not a git work tree: walked the directory with default excludes")
    return ScanResult(
        version=__version__,
        traits=list(project.traits.values()),
        checks=results,
        sections=sections,
        score=overall,
        routes=project.routes,
        files_scanned=len(files),
        notes=notes,
    )


def _anchor(outcome: Outcome):  # type: ignore[no-untyped-def]
    if outcome.anchor is not None:
        return outcome.anchor
    located = [e for e in outcome.evidence if e.path]
    return located[0] if located else None
