"""2xx: training/serving skew (ML202) — serving code that re-implements the feature
transformations training uses instead of sharing them."""

from __future__ import annotations

import fnmatch

from mlaudit.catalog import Rule, load_traits_vocabulary
from mlaudit.checks import check
from mlaudit.index.facts import Function
from mlaudit.project import Project
from mlaudit.project.symbols import FuncRef, match_any
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5


def _training_modules(project: Project) -> set[str]:
    """Modules that train (a training call in a file importing an ML library)."""
    vocab = load_traits_vocabulary()["TRAINS"]
    found: set[str] = set()
    for info in project.modules():
        imports_ml = project.imports_module(info, vocab["ml-modules"])
        for call in info.facts.calls:
            pattern = match_any(project.call_name(info.path, call), vocab["training-calls"])
            if pattern is not None and (imports_ml or not pattern.startswith("*.")):
                found.add(info.path)
                break
    return found


def _imported_modules(project: Project, paths: set[str]) -> set[str]:
    """Project modules that ``paths`` import (one level), for shared feature code."""
    found: set[str] = set()
    for path in paths:
        info = project.symbols.by_path.get(path)
        if info is None:
            continue
        for imp in info.facts.imports:
            target = f"{imp.module}.{imp.name}" if imp.name else imp.module
            module = project.symbols.defining_module(target, path)
            if module is None:
                module = project.symbols.find_module(imp.module, path)
            if module is not None and module != path:
                found.add(module)
    return found


def _is_training_routine(project: Project, ref: FuncRef) -> bool:
    training = load_traits_vocabulary()["TRAINS"]["training-calls"]
    return any(
        match_any(project.call_name(ref.path, c), training) for c in project.symbols.calls_in(ref)
    )


def _feature_named(name: str, patterns: tuple[str, ...]) -> bool:
    short = name.rsplit(".", 1)[-1].lower()
    return any(fnmatch.fnmatch(short, p) for p in patterns)


