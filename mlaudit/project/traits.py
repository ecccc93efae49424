"""Traits of a repository (TRAINS, SERVES, ...), each decided with evidence.

Checks apply only where their traits hold, so a trait must say what it saw: a trait that
is wrongly absent silently turns real problems into n/a.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlaudit.catalog import load_traits_vocabulary
from mlaudit.project.symbols import CallFilter, match_any
from mlaudit.results import Evidence, Trait
from mlaudit.workspace import is_test_path

if TYPE_CHECKING:
    from mlaudit.project import Project

MAX_EVIDENCE = 3
CI_KINDS = ("github-workflow", "gitlab-ci", "azure-pipelines", "circleci", "bitbucket")


def _trains(project: Project, vocab: dict[str, tuple[str, ...]]) -> Trait:
    evidence: list[Evidence] = []
    patterns = vocab["training-calls"]
    not_training = vocab.get("not-training", ())
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
            if match_any(name.lower(), not_training) or match_any(name, not_training):
                continue  # a scaler or encoder fitted, not a model trained
            evidence.append(Evidence(f"{name}() trains a model", info.path, call.line))
            break
        if len(evidence) >= MAX_EVIDENCE:
            break
    return Trait("TRAINS", bool(evidence), evidence)


def _serves(project: Project) -> Trait:
    """A route whose handler runs a model, else a route named for prediction in a
    repository with ML code: n/a must never hide a serving app."""
    from mlaudit.project.inference import handlers, inference, prediction_handlers

    every = handlers(project)
    evidence: list[Evidence] = []
    named: list[Evidence] = []
    for handler in prediction_handlers(project):
        found = handler.model_call
        assert found is not None
        for route in handler.routes:
            if found.reached is not None:
                where = f"{found.reached.path}:{found.reached.call.line}"
                message = f"{route.method} {route.path} -> {found.name}() at {where}"
                evidence.append(Evidence(message, route.file, route.line))
            elif found.how == "framework handler":
                message = f"{route.method} {route.path} is a {found.name}"
                evidence.append(Evidence(message, route.file, route.line))
            else:
                message = (
                    f"{route.method} {route.path}: {found.name}; no model call was recognised "
                    "on its path"
                )
                named.append(Evidence(message, route.file, route.line))
    # Prediction routes first: they are what a reviewer looks for.
    words = inference(project).words
    evidence.sort(key=lambda e: (not _names_prediction(e, words), e.path or "", e.line or 0))
    named.sort(key=lambda e: (e.path or "", e.line or 0))
    shown = (evidence + named)[:MAX_EVIDENCE]
    if shown:
        return Trait("SERVES", True, shown)
    unused = [
        Evidence(f"{h.label} calls no model", h.route.file, h.route.line)
        for h in every[:MAX_EVIDENCE]
    ]
    return Trait("SERVES", False, unused)


def _names_prediction(evidence: Evidence, words: tuple[str, ...]) -> bool:
    route = evidence.message.split(" -> ", 1)[0].lower()
    return any(word in route for word in words)


def _by_kind(project: Project, name: str, kinds: tuple[str, ...], what: str) -> Trait:
    files = project.files_of(*kinds)
    if name == "CONTAINER":
        # A Dockerfile-named file with no FROM (a template fragment) builds no image.
        files = [
            f
            for f in files
            if f.docker is None or any(i.cmd == "FROM" for i in f.docker.instructions)
        ]
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
    actions = vocab.get("deploy-actions", ())
    for facts in project.files_of(*CI_KINDS):
        workflow = facts.workflow
        for step in workflow.steps if workflow is not None else []:
            if step.uses and match_any(step.uses, actions):
                evidence.append(
                    Evidence(f"CI step deploys with {step.uses}", facts.path, step.line)
                )
                break
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
    """Datasets read outside tests; a request body read in a handler (an uploaded CSV) is
    not ingestion."""
    from mlaudit.project.inference import handlers

    serving = {(ref.path, ref.qualname) for h in handlers(project) for ref in h.scopes}
    evidence: list[Evidence] = []
    readers = vocab["readers"]
    cheap = CallFilter(readers)
    for info in project.modules():
        open_module = cheap.module_open(info.facts.imports)
        for call in info.facts.calls:
            if not cheap.may_match(call, open_module):
                continue
            if (info.path, call.scope) in serving:
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
        _serves(project),
        _by_kind(project, "CONTAINER", vocab["CONTAINER"]["kinds"], "container image"),
        _by_kind(project, "CI", vocab["CI"]["kinds"], "CI configuration"),
        _deploys(project, vocab["DEPLOYS"]),
        _ingests(project, vocab["INGESTS"]),
    ]
    return {t.name: t for t in traits}
