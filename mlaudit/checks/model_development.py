"""1xx: model development — experiment tracking, seeds, pinned environments."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as PackagingRequirement

from mlaudit.catalog import Rule, load_traits_vocabulary
from mlaudit.checks import check
from mlaudit.index.facts import Call, FileFacts
from mlaudit.index.requirements import is_pinned
from mlaudit.project import Project
from mlaudit.project.symbols import FuncRef, ModuleInfo, match_any
from mlaudit.results import Evidence, Finding, Outcome
from mlaudit.workspace import is_test_path

MAX_EVIDENCE = 5


# -- ML101 -------------------------------------------------------------------------------
@check("ML101")
def experiment_tracking(project: Project, rule: Rule) -> Outcome:
    """Training logs params/metrics to a tracker; imported-only or tensorboard is partial."""
    trackers = rule.vocab("tracker-modules")
    log_calls = rule.vocab("log-calls")
    partial_calls = rule.vocab("partial-calls")
    imported: list[Evidence] = []
    for info in project.modules():
        for imp in info.facts.imports:
            if imp.module.split(".")[0] in trackers and len(imported) < MAX_EVIDENCE:
                imported.append(Evidence(f"imports {imp.module}", info.path, imp.line))
                break
    # partial-calls first: logger wildcards also cover the TensorBoard loggers.
    summaries = project.calls_named(partial_calls)
    partial = [
        Evidence(f"{site.name}() writes TensorBoard summaries", site.path, site.call.line)
        for site in summaries
    ]
    written = {site.order for site in summaries}
    found: list[tuple[tuple[int, int], Evidence]] = [
        (site.order, Evidence(f"{site.name}() logs to a tracker", site.path, site.call.line))
        for site in project.calls_named(log_calls)
        if site.order not in written
    ]
    for m, info in enumerate(project.modules(tests=True)):
        if is_test_path(info.path):
            continue
        for c, call in enumerate(info.facts.calls):
            report_to = call.kwargs.get("report_to")
            if report_to is None or (m, c) in written:
                continue
            name = project.call_name(info.path, call)
            if match_any(name, log_calls):
                continue
            values = [report_to.value] if report_to.kind == "const" else (report_to.items or [])
            named = [v for v in values if isinstance(v, str) and v in trackers]
            if named:
                message = f"{name}(report_to={named[0]!r}) logs through the framework's integration"
                found.append(((m, c), Evidence(message, info.path, call.line)))
    logged = [evidence for _, evidence in sorted(found, key=lambda item: item[0])]
    if logged:
        return Outcome("pass", f"{len(logged)} tracker logging call(s)", logged[:MAX_EVIDENCE])
    if partial:
        return Outcome(
            "partial",
            "only TensorBoard summaries: no experiment tracker records params and metrics per run",
            partial[:MAX_EVIDENCE],
        )
    if imported:
        return Outcome(
            "partial", "a tracker is imported but nothing is logged to it", imported[:MAX_EVIDENCE]
        )
    anchor = project.trait_anchor("TRAINS")
    return Outcome(
        "fail",
        "models are trained but no params or metrics are logged to an experiment tracker",
        [anchor] if anchor else [],
        anchor=anchor,
    )


# -- ML102 -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Site:
    path: str
    call: Call
    name: str


class _EntryPointWalk:
    """The calls an entry point runs, in approximate execution order, through helpers (and
    through the steps of a pipeline class it starts: a Metaflow ``FlowSpec``)."""

    def __init__(self, project: Project, steps: tuple[str, ...] = ()) -> None:
        self.project = project
        self.steps = steps

    def run(self, info: ModuleInfo) -> Iterator[_Site]:
        seen: set[FuncRef] = set()
        top = [c for c in info.facts.calls if c.scope == ""]
        yield from self._expand(info.path, sorted(top, key=lambda c: (c.line, c.col)), seen, 0)

    def _expand(
        self, path: str, calls: list[Call], seen: set[FuncRef], depth: int
    ) -> Iterator[_Site]:
        symbols = self.project.symbols
        for call in calls:
            target = symbols.resolve_call(path, call)
            ref = target.func if target is not None else None
            if ref is not None and target is not None and target.kind in ("function", "class"):
                if ref not in seen and depth < 10:
                    seen.add(ref)
                    inner = sorted(symbols.calls_in(ref), key=lambda c: (c.line, c.col))
                    yield from self._expand(ref.path, inner, seen, depth + 1)
                    if target.kind == "class" and target.path is not None:
                        for step in self._steps(target.path, target.name):
                            if step not in seen:
                                seen.add(step)
                                body = sorted(symbols.calls_in(step), key=lambda c: c.line)
                                yield from self._expand(step.path, body, seen, depth + 1)
                continue
            yield _Site(path, call, self.project.call_name(path, call))

    def _steps(self, path: str, cls: str) -> list[FuncRef]:
        """Methods of a flow class decorated as steps, in file order."""
        if not self.steps:
            return []
        info = self.project.symbols.by_path[path]
        return [
            FuncRef(path, f.qualname)
            for f in info.facts.functions
            if f.class_name == cls and any(match_any(d.name, self.steps) for d in f.decorators)
        ]


def _is_entry_point(info: ModuleInfo) -> bool:
    return info.facts.has_main or any(c.scope == "" for c in info.facts.calls)


def _kw_true(call: Call, key: str) -> bool:
    value = call.kwargs.get(key)
    return value is not None and value.kind == "const" and value.value is True


def _constructor_match(name: str, patterns: tuple[str, ...]) -> bool:
    """A call named by ``patterns`` itself, not a method of the object it built.

    ``sklearn.ensemble.RandomForest*`` names the estimator constructors; it must not match
    ``sklearn.ensemble.RandomForestClassifier().fit`` (the trailing wildcard would swallow
    the ``().fit``).
    """
    pattern = match_any(name, patterns)
    if pattern is None:
        return False
    return not (pattern.endswith("*") and "(" in name[len(pattern) - 1 :])


def _seed_given(call: Call) -> bool:
    return bool(call.args) or any(k in call.kwargs for k in ("seed", "x", "key"))


@check("ML102")
def unseeded_randomness(project: Project, rule: Rule) -> Outcome:
    """Each training entry point that draws randomness must fix a seed on its path."""
    seeds_global = rule.vocab("seed-calls-global")
    seeds_other = rule.vocab("seed-calls")
    random_calls = rule.vocab("random-calls")
    random_state_calls = rule.vocab("random-state-calls")
    shuffle_only = rule.vocab("shuffle-only-calls")
    implicit = rule.vocab("implicit-training-calls")
    needs_seed_argument = {
        "numpy.random.default_rng",
        "numpy.random.RandomState",
        "numpy.random.Generator",
        "random.Random",
    }
    training_calls = load_traits_vocabulary()["TRAINS"]["training-calls"]
    walker = _EntryPointWalk(project, rule.vocab("pipeline-steps"))
    findings: dict[tuple[str, int, int], Finding] = {}
    seeded: list[Evidence] = []
    entry_points = 0
    for info in project.modules():
        if not _is_entry_point(info):
            continue
        seed_seen = False
        global_seed = False
        first_random: _Site | None = None
        training: _Site | None = None
        sklearn_unseeded: list[_Site] = []
        seeded_calls: list[_Site] = []
        trains = False
        for site in walker.run(info):
            name = site.name
            trains = trains or match_any(name, training_calls) is not None
            if match_any(name, seeds_global) or name == "random.seed":
                seed_seen = global_seed = True
                _add_seed_evidence(seeded, site)
                continue
            if match_any(name, seeds_other):
                if name in needs_seed_argument and not _seed_given(site.call):
                    if first_random is None:
                        first_random = site  # an unseeded generator draws from the OS
                    continue
                seed_seen = True
                _add_seed_evidence(seeded, site)
                continue
            if _constructor_match(name, random_state_calls):
                if "random_state" in site.call.kwargs:
                    seeded_calls.append(site)  # reproducible by its own argument
                    continue
                if match_any(name, shuffle_only) and not _kw_true(site.call, "shuffle"):
                    continue
                if not global_seed:
                    sklearn_unseeded.append(site)
                continue
            if match_any(name, random_calls):
                if name.endswith("DataLoader") and (
                    not _kw_true(site.call, "shuffle") or "generator" in site.call.kwargs
                ):
                    continue  # no shuffling, or shuffling from a seeded torch.Generator
                if first_random is None and not seed_seen:
                    first_random = site
                continue
            if training is None and match_any(name, implicit):
                training = site
        if not trains:
            continue  # not a training entry point: a data or demo script
        if first_random or sklearn_unseeded or training or seeded_calls:
            entry_points += 1
        for site in seeded_calls[:1]:
            if len(seeded) < MAX_EVIDENCE:
                seeded.append(
                    Evidence(f"{site.name}(random_state=...) is seeded", site.path, site.call.line)
                )
        for site in sklearn_unseeded:
            _add_finding(
                findings,
                rule,
                site,
                info.path,
                f"{site.name}() without random_state and no global NumPy seed before "
                f"it on the path of entry point {info.path}: results change run to run",
            )
        if seed_seen:
            continue
        first_use = first_random or training
        if first_use is not None:
            site = first_use
            what = "draws randomness" if first_random else "trains with implicit randomness"
            _add_finding(
                findings,
                rule,
                site,
                info.path,
                f"{site.name}() {what} but entry point {info.path} fixes no seed "
                "(random.seed, np.random.seed, torch.manual_seed, seed_everything, ...)",
            )
    if findings:
        ordered = sorted(findings.values(), key=lambda f: (f.path, f.line, f.col))
        return Outcome(
            "fail",
            f"{len(ordered)} unseeded random use(s) on training paths",
            seeded[:MAX_EVIDENCE],
            ordered,
        )
    if seeded:
        return Outcome(
            "pass",
            "seeds are fixed on every training path that draws randomness",
            seeded[:MAX_EVIDENCE],
        )
    if entry_points == 0:
        return Outcome("n/a", "no training entry point draws randomness")
    return Outcome("pass", "every random call passes an explicit seed or random_state")


def _add_seed_evidence(evidence: list[Evidence], site: _Site) -> None:
    if len(evidence) >= MAX_EVIDENCE:
        return
    if any(e.path == site.path and e.line == site.call.line for e in evidence):
        return
    note = " (conditional)" if site.call.conditional else ""
    evidence.append(Evidence(f"{site.name}() fixes a seed{note}", site.path, site.call.line))


def _add_finding(
    findings: dict[tuple[str, int, int], Finding], rule: Rule, site: _Site, entry: str, message: str
) -> None:
    key = (site.path, site.call.line, site.call.col)
    if key not in findings:
        findings[key] = Finding(
            rule.code,
            site.path,
            site.call.line,
            message,
            col=site.call.col,
            end_line=site.call.end_line,
            symbol=site.call.scope,
        )


# -- ML104 -------------------------------------------------------------------------------
def _directory(path: str) -> str:
    return posixpath.dirname(path)


SPEC_KINDS = ("requirements", "pyproject", "pipfile", "environment")
# Which lock files lock which spec, beside it in the same project directory.
LOCKS_FOR: dict[str, tuple[str, ...]] = {
    "pyproject": ("poetry.lock", "uv.lock", "pdm.lock"),
    "pipfile": ("pipfile.lock",),
    "environment": ("conda-lock.yml", "*.conda-lock.yml"),
}


def _spec_files(project: Project) -> list[FileFacts]:
    return [f for f in project.files_of(*SPEC_KINDS) if f.deps is not None]


def _setup_requirements(project: Project, rule: Rule) -> list[tuple[str, Call, list[str]]]:
    """``install_requires=[...]`` of setup.py calls: (path, call, requirement strings)."""
    found = []
    for info in project.modules():
        if info.path.rsplit("/", 1)[-1] != "setup.py":
            continue
        for call in info.facts.calls:
            if not match_any(project.call_name(info.path, call), rule.vocab("setup-calls")):
                continue
            value = call.kwargs.get("install_requires")
            if value is not None and value.kind == "list" and value.items:
                found.append((info.path, call, [i for i in value.items if isinstance(i, str)]))
    return found


def _lock_for(facts: FileFacts, locks: dict[str, list[str]], lock_names: set[str]) -> str | None:
    directory = _directory(facts.path)
    for candidate in locks.get(directory, []):
        name = candidate.rsplit("/", 1)[-1].lower()
        if name not in lock_names and not name.endswith(".conda-lock.yml"):
            continue
        patterns = LOCKS_FOR.get(facts.kind, ())
        if any(fnmatch.fnmatch(name, p) for p in patterns):
            return candidate
    return None


@check("ML104")
def unpinned_dependencies(project: Project, rule: Rule) -> Outcome:
    """Every unpinned line of an environment spec; pyproject ranges only without a lock."""
    lock_names = {name.lower() for name in rule.vocab("lock-files")}
    locks: dict[str, list[str]] = {}
    for path in sorted(project.files):
        name = path.rsplit("/", 1)[-1].lower()
        if name in lock_names or name.endswith(".conda-lock.yml"):
            locks.setdefault(_directory(path), []).append(path)
    specs = _spec_files(project)
    setup = _setup_requirements(project, rule)
    if not specs and not setup:
        return Outcome(
            "n/a",
            "no dependency specification (requirements, pyproject, Pipfile, environment.yml, "
            "setup.py) found",
        )
    compiled_dirs = {
        _directory(f.path)
        for f in specs
        if f.kind == "requirements" and f.deps is not None and f.deps.compiled
    }
    evidence: list[Evidence] = []
    findings: list[Finding] = []
    pinned_total = 0
    counted = 0
    pinned_env_spec: Evidence | None = None
    for facts in specs:
        assert facts.deps is not None
        deps = facts.deps
        if facts.kind == "pyproject" or not deps.requirements:
            continue
        lock = _lock_for(facts, locks, lock_names)
        if deps.compiled or lock is not None or all(r.pinned for r in deps.requirements):
            pinned_env_spec = pinned_env_spec or Evidence(
                f"{facts.path} pins every dependency" + (f" (locked by {lock})" if lock else ""),
                facts.path,
                1,
            )
    for facts in specs:
        assert facts.deps is not None
        deps = facts.deps
        directory = _directory(facts.path)
        lock = _lock_for(facts, locks, lock_names)
        if lock is not None:
            evidence.append(Evidence(f"{lock} locks {facts.path}", lock, 1))
            pinned_total += len(deps.requirements)
            counted += len(deps.requirements)
            continue
        if facts.kind == "pyproject" and pinned_env_spec is not None:
            evidence.append(
                Evidence(
                    f"{facts.path} declares ranges; {pinned_env_spec.path} "
                    "is the pinned environment",
                    facts.path,
                    1,
                )
            )
            continue
        if facts.kind == "requirements":
            if deps.compiled:
                evidence.append(
                    Evidence(
                        f"{facts.path} is compiled by pip-compile/uv (a lock file)", facts.path, 1
                    )
                )
                pinned_total += len(deps.requirements)
                counted += len(deps.requirements)
                continue
            if facts.path.endswith(".in") and directory in compiled_dirs:
                evidence.append(
                    Evidence(
                        f"{facts.path} is the input of a compiled lock beside it", facts.path, 1
                    )
                )
                continue
        for requirement in deps.requirements:
            counted += 1
            if requirement.pinned:
                pinned_total += 1
                continue
            how = f"`{requirement.spec}`" if requirement.spec else "no version"
            findings.append(
                Finding(
                    rule.code,
                    facts.path,
                    requirement.line,
                    f"{requirement.name} is not pinned ({how}); pin it with == or use a lock file",
                    symbol=requirement.name,
                )
            )
    for path, call, entries in setup:
        if pinned_env_spec is not None or _directory(path) in locks:
            evidence.append(
                Evidence(
                    f"{path} install_requires declares ranges; the environment is pinned elsewhere",
                    path,
                    call.line,
                )
            )
            continue
        for entry in entries:
            counted += 1
            try:
                parsed = PackagingRequirement(entry)
            except InvalidRequirement:
                continue
            if is_pinned(parsed):
                pinned_total += 1
                continue
            spec = str(parsed.specifier) or "no version"
            findings.append(
                Finding(
                    rule.code,
                    path,
                    call.line,
                    f"{parsed.name} in install_requires is not pinned ({spec}) and no "
                    "pinned environment spec or lock file exists",
                    col=call.col,
                    symbol=parsed.name,
                )
            )
    if not findings:
        return Outcome(
            "pass",
            f"all {counted} dependencies are pinned or locked",
            evidence[:MAX_EVIDENCE]
            or [Evidence(f"{f.path}: every line pinned", f.path, 1) for f in specs][:3],
        )
    if counted and pinned_total * 2 > counted:
        return Outcome(
            "partial",
            f"{pinned_total} of {counted} dependencies pinned; {len(findings)} unpinned",
            evidence[:MAX_EVIDENCE],
            findings,
        )
    return Outcome(
        "fail",
        f"{len(findings)} of {counted} dependencies unpinned",
        evidence[:MAX_EVIDENCE],
        findings,
    )