@check("ML202")
def training_serving_skew(project: Project, rule: Rule) -> Outcome:
    """Serving functions whose body has the shape of a training-side transformation, or
    serving feature code beside a training feature module serving never imports."""
    name_patterns = rule.vocab("feature-function-names")
    route_files = {r.handler_path for r in project.routes}
    training_paths = _training_modules(project) - route_files
    training_side = training_paths | (_imported_modules(project, training_paths) - route_files)
    # Training-side transformations: functions with a recorded shape that do not train.
    training_features: dict[str, list[tuple[FuncRef, Function]]] = {}
    feature_modules: set[str] = set()
    for path in sorted(training_side):
        info = project.symbols.by_path[path]
        for function in info.facts.functions:
            ref = FuncRef(path, function.qualname)
            if function.shape is None or _is_training_routine(project, ref):
                continue
            training_features.setdefault(function.shape, []).append((ref, function))
            if _feature_named(function.qualname, name_patterns) or _feature_named(
                info.facts.module, name_patterns
            ):
                feature_modules.add(path)
    # Serving side: every project function a request handler reaches.
    serving: dict[FuncRef, str] = {}
    for http in project.routes:
        start = FuncRef(http.handler_path, http.handler_qualname)
        serving.setdefault(start, f"{http.method} {http.path}")
        for reached in project.walk_calls(start):
            refs: list[FuncRef | None] = [*reached.chain]
            if reached.target is not None:
                refs.append(reached.target.func)
            for item in refs:
                if item is not None:
                    serving.setdefault(item, f"{http.method} {http.path}")
    evidence: list[Evidence] = []
    findings: list[Finding] = []
    shared_features = False
    for ref, route in sorted(serving.items(), key=lambda item: (item[0].path, item[0].qualname)):
        served = project.function(ref)
        if served is None or served.shape is None:
            continue
        function = served
        twins = training_features.get(served.shape, [])
        if any(twin == ref for twin, _ in twins):
            shared_features = True
            evidence.append(
                Evidence(
                    f"{route} calls {ref.qualname}() from {ref.path}, the function training uses",
                    ref.path,
                    function.line,
                )
            )
            continue
        copies = [(t, f) for t, f in twins if t.path != ref.path or t.qualname != ref.qualname]
        if copies:
            twin, twin_function = copies[0]
            findings.append(
                Finding(
                    rule.code,
                    ref.path,
                    function.line,
                    f"{ref.qualname}() (reached from {route}) re-implements "
                    f"{twin.qualname}() of {twin.path} "
                    f"({project.where(twin.path, twin_function.line)}), which training "
                    "uses: the same transformation in two places drifts apart; import the "
                    "training function or persist it with the model",
                    end_line=function.end_line,
                    symbol=ref.qualname,
                )
            )
    evidence.extend(_other_pass_evidence(project, rule, serving, training_side))
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} serving function(s) duplicate training transformations",
            evidence[:MAX_EVIDENCE],
            findings,
        )
    if evidence:
        return Outcome(
            "pass",
            "serving shares its feature code with training"
            if shared_features
            else "serving gets its features the way training made them",
            evidence[:MAX_EVIDENCE],
        )
    # Feature code on the serving side while training has a feature module serving never
    # imports.
    serving_modules = {ref.path for ref in serving}
    imported_by_serving = _imported_modules(project, serving_modules)
    unshared = sorted(m for m in feature_modules if m not in imported_by_serving | serving_modules)
    if unshared:
        for ref, route in sorted(serving.items(), key=lambda i: (i[0].path, i[0].qualname)):
            served = project.function(ref)
            if served is None or ref.path in training_side:
                continue
            function = served
            if _feature_named(ref.qualname, name_patterns) and function.shape is not None:
                findings.append(
                    Finding(
                        rule.code,
                        ref.path,
                        function.line,
                        f"{ref.qualname}() (reached from {route}) computes features on the "
                        f"serving side while training uses {unshared[0]}, which serving never "
                        "imports",
                        end_line=function.end_line,
                        symbol=ref.qualname,
                    )
                )
        if findings:
            return Outcome(
                "fail",
                f"serving has its own feature code and never imports {unshared[0]}",
                [Evidence(f"training feature module {unshared[0]}", unshared[0], 1)],
                findings,
            )
    if not training_features and not serving:
        return Outcome("n/a", "no feature transformations on the training or serving side")
    # A pass needs training feature code that serving could have copied: functions named like
    # features or living in a feature module.  Anything else (save(), main(), split_data())
    # makes the pass vacuous, so the honest verdict is n/a.
    named = [
        (ref, function)
        for items in training_features.values()
        for ref, function in items
        if ref.path in feature_modules or _feature_named(ref.qualname, name_patterns)
    ]
    if not named:
        return Outcome("n/a", "training has no feature-transformation functions to compare")
    named.sort(key=lambda item: (item[0].path, item[1].line))
    return Outcome(
        "pass",
        "no serving function duplicates a training transformation",
        [
            Evidence(f"training transformation {ref.qualname}()", ref.path, function.line)
            for ref, function in named[:MAX_EVIDENCE]
        ],
    )


def _other_pass_evidence(
    project: Project, rule: Rule, serving: dict[FuncRef, str], training_side: set[str]
) -> list[Evidence]:
    """A feature store on the serving side, or a persisted pipeline the server loads."""
    evidence: list[Evidence] = []
    stores = rule.vocab("feature-store-modules")
    serving_modules = sorted({ref.path for ref in serving})
    for path in serving_modules:
        info = project.symbols.by_path[path]
        for imp in info.facts.imports:
            if imp.module.split(".")[0] in stores:
                evidence.append(
                    Evidence(f"serving reads features from {imp.module}", path, imp.line)
                )
                break
    pipelines = rule.vocab("pipeline-calls")
    built = None
    for path in sorted(training_side):
        info = project.symbols.by_path[path]
        for call in info.facts.calls:
            name = project.call_name(path, call)
            if match_any(name, pipelines):
                built = Evidence(
                    f"training builds {name}(): the preprocessing is persisted with the model",
                    path,
                    call.line,
                )
                break
        if built is not None:
            break
    loaders = project.rule("ML307").vocab("loaders") if "ML307" in project.rules else ()
    if built is not None:
        for ref in sorted(serving, key=lambda r: (r.path, r.qualname)):
            for call in project.symbols.calls_in(ref):
                name = project.call_name(ref.path, call)
                if match_any(name, loaders):
                    evidence.extend(
                        [built, Evidence(f"serving loads it with {name}()", ref.path, call.line)]
                    )
                    return evidence
        for path in serving_modules:
            info = project.symbols.by_path[path]
            for call in info.facts.calls:
                name = project.call_name(path, call)
                if call.scope == "" and match_any(name, loaders):
                    evidence.extend(
                        [built, Evidence(f"serving loads it with {name}()", path, call.line)]
                    )
                    return evidence
    return evidence
