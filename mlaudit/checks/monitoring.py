"""4xx: monitoring and logging of the prediction service."""

from __future__ import annotations

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.project import Project
from mlaudit.project.deploy import documents, leaf
from mlaudit.project.inference import lambda_adapter
from mlaudit.project.serving_scope import (
    carried_text,
    middleware_calls,
    prediction_routes,
    reached_from,
    route_modules,
    serving_modules,
    value_text,
    words_in,
)
from mlaudit.project.symbols import CallFilter, FuncRef, match_any
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5


def _deploy_anchor(project: Project) -> Evidence | None:
    deploys = project.traits.get("DEPLOYS")
    located = [e for e in deploys.evidence if e.path] if deploys is not None else []
    return project.app_anchor() or (located[0] if located else None)


def _framework(project: Project, frameworks: tuple[str, ...]) -> Evidence | None:
    for info in project.modules():
        for imp in info.facts.imports:
            full = f"{imp.module}.{imp.name}" if imp.name and imp.name != "*" else imp.module
            if (
                imp.module.split(".")[0] in frameworks
                or match_any(imp.module, frameworks)
                or match_any(full, frameworks)
            ):
                return Evidence(f"imports {full}", info.path, imp.line)
    return None


# Platforms that record invocation latency and errors of every handler themselves.
PLATFORM_METRICS = {
    "lambda": "AWS Lambda publishes Duration, Errors and Invocations to CloudWatch",
    "sagemaker": "SageMaker endpoints publish ModelLatency, Invocations and errors to CloudWatch",
    "azureml": "Azure ML online endpoints publish request latency and errors to Azure Monitor",
}


# -- ML401 no-request-metrics -----------------------------------------------------------------
@check("ML401")
def no_request_metrics(project: Project, rule: Rule) -> Outcome:
    """Latency and error-rate metrics: an instrumentation library, or histograms and counters."""
    served = prediction_routes(project)
    adapter = lambda_adapter(project) if served else None  # Mangum(app): Lambda runs it all
    if adapter is not None:
        return Outcome(
            "pass",
            f"the platform records request metrics: {PLATFORM_METRICS['lambda']}",
            [adapter],
        )
    on_platform = [r for r in served if r.framework in PLATFORM_METRICS]
    if on_platform and len(on_platform) == len(served):
        platform = on_platform[0]
        return Outcome(
            "pass",
            f"the platform records request metrics: {PLATFORM_METRICS[platform.framework]}",
            [
                Evidence(
                    f"{platform.method} {platform.path} runs on {platform.framework}",
                    platform.file,
                    platform.line,
                )
            ],
        )
    framework = _framework(project, rule.vocab("framework-metrics"))
    if framework is not None:
        return Outcome(
            "pass",
            "the serving framework exports request latency and error metrics itself",
            [Evidence(f"{framework.message}: built-in /metrics", framework.path, framework.line)],
        )
    scope = serving_modules(project)
    instrument: list[Evidence] = []
    latency: list[Evidence] = []
    counters: list[Evidence] = []
    imported: list[Evidence] = []
    modules = rule.vocab("metric-modules")
    instruments = rule.vocab("instrumentation-calls")
    latencies, counting = rule.vocab("latency-calls"), rule.vocab("counter-calls")
    for path in sorted(scope):
        info = project.symbols.by_path[path]
        candidates = {
            id(c) for c in project.calls_in_module(path, instruments, latencies, counting)
        }
        for call in info.facts.calls:
            if id(call) not in candidates and not call.args:
                continue
            kinds = [project.call_matches(call, v) for v in (instruments, latencies, counting)]
            passed = next(
                (
                    str(a.value)
                    for a in call.args
                    if a.kind == "name" and match_any(str(a.value), instruments)
                ),
                None,
            )
            if passed is None and not any(kinds):
                continue
            name = project.call_name(path, call)
            if kinds[0]:
                instrument.append(Evidence(f"{name}() instruments the app", path, call.line))
            elif passed is not None:  # app.add_middleware(PrometheusMiddleware)
                instrument.append(
                    Evidence(f"{name}({passed}) instruments the app", path, call.line)
                )
            elif kinds[1]:
                latency.append(Evidence(f"{name}() records latency", path, call.line))
            elif kinds[2]:
                counters.append(Evidence(f"{name}() counts requests or errors", path, call.line))
        for imp in info.facts.imports:
            if imp.module.split(".")[0] in modules:
                imported.append(Evidence(f"imports {imp.module}", path, imp.line))
                break
    if instrument:
        return Outcome(
            "pass", "request metrics come from an instrumentation library", instrument[:5]
        )
    if latency and counters:
        return Outcome(
            "pass", "the service records request latency and counts", (latency + counters)[:5]
        )
    anchor = project.app_anchor()
    if latency or counters or imported:
        missing = "an error/request counter" if latency else "a latency histogram"
        if not latency and not counters:
            missing = "any metric (the library is imported, nothing is recorded)"
        return Outcome(
            "partial",
            f"some metrics, but no {missing}" if (latency or counters) else f"no {missing}",
            (latency + counters + imported)[:5],
            anchor=anchor,
        )
    return Outcome(
        "fail",
        f"none of the {len(scope)} serving module(s) records request latency or errors "
        "(prometheus_client, an instrumentator, OpenTelemetry, statsd, Datadog)",
        [anchor] if anchor else [],
        anchor=anchor,
    )


