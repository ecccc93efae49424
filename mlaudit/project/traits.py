"""Traits of a repository (TRAINS, SERVES, ...), each decided with evidence.

Checks apply only where their traits hold, so a trait must say what it saw: a trait that
is wrongly absent silently turns real problems into n/a.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlaudit.catalog import load_traits_vocabulary
from mlaudit.project.symbols import FuncRef, could_match, last_attr, match_any
from mlaudit.results import Evidence, Trait
from mlaudit.workspace import is_test_path

if TYPE_CHECKING:
    from mlaudit.project import Project

MAX_EVIDENCE = 3


def _trains(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    evidence: list[Evidence] = []
    patterns = vocab["training-calls"]
    ml_modules = vocab["ml-modules"]
    for info in project.modules():
        imports_ml = project.imports_module(info, ml_modules)
        for call in info.facts.calls:
            if not could_match(call.name, patterns):
                continue
            name = project.call_name(info.path, call)
            pattern = match_any(name, patterns)
            if pattern is None:
                continue
            if pattern.startswith("*.") and not imports_ml:
                continue  # `.fit` in a file with no ML library is not evidence
            evidence.append(Evidence(f"{name}() trains a model", info.path, call.line))
            break
        if len(evidence) >= MAX_EVIDENCE:
            break
    return Trait("TRAINS", bool(evidence), evidence)


def _serves(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    inference = set(vocab["inference-methods"])
    loaders = project.rule("ML307").vocab("loaders") if "ML307" in project.rules else ()
    evidence: list[Evidence] = []
    unused: list[Evidence] = []
    for route in project.routes:
        start = FuncRef(route.handler_path, route.handler_qualname)
        hit = None
        for reached in project.walk_calls(start):
            name = project.call_name(reached.path, reached.call)
            if last_attr(name) in inference or match_any(name, loaders):
                hit = (reached, name)
                break
        if hit is not None:
            reached, name = hit
            evidence.append(
                Evidence(
                    f"{route.method} {route.path} -> {name}() at "
                    f"{reached.path}:{reached.call.line}",
                    route.file,
                    route.line,
                )
            )
        elif len(unused) < MAX_EVIDENCE:
            unused.append(
                Evidence(f"{route.method} {route.path} calls no model", route.file, route.line)
            )
        if len(evidence) >= MAX_EVIDENCE:
            break
    if evidence:
        return Trait("SERVES", True, evidence)
    return Trait("SERVES", False, unused)


def _by_kind(project: Project, name: str, kinds: tuple[str, ...], what: str) -> Trait:
    files = project.files_of(*kinds)
    evidence = [Evidence(f"{what}: {f.path}", f.path, 1) for f in files[:MAX_EVIDENCE]]
    return Trait(name, bool(files), evidence)


def _deploys(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    evidence: list[Evidence] = []
    names = set(vocab["deploy-files"])
    for path in sorted(project.files):
        if path.rsplit("/", 1)[-1] in names and not is_test_path(path):
            evidence.append(Evidence(f"deployment configuration: {path}", path, 1))
    commands = vocab["deploy-commands"]
    for facts in project.files_of("github-workflow"):
        if facts.workflow is None:  # unreadable (binary, over budget): ML901
            continue
        for step in facts.workflow.steps:
            if not step.run:
                continue
            for offset, line in enumerate(step.run.splitlines()):
                command = next((c for c in commands if c in " ".join(line.split())), None)
                if command is not None:
                    evidence.append(
                        Evidence(
                            f"CI step deploys: `{line.strip()}`",
                            facts.path,
                            (step.run_line or step.line) + offset,
                        )
                    )
                    break
    return Trait("DEPLOYS", bool(evidence), evidence[:MAX_EVIDENCE])


def _ingests(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    evidence: list[Evidence] = []
    readers = vocab["readers"]
    for info in project.modules():
        for call in info.facts.calls:
            if not could_match(call.name, readers):
                continue
            name = project.call_name(info.path, call)
            if match_any(name, readers):
                evidence.append(Evidence(f"{name}() reads data", info.path, call.line))
                break
        if len(evidence) >= MAX_EVIDENCE:
            break
    return Trait("INGESTS", bool(evidence), evidence)


def detect_traits(project: Project) -> dict[str, Trait]:
    vocab = load_traits_vocabulary()
    traits = [
        _trains(project, vocab["TRAINS"]),
        _serves(project, vocab["SERVES"]),
        _by_kind(project, "CONTAINER", vocab["CONTAINER"]["kinds"], "container image"),
        _by_kind(project, "CI", vocab["CI"]["kinds"], "CI configuration"),
        _deploys(project, vocab["DEPLOYS"]),
        _ingests(project, vocab["INGESTS"]),
    ]
    return {t.name: t for t in traits}
