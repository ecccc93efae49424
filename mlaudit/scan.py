"""The pipeline, in the order data flows: config, workspace, index, project, checks,
policy, scoring. Reports render the ScanResult this returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from mlaudit import __version__
from mlaudit.baseline import apply_baseline, apply_diff, load_baseline
from mlaudit.catalog import load_catalog
from mlaudit.checks import load_checks, not_applicable
from mlaudit.checks.tool import PARSE_ERROR_RULE
from mlaudit.collector import fewer_collections
from mlaudit.config import Config
from mlaudit.fingerprints import SourceLines, fingerprint_findings
from mlaudit.index.build import PROCESS_DIED, IndexBuilder, default_jobs, open_cache
from mlaudit.index.cache import SignedStore
from mlaudit.index.extract import OVER_BUDGET
from mlaudit.index.facts import FileFacts
from mlaudit.index.history import git_state
from mlaudit.policy import apply_suppressions, ignore_reason, select_rules
from mlaudit.project import Project
from mlaudit.project.demand import Demand
from mlaudit.results import CheckResult, Outcome, ScanResult, Trait
from mlaudit.reuse import ResultStore, results_key, reusable
from mlaudit.scoring import score
from mlaudit.workspace import SourceFile, Workspace, classify, discover

HISTORY_FILE = "history.msgpack"
# Rounds of "parse the light modules that entry points and handlers reach".
MAX_ROUNDS = 8


@dataclass
class ScanOptions:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    jobs: int | None = None
    use_cache: bool = True
    cache_dir: str | None = None
    # Policy (see mlaudit/baseline.py): accepted findings, diff gating, and --no-ignores,
    # which applies no suppression, per-file-ignore, waiver or baseline (for auditors).
    baseline: Path | None = None
    diff_base: str | None = None
    no_ignores: bool = False
    # A file-restricted scan (pre-commit): repo-relative paths whose code-level findings are
    # reported; the whole repository is still indexed so calls across modules resolve.
    paths: list[str] | None = None
    force_exclude: bool = False


def run_scan(root: Path, config: Config, options: ScanOptions) -> ScanResult:
    """Audit the repository at ``root``."""
    with fewer_collections():
        return _scan(root, config, options)


def _scan(root: Path, config: Config, options: ScanOptions) -> ScanResult:
    catalog = load_catalog()
    rules = select_rules(catalog, config, options.select, options.ignore)
    workspace = discover(root, config.exclude)
    if options.paths is not None and not options.force_exclude:
        _add_explicit_files(workspace, options.paths)
    cache = open_cache(workspace.root, options.cache_dir or config.cache_dir, options.use_cache)
    jobs = options.jobs or config.jobs or default_jobs()
    builder = IndexBuilder(workspace, jobs, cache)
    store = ResultStore(cache.directory) if cache is not None else None
    reuse_key = ""
    if store is not None:
        reuse_key = results_key(
            workspace.root,
            builder.read_sources(),
            git_state(workspace.root),
            config,
            (options.select, options.ignore, options.no_ignores, options.paths),
            workspace.notes,
            workspace.is_git,
        )
        reused = store.get(reuse_key, rules)
        if reused is not None:
            return _apply_policy(reused, workspace.root, options)
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
    if cache is not None:
        project.history_store = SignedStore(cache.directory, HISTORY_FILE)
    builder.save_cache()
    registry = load_checks()
    results: list[CheckResult] = []
    present = project.present_traits
    for code, rule in rules.items():
        if options.paths is not None and rule.scope != "code":
            continue  # a file-restricted scan reports code-level checks only: skip the rest
        reason = None if options.no_ignores else ignore_reason(rule, config)
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
        if not options.no_ignores:
            apply_suppressions(result, files, config)
        results.append(result)
    _notebook_locations(results, list(project.traits.values()), files)
    fingerprint_findings(results, SourceLines(workspace.root))
    if options.paths is not None:
        results = restrict_to_paths(results, options.paths)
    sections, overall = score(results)
    if options.paths is not None:
        # A score over some files' code checks would not compare with a repository's.
        sections = [dataclasses.replace(s, score=None) for s in sections]
        overall = None
    notes = list(workspace.notes)
    if cache is not None and cache.note:
        notes.append(cache.note)
    history = project.__dict__.get("history")  # only when a check read it
    if history is not None and history.note:
        notes.append(f"git history: {history.note}")
    if not workspace.is_git:
        notes.append("not a git work tree: walked the directory with default excludes")
    if options.no_ignores:
        notes.append(
            "--no-ignores: suppression comments, per-file-ignores, ignore-reasons and the "
            "baseline were not applied"
        )
    if options.paths is not None:
        notes.append(
            f"file-restricted scan of {len(options.paths)} path(s): code-level checks only, "
            "no score (run a whole-repository scan for the score)"
        )
    scan = ScanResult(
        version=__version__,
        traits=list(project.traits.values()),
        checks=results,
        sections=sections,
        score=overall,
        routes=project.routes,
        files_scanned=len(files),
        notes=notes,
        paths=options.paths,
    )
    if store is not None and reusable(files, (OVER_BUDGET, PROCESS_DIED)):
        store.put(reuse_key, scan, (cache.note,) if cache is not None and cache.note else ())
    return _apply_policy(scan, workspace.root, options)


def _apply_policy(scan: ScanResult, root: Path, options: ScanOptions) -> ScanResult:
    """The policies applied on every scan, reused results included: baseline and diff."""
    if options.baseline is not None and not options.no_ignores:
        shown = _shown_path(options.baseline, root)
        apply_baseline(scan, load_baseline(options.baseline), shown)
    if options.diff_base is not None:
        apply_diff(scan, root, options.diff_base)
    return scan


def _shown_path(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _covered(path: str, prefixes: list[str]) -> bool:
    return any(
        p in ("", ".") or path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes
    )


def _add_explicit_files(workspace: Workspace, paths: list[str]) -> None:
    """Files named on the command line are audited even when excluded (as in ruff; pass
    --force-exclude, as the pre-commit hook does, to honour the excludes anyway)."""
    known = {f.path for f in workspace.files}
    for rel in paths:
        full = workspace.root / rel
        if rel not in known and full.is_file() and not full.is_symlink():
            workspace.files.append(SourceFile(rel, classify(rel)))
    workspace.files.sort(key=lambda f: f.path)


def restrict_to_paths(results: list[CheckResult], paths: list[str]) -> list[CheckResult]:
    """The code-level checks (the only ones a file-restricted scan runs), with only the
    findings under ``paths``."""
    kept: list[CheckResult] = []
    for result in results:
        if result.verdict in ("n/a", "ignored"):
            kept.append(result)
            continue
        result.findings = [f for f in result.findings if _covered(f.path, paths)]
        result.evidence = [e for e in result.evidence if e.path and _covered(e.path, paths)]
        if result.open_findings:
            result.verdict = "fail"
            result.reason = f"{len(result.open_findings)} finding(s) in the checked files"
        else:
            result.verdict = "pass"
            result.reason = "no open finding in the checked files"
        kept.append(result)
    return kept


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
        if result.rule.code == PARSE_ERROR_RULE:
            continue  # read errors are located in the .ipynb text already (extract.py)
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