# -- ML403 no-drift-monitoring ----------------------------------------------------------------
@check("ML403")
def no_drift_monitoring(project: Project, rule: Rule) -> Outcome:
    """Input drift monitoring: a drift library, or statistical tests computed on features."""
    drift_modules = rule.vocab("drift-modules")
    calls = rule.vocab("drift-calls")
    cheap = CallFilter(calls)
    found: list[Evidence] = []
    for info in project.modules():
        for imp in info.facts.imports:
            if imp.module.split(".")[0] in drift_modules:
                found.append(Evidence(f"drift monitoring with {imp.module}", info.path, imp.line))
                break
        open_module = cheap.module_open(info.facts.imports)
        for call in info.facts.calls:
            if not cheap.may_match(call, open_module):
                continue
            name = project.call_name(info.path, call)
            if match_any(name, calls):
                found.append(Evidence(f"{name}() compares distributions", info.path, call.line))
                break
    if found:
        return Outcome("pass", "input drift is monitored", found[:MAX_EVIDENCE])
    anchor = _deploy_anchor(project)
    return Outcome(
        "fail",
        "no drift monitoring (evidently, nannyml, alibi-detect, whylogs, deepchecks, or KS/PSI "
        "statistics on features)",
        [anchor] if anchor else [],
        anchor=anchor,
    )


# -- ML404 no-prediction-monitoring -----------------------------------------------------------
def _prediction_metrics(project: Project, rule: Rule) -> dict[str, Evidence]:
    """Metrics whose name or labels mention predictions: variable name -> definition."""
    words = rule.vocab("prediction-words")
    constructors = rule.vocab("metric-constructors")
    found: dict[str, Evidence] = {}
    for path in sorted(serving_modules(project)):
        info = project.symbols.by_path[path]
        for assign in info.facts.assigns:
            if assign.call is None or assign.scope:
                continue
            call = info.facts.calls[assign.call]
            name = project.call_name(path, call)
            if not match_any(name, constructors):
                continue
            text = " ".join(
                [value_text(a) for a in call.args] + [value_text(v) for v in call.kwargs.values()]
            ).lower()
            word = words_in(text, words)
            if word is not None:
                for target in assign.targets:
                    found[target] = Evidence(
                        f"metric `{target}` ({name}) tracks predictions", path, assign.line
                    )
    return found


@check("ML404")
def no_prediction_monitoring(project: Project, rule: Rule) -> Outcome:
    """The distribution of predictions is tracked: a metric or log of predicted values."""
    routes = prediction_routes(project)
    if not routes:
        return Outcome("n/a", "no route handler runs model inference")
    library = _framework(project, rule.vocab("monitoring-modules"))
    metrics = _prediction_metrics(project, rule)
    words = rule.vocab("prediction-words")
    observed: list[Evidence] = []
    logged: list[Evidence] = []
    for route in routes:
        for reached in reached_from(project, route):
            name = reached.call.name
            head = name.split(".")[0]
            tail = name.split(".")
            if metrics and (head in metrics or any(t in metrics for t in tail[:-1])):
                observed.append(
                    Evidence(
                        f"{route.method} {route.path} records predictions: {name}()",
                        reached.path,
                        reached.call.line,
                    )
                )
                continue
            full = project.call_name(reached.path, reached.call)
            if match_any(full, rule.vocab("log-calls")) and words_in(
                carried_text(reached.call), words
            ):
                logged.append(
                    Evidence(
                        f"{route.method} {route.path} logs the prediction: {full}()",
                        reached.path,
                        reached.call.line,
                    )
                )
    observed = list({(e.path, e.line): e for e in observed}.values())
    if observed or logged:
        definitions = list(metrics.values())[:2] if observed else []
        return Outcome(
            "pass", "predictions are tracked over time", (observed + logged)[:4] + definitions
        )
    if library is not None:
        return Outcome(
            "pass",
            "a monitoring library tracks model outputs",
            [Evidence(f"prediction monitoring: {library.message}", library.path, library.line)],
        )
    anchor = Evidence(
        f"{routes[0].method} {routes[0].path} returns predictions here",
        routes[0].file,
        routes[0].line,
    )
    if metrics:
        return Outcome(
            "partial",
            "a prediction metric is defined but no prediction handler records it",
            list(metrics.values())[:3],
            anchor=anchor,
        )
    return Outcome(
        "fail",
        f"no metric or log of prediction values on the path of {len(routes)} prediction route(s)",
        [anchor],
        anchor=anchor,
    )


