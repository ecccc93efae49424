"""Traits of a repository (TRAINS, SERVES, ...), each decided with evidence.

Checks apply only where their traits hold, so a trait must say what it saw: a trait that
is wrongly absent silently turns real problems into n/a.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlaudit.catalog import load_traits_vocabulary
from mlaudit.index.facts import Call
from mlaudit.project.symbols import CallFilter, FuncRef, last_attr, match_any
from mlaudit.results import Evidence, Trait
from mlaudit.workspace import is_test_path

if TYPE_CHECKING:
    from mlaudit.project import Project, Reached

MAX_EVIDENCE = 3


def _trains(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    evidence: list[Evidence] = []
    patterns = vocab["training-calls"]
    ml_modules = vocab["ml-modules"]
    cheap = CallFilter(patterns)
    for info in project.modules():
        imports_ml = project.imports_module(info, ml_modules)
        open_module = cheap.module_open(info.facts.imports)
        for call in info.facts.calls:
            if not cheap.may_match(call, open_module):
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
    inference_calls = vocab.get("inference-calls", ())
    loaders = project.rule("ML307").vocab("loaders") if "ML307" in project.rules else ()
    evidence: list[Evidence] = []
    unused: list[Evidence] = []
    for route in project.routes:
        start = FuncRef(route.handler_path, route.handler_qualname)
        hit = None
        for reached in project.walk_calls(start):
            if reached.target is not None and reached.target.kind in ("function", "class"):
                continue  # the repository's own code: walked into, not a model call itself
            name = runner_call(project.call_name(reached.path, reached.call))
            if (
                last_attr(name) in inference
                or match_any(name, loaders)
                or match_any(project.call_name(reached.path, reached.call), inference_calls)
                or loaded_object(project, reached, loaders)
            ):
                hit = (reached, name)
                break
            passed = offloaded_inference(reached.call, inference)
            if passed is not None:  # run_in_threadpool(model.predict, rows)
                hit = (reached, passed)
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


def loaded_object(project: Project, reached: Reached, loaders: tuple[str, ...]) -> bool:
    """``TAGGER(x)`` where ``TAGGER = torch.jit.load(...)``: calling a loaded model."""
    call = reached.call
    if "." in call.name or call.imported or (reached.target and reached.target.kind != "external"):
        return False
    info = project.symbols.by_path[reached.path]
    assign = info.variable(call.scope, call.name)
    return (
        assign is not None
        and assign.value.kind == "call"
        and match_any(str(assign.value.value), loaders) is not None
    )


def offloaded_inference(call: Call, inference: set[str]) -> str | None:
    """An inference method passed by reference: ``run_in_threadpool(model.predict, x)``."""
    for arg in call.args:
        if arg.kind == "name" and last_attr(str(arg.value)) in inference:
            return str(arg.value)
    return None


def runner_call(name: str) -> str:
    """``runner.predict.run`` (BentoML runners), ``handle.predict.remote`` (Ray Serve):
    the inference method the call dispatches to."""
    for suffix in (".run", ".async_run", ".remote"):
        if name.endswith(suffix) and name.count(".") >= 2:
            return name[: -len(suffix)]
    return name


def _by_kind(project: Project, name: str, kinds: tuple[str, ...], what: str) -> Trait:
    files = project.files_of(*kinds)
    evidence = [Evidence(f"{what}: {f.path}", f.path, 1) for f in files[:MAX_EVIDENCE]]
    return Trait(name, bool(files), evidence)


def _deploys(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    from mlaudit.project.ci import ci_commands

    evidence: list[Evidence] = []
    names = set(vocab["deploy-files"])
    kinds = set(vocab["manifest-kinds"])
    for path, facts in sorted(project.files.items()):
        if is_test_path(path):
            continue
        if path.rsplit("/", 1)[-1] in names:
            evidence.append(Evidence(f"deployment configuration: {path}", path, 1))
            continue
        if facts.yaml is None:
            continue
        for doc in facts.yaml.documents:
            if doc.kind in kinds and doc.api_version:
                what = f"{doc.kind} {doc.name}" if doc.name else str(doc.kind)
                evidence.append(Evidence(f"Kubernetes manifest: {what}", path, doc.line))
                break
            deploy = next(
                (k for k in doc.keys if facts.kind == "compose" and k.path.endswith(".deploy")),
                None,
            )
            if deploy is not None and deploy.path.count(".") == 2:  # services.<name>.deploy
                evidence.append(Evidence("compose `deploy:` section (a stack)", path, deploy.line))
                break
            sam = next(
                (k for k in doc.keys if k.value and k.value.startswith("AWS::Serverless")), None
            )
            if sam is not None:
                evidence.append(Evidence(f"SAM template: {sam.value}", path, sam.line))
                break
    commands = vocab["deploy-commands"]
    for command in ci_commands(project):
        text = " ".join(command.text.split())
        found = next((c for c in commands if c in text), None)
        if found is not None:
            evidence.append(
                Evidence(
                    f"CI step deploys: `{text[:100]}`{command.where}", command.path, command.line
                )
            )
    calls = vocab["deploy-calls"]
    cheap = CallFilter(calls)
    for info in project.modules():
        open_module = cheap.module_open(info.facts.imports)
        for call in info.facts.calls:
            if not cheap.may_match(call, open_module):
                continue
            name = project.call_name(info.path, call)
            if match_any(name, calls):
                evidence.append(
                    Evidence(f"{name}() deploys a model endpoint", info.path, call.line)
                )
                break
    return Trait("DEPLOYS", bool(evidence), evidence[:MAX_EVIDENCE])


def _ingests(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    evidence: list[Evidence] = []
    readers = vocab["readers"]
    cheap = CallFilter(readers)
    for info in project.modules():
        open_module = cheap.module_open(info.facts.imports)
        for call in info.facts.calls:
            if not cheap.may_match(call, open_module):
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
