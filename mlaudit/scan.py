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
from mlaudit.index.facts import FileFacts
from mlaudit.policy import apply_suppressions, ignore_reason, select_rules
from mlaudit.project import Project
from mlaudit.project.demand import demanded_modules
from mlaudit.results import CheckResult, Outcome, ScanResult, Trait
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
    project = Project(workspace, files, every_rule)
    for _ in range(MAX_ROUNDS):
        wanted = demanded_modules(project, builder.light_paths())
        if not wanted:
            break
        files = builder.deepen(wanted)
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
    _notebook_locations(results, list(project.traits.values()), files)
    fingerprint_findings(results, SourceLines(workspace.root))
    sections, overall = score(results)
    notes = list(workspace.notes)
    if cache is not None and cache.note:
        notes.append(cache.note)
    history = project.__dict__.get("history")  # only when a check read it
    if history is not None and history.note:
        notes.append(f"git history: {history.note}")
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


def _notebook_locations(
    results: list[CheckResult], traits: list[Trait], files: dict[str, FileFacts]
) -> None:
    """Lines in notebooks are lines of their joined code cells until here: point findings
    and evidence at the .ipynb text, and give findings the cell and the line in it."""
    from mlaudit.index.notebook import locate

    def mapped(path: str | None, line: int | None) -> tuple[int, int, int, int] | None:
        facts = files.get(path) if path else None
        if facts is None or facts.notebook is None or line is None:
            return None
        return locate(facts.notebook, line)

    evidence = [e for t in traits for e in t.evidence]
    for result in results:
        evidence.extend(result.evidence)
        if result.anchor is not None:
            evidence.append(result.anchor)
        for finding in result.findings:
            where = mapped(finding.path, finding.line)
            if where is None:
                continue
            cell, within, line, col = where
            end = mapped(finding.path, finding.end_line or finding.line)
            finding.cell, finding.cell_line = cell, within
            finding.line, finding.col = line, col + finding.col - 1
            finding.end_line = end[2] if end is not None and end[0] == cell else line
    done: set[int] = set()
    for item in evidence:
        if id(item) in done:
            continue
        done.add(id(item))
        where = mapped(item.path, item.line)
        if where is not None:
            item.line = where[2]


def _anchor(outcome: Outcome):  # type: ignore[no-untyped-def]
    if outcome.anchor is not None:
        return outcome.anchor
    located = [e for e in outcome.evidence if e.path]
    return located[0] if located else None