# -- ML405 no-alert-rules ---------------------------------------------------------------------
@check("ML405")
def no_alert_rules(project: Project, rule: Rule) -> Outcome:
    """Alerting: Prometheus rules with `alert:`, Grafana alert rules, Alertmanager routes."""
    rules: list[Evidence] = []
    routing: list[Evidence] = []
    for facts, doc in documents(project):
        top = {k.path for k in doc.keys if "." not in k.path}
        for key in doc.keys:
            parts = key.path.replace("[]", "").split(".")
            if leaf(key.path) == "alert" and "rules" in parts and key.value:
                rules.append(Evidence(f"alert rule `{key.value}`", facts.path, key.line))
            elif (
                leaf(key.path) == "title"
                and "rules" in parts
                and any(k.path.endswith("rules[].condition") for k in doc.keys)
            ):
                rules.append(Evidence(f"Grafana alert rule `{key.value}`", facts.path, key.line))
        if {"route", "receivers"} <= top:
            line = next(k.line for k in doc.keys if k.path == "route")
            routing.append(Evidence("Alertmanager routing", facts.path, line))
        elif top & {"contactPoints", "policies"} and doc.api_version is not None:
            line = next(k.line for k in doc.keys if k.path in ("contactPoints", "policies"))
            routing.append(Evidence("Grafana alerting contact points", facts.path, line))
    if rules:
        return Outcome("pass", f"{len(rules)} alert rule(s)", (rules[:4] + routing[:1]))
    anchor = _deploy_anchor(project)
    if routing:
        return Outcome(
            "partial",
            "alert notifications are routed, but no alert rule was found",
            routing[:3],
            anchor=anchor,
        )
    return Outcome(
        "fail",
        "no alerting configuration (Prometheus rule files with `alert:`, Alertmanager, Grafana "
        "alerting)",
        [anchor] if anchor else [],
        anchor=anchor,
    )


# -- ML406 prediction-not-logged --------------------------------------------------------------
FIELDS = ("prediction", "request id", "model version", "latency")
_FIELD_KEYS = {
    "prediction": "prediction-words",
    "request id": "request-id-words",
    "model version": "version-words",
    "latency": "latency-words",
}


def _logged_fields(project: Project, rule: Rule, calls: list[tuple[str, int, str, str]]):  # type: ignore[no-untyped-def]
    """Which fields the log calls carry: field -> (path, line)."""
    found: dict[str, tuple[str, int]] = {}
    for path, line, _name, text in calls:
        for field, key in _FIELD_KEYS.items():
            if field not in found and words_in(text, rule.vocab(key)):
                found[field] = (path, line)
    return found


