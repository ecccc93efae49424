"""5xx: deployment strategy."""

from __future__ import annotations

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.project import Project
from mlaudit.project.deploy import documents, leaf
from mlaudit.project.serving_scope import (
    carried_text,
    prediction_routes,
    reached_from,
    serving_modules,
    value_text,
    words_in,
)
from mlaudit.project.symbols import CallFilter, FuncRef, match_any
from mlaudit.results import Evidence, Outcome


def _truthy(value: str | None) -> bool:
    return (value or "").strip().strip("\"'").lower() in ("true", "yes", "on", "1")


def _manifest_strategies(project: Project) -> list[Evidence]:
    found: list[Evidence] = []
    for facts, doc in documents(project):
        kind = doc.kind or ""
        api = doc.api_version or ""
        weights: list[int] = []
        for key in doc.keys:
            name = leaf(key.path)
            path = key.path
            if name == "canaryTrafficPercent":
                found.append(
                    Evidence(f"KServe canaryTrafficPercent: {key.value}", facts.path, key.line)
                )
            elif kind == "Rollout" and path in ("spec.strategy.canary", "spec.strategy.blueGreen"):
                strategy = path.rsplit(".", 1)[-1]
                found.append(Evidence(f"Argo Rollout {strategy} strategy", facts.path, key.line))
            elif kind == "Canary" and "flagger" in api and path == "spec.analysis":
                found.append(Evidence("Flagger canary analysis", facts.path, key.line))
            elif name == "weight" and ("route[]" in path or "backendRefs[]" in path):
                weights.append(key.line)
            elif name == "mirror" and "http[]" in path:
                found.append(Evidence("Istio traffic mirroring (shadow)", facts.path, key.line))
            elif name == "traffic" and "predictors[]" in path:
                weights.append(key.line)
            elif name == "shadow" and "predictors[]" in path and _truthy(key.value):
                found.append(Evidence("Seldon shadow predictor", facts.path, key.line))
            elif path == "rollout_strategy" and (key.value or "").upper() == "ROLLOUT":
                found.append(
                    Evidence("Anyscale service gradual rollout (ROLLOUT)", facts.path, key.line)
                )
            elif path.endswith("nginx.ingress.kubernetes.io/canary") and _truthy(key.value):
                found.append(Evidence("NGINX ingress canary", facts.path, key.line))
            elif (
                name == "Type"
                and "DeploymentPreference" in path
                and any(w in (key.value or "") for w in ("Canary", "Linear"))
            ):
                found.append(Evidence(f"SAM gradual deployment {key.value}", facts.path, key.line))
        if len(weights) >= 2:
            what = "Seldon traffic split" if kind == "SeldonDeployment" else "weighted routes"
            found.append(Evidence(f"{what} ({kind or 'manifest'})", facts.path, weights[0]))
    return found


def _code_strategies(project: Project, rule: Rule) -> list[Evidence]:
    found: list[Evidence] = []
    calls = rule.vocab("traffic-calls")
    cheap = CallFilter(calls)
    for info in project.modules():
        open_module = cheap.module_open(info.facts.imports)
        for call in info.facts.calls:
            if not cheap.may_match(call, open_module):
                continue
            name = project.call_name(info.path, call)
            if not match_any(name, calls):
                continue
            variants = call.kwargs.get("ProductionVariants")
            if "ShadowProductionVariants" in call.kwargs:
                found.append(Evidence(f"{name}() with shadow variants", info.path, call.line))
            elif variants is not None and variants.kind == "list" and len(variants.items or []) > 1:
                found.append(
                    Evidence(
                        f"{name}() with {len(variants.items or [])} production variants",
                        info.path,
                        call.line,
                    )
                )
            elif name.endswith(("update_endpoint_weights_and_capacities", "ShadowTest")):
                found.append(
                    Evidence(f"{name}() shifts traffic between variants", info.path, call.line)
                )
    return found


@check("ML501")
def no_progressive_delivery(project: Project, rule: Rule) -> Outcome:
    """Shadow, canary or A/B: Argo Rollouts, Flagger, weights, KServe canary, variants."""
    found = _manifest_strategies(project) + _code_strategies(project, rule)
    if found:
        return Outcome("pass", "deployments roll out progressively", found[:5])
    deploys = project.traits.get("DEPLOYS")
    located = [e for e in deploys.evidence if e.path] if deploys is not None else []
    anchor = located[0] if located else None
    return Outcome(
        "fail",
        "deployments replace the model all at once: no canary, shadow or weighted traffic "
        "(Argo Rollouts, Flagger, Istio/Gateway weights, KServe canaryTrafficPercent, Seldon "
        "traffic, SageMaker variants)",
        located[:3],
        anchor=anchor,
    )


# -- ML502 model-version-not-exposed ----------------------------------------------------------
@check("ML502")
def model_version_not_exposed(project: Project, rule: Rule) -> Outcome:
    """The model version in a response, log line, metric label or header."""
    routes = prediction_routes(project)
    if not routes:
        return Outcome("n/a", "no route handler runs model inference")
    words = rule.vocab("version-words")
    found: list[Evidence] = []
    for route in routes:
        start = project.function(FuncRef(route.handler_path, route.handler_qualname))
        refs = [r for r in (start.model_refs if start else []) if "version" in r.lower()]
        if refs:
            found.append(
                Evidence(f"{route.method} {route.path} reads `{refs[0]}`", route.file, route.line)
            )
        for reached in reached_from(project, route):
            text = (
                carried_text(reached.call)
                + " "
                + " ".join(value_text(a).lower() for a in reached.call.args if a.kind == "const")
            )
            word = words_in(text.replace("-", "_"), words)
            if word is not None:
                found.append(
                    Evidence(
                        f"{route.method} {route.path} passes the model version "
                        f"({word}) to {reached.call.name}()",
                        reached.path,
                        reached.call.line,
                    )
                )
                break
            callee = reached.target.func if reached.target is not None else None
            function = project.function(callee) if callee is not None else None
            if callee is not None and function is not None:
                version_refs = [r for r in function.model_refs if "version" in r.lower()]
                if version_refs:
                    found.append(
                        Evidence(
                            f"{route.method} {route.path} → {callee.qualname}() reads "
                            f"`{version_refs[0]}`",
                            callee.path,
                            function.line,
                        )
                    )
                    break
    for path in sorted(serving_modules(project)):
        info = project.symbols.by_path[path]
        for assign in info.facts.assigns:
            if not assign.scope or assign.scope not in info.classes:
                if assign.call is not None and not assign.scope:
                    call = info.facts.calls[assign.call]
                    text = " ".join(value_text(a) for a in call.args).lower().replace("-", "_")
                    if match_any(
                        project.call_name(path, call), rule.vocab("metric-constructors")
                    ) and words_in(text, words):
                        found.append(
                            Evidence(
                                f"metric `{assign.targets[0]}` is labelled with the model version",
                                path,
                                assign.line,
                            )
                        )
                continue
            target = assign.targets[0].lower() if assign.targets else ""
            if words_in(target, words):
                found.append(
                    Evidence(
                        f"response schema {assign.scope} has a `{assign.targets[0]}` field",
                        path,
                        assign.line,
                    )
                )
    unique = list({(e.path, e.line): e for e in found}.values())
    if unique:
        return Outcome("pass", "the model version is exposed", unique[:5])
    anchor = Evidence(
        f"{routes[0].method} {routes[0].path} returns predictions here",
        routes[0].file,
        routes[0].line,
    )
    return Outcome(
        "fail",
        "the model version appears in no response, log line, metric label or header",
        [anchor],
        anchor=anchor,
    )