@check("ML406")
def prediction_not_logged(project: Project, rule: Rule) -> Outcome:
    """Each prediction handler (or its middleware) logs the prediction with its context."""
    routes = prediction_routes(project)
    if not routes:
        return Outcome("n/a", "no route handler runs model inference")
    log_calls = rule.vocab("log-calls")
    shared = [
        (site.path, site.call.line, site.name, carried_text(site.call))
        for site in middleware_calls(project)
        if match_any(site.name, log_calls)
    ]
    findings: list[Finding] = []
    partial: list[Evidence] = []
    passing: list[Evidence] = []
    seen: set[tuple[str, str]] = set()
    for route in routes:
        key = (route.handler_path, route.handler_qualname)
        if key in seen:
            continue
        seen.add(key)
        calls = list(shared)
        for reached in reached_from(project, route):
            name = project.call_name(reached.path, reached.call)
            if match_any(name, log_calls):
                calls.append((reached.path, reached.call.line, name, carried_text(reached.call)))
        fields = _logged_fields(project, rule, calls)
        if route.framework in rule.vocab("framework-access-logs"):
            # The framework's access log: latency and a request id for every request.
            fields.setdefault("latency", (route.file, route.line))
            fields.setdefault("request id", (route.file, route.line))
        label = f"{route.method} {route.path}"
        if not fields:
            findings.append(
                Finding(
                    rule.code,
                    route.file,
                    route.line,
                    f"{label} logs none of: prediction, request id, model version, latency",
                    symbol=route.handler_qualname,
                )
            )
            continue
        shown = ", ".join(f for f in FIELDS if f in fields)
        first = min(fields.values())
        evidence = Evidence(f"{label} logs {shown}", first[0], first[1])
        if "prediction" in fields and len(fields) > 1:
            passing.append(evidence)
        else:
            missing = ", ".join(f for f in FIELDS if f not in fields)
            partial.append(Evidence(f"{label} logs {shown}; not {missing}", first[0], first[1]))
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} prediction route(s) log nothing about their predictions",
            partial + passing,
            findings,
        )
    if partial:
        return Outcome(
            "partial",
            "predictions are logged without their context, or context without the prediction",
            partial + passing,
            anchor=partial[0],
        )
    return Outcome("pass", "every prediction route logs the prediction with context", passing[:5])


# -- ML407 print-in-serving -------------------------------------------------------------------
@check("ML407")
def print_in_serving(project: Project, rule: Rule) -> Outcome:
    """print() in code the server runs: handlers, their helpers, route modules."""
    prints = rule.vocab("print-calls")
    if not project.routes:
        return Outcome("n/a", "no route handlers were recognised")
    findings: dict[tuple[str, int, int], Finding] = {}

    def add(path: str, line: int, col: int, end: int, scope: str, message: str) -> None:
        findings.setdefault(
            (path, line, col),
            Finding(rule.code, path, line, message, col=col, end_line=end, symbol=scope),
        )

    imported: list[tuple[FuncRef, str]] = []
    for path in sorted(route_modules(project)):
        info = project.symbols.by_path.get(path)
        if info is None or path not in project.production_paths:
            continue
        if path.endswith(".ipynb"):
            continue  # a notebook is a demo the server never imports
        imported.append((FuncRef(path, ""), f"importing {path}"))
        for call in info.facts.calls:
            if call.in_main or not match_any(call.name, prints):
                continue
            add(
                path,
                call.line,
                call.col,
                call.end_line,
                call.scope,
                "print() in serving code: use logging (levels, structure, the server's handlers)",
            )
    # What the server runs when it imports a route module (`_ = download_model()`), then
    # what each handler runs.
    for start, why in imported:
        for reached in project.walk_calls(start):
            call = reached.call
            if reached.path == start.path and not call.scope:
                continue  # the module's own top level was examined above
            if call.in_main or not match_any(call.name, prints):
                continue
            if reached.path not in project.production_paths or reached.path.endswith(".ipynb"):
                continue
            add(
                reached.path,
                call.line,
                call.col,
                call.end_line,
                call.scope,
                f"print() run when the server is {why}: use logging",
            )
    handlers = {FuncRef(r.handler_path, r.handler_qualname): r for r in project.routes}
    for _ref, route in sorted(handlers.items(), key=lambda kv: (kv[0].path, kv[0].qualname)):
        for reached in reached_from(project, route):
            call = reached.call
            if call.in_main or not match_any(call.name, prints):
                continue
            if reached.path not in project.production_paths or reached.path.endswith(".ipynb"):
                continue
            add(
                reached.path,
                call.line,
                call.col,
                call.end_line,
                call.scope,
                f"print() reached from {route.method} {route.path}: use logging",
            )
    if findings:
        ordered = sorted(findings.values(), key=lambda f: (f.path, f.line, f.col))
        return Outcome("fail", f"{len(ordered)} print() call(s) in serving code", [], ordered)
    return Outcome(
        "pass",
        f"no print() in the route modules or on the paths of {len(handlers)} handler(s)",
        [Evidence(f"{r.method} {r.path} examined", r.file, r.line) for r in project.routes[:3]],
    )
