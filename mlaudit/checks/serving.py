"""3xx: serving infrastructure."""

from __future__ import annotations

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.checks.handlers import HANDLER_ONLY
from mlaudit.index.facts import Call, Function
from mlaudit.project import Project, Reached
from mlaudit.project.deploy import probes
from mlaudit.project.inference import inference, route_word
from mlaudit.project.symbols import FuncRef, ModuleInfo, match_any
from mlaudit.results import Evidence, Finding, Outcome, Route


def _short(ref: FuncRef) -> str:
    return ref.qualname.rsplit(".", 1)[-1] + "()" if ref.qualname else f"<script {ref.path}>"


def _lazy_singleton(info: ModuleInfo, function: Function | None, call: Call) -> str | None:
    """``if _model is None: _model = load()`` on a global or ``self`` attribute."""
    if call.guard is None or function is None:
        return None
    guard = call.guard
    if guard.startswith(("self.", "cls.")):
        return guard
    if guard in function.globals:
        return guard
    if "." in guard:
        head = guard.split(".", 1)[0]
        if head in info.bindings or info.variable("", head) is not None or head in info.classes:
            # an attribute of a module-level object (app.state.model) or a class attribute
            return guard
    elif info.variable("", guard) is not None and guard not in {p.name for p in function.params}:
        # A module-level dict or holder tested for membership/None.
        return guard
    return None


@check("ML307")
def model_loaded_per_request(project: Project, rule: Rule) -> Outcome:
    """Follow every route handler into the repository's helpers; report uncached loads."""
    loaders = rule.vocab("loaders")
    caches = rule.vocab("caches")
    management = rule.vocab("management-words")
    handlers: dict[FuncRef, list[Route]] = {}
    managing: list[Evidence] = []
    for route in project.routes:
        if route_word(route, management) is not None:
            if len(managing) < 3:
                message = f"{route.method} {route.path} manages the served model"
                managing.append(Evidence(message, route.file, route.line))
            continue
        handlers.setdefault(FuncRef(route.handler_path, route.handler_qualname), []).append(route)
    if not handlers:
        if managing:
            return Outcome("n/a", "only model-management routes were recognised", managing)
        return Outcome("n/a", "no route handlers were recognised")

    def stop(ref: FuncRef, function: Function) -> bool:
        return project.is_cached(function, caches) is not None

    findings: dict[tuple[str, int, int], Finding] = {}
    cached: list[Evidence] = []
    for handler, routes in sorted(handlers.items(), key=lambda kv: (kv[0].path, kv[0].qualname)):
        route = routes[0]
        for reached in project.walk_calls(handler, stop=stop):
            verdict = _classify(project, reached, loaders, caches)
            if verdict is None:
                continue
            kind, detail = verdict
            if kind == "cached":
                if len(cached) < 5:
                    cached.append(Evidence(detail, reached.path, reached.call.line))
                continue
            key = (reached.path, reached.call.line, reached.call.col)
            if key in findings:
                continue
            chain = " → ".join(_short(ref) for ref in reached.chain)
            message = (
                f"{route.method} {route.path} → {chain} → {detail}: the model is loaded on "
                "every request; load it once at startup or cache the loader"
            )
            if len(routes) > 1:
                message += f" (also reached from {len(routes) - 1} more route(s))"
            findings[key] = Finding(
                rule.code,
                reached.path,
                reached.call.line,
                message,
                col=reached.call.col,
                end_line=reached.call.end_line,
                symbol=reached.call.scope,
            )
    routes_seen = len(project.routes)
    if not findings and not cached and not _loads_a_model(project, loaders):
        return Outcome(
            "n/a",
            "the service loads no model itself (no model loader in the serving code; it may "
            "call a remote endpoint)",
            managing,
        )
    if findings:
        ordered = sorted(findings.values(), key=lambda f: (f.path, f.line, f.col))
        return Outcome(
            "fail",
            f"{len(ordered)} model load(s) run on every request",
            cached,
            ordered,
        )
    if cached:
        return Outcome(
            "pass",
            f"model loads reachable from {routes_seen} route(s) are cached",
            cached + managing,
        )
    examined = [
        Evidence(f"{r.method} {r.path} examined", r.file, r.line)
        for r in project.routes
        if FuncRef(r.handler_path, r.handler_qualname) in handlers
    ]
    return Outcome(
        "pass",
        f"no model load is reachable from the {len(handlers)} handler(s) of {routes_seen} route(s)",
        examined[:3] + managing,
    )


def _classify(
    project: Project, reached: Reached, loaders: tuple[str, ...], caches: tuple[str, ...]
) -> tuple[str, str] | None:
    """("load", name) for an uncached load, ("cached", why) for a cached one, else None."""
    target = reached.target
    if target is not None and target.kind in ("function", "class"):
        ref = target.func
        function = project.function(ref) if ref is not None else None
        if function is not None:
            decorator = project.is_cached(function, caches)
            if decorator is not None and _reaches_loader(project, ref, loaders):
                return ("cached", f"{target.name}() is cached with @{decorator}")
        return None
    name = project.call_name(reached.path, reached.call)
    if not match_any(name, loaders):
        return None
    info = project.symbols.by_path[reached.path]
    function = info.functions.get(reached.call.scope)
    guard = _lazy_singleton(info, function, reached.call)
    if guard is not None:
        return ("cached", f"{name}() runs once: guarded by `{guard}` being unset")
    return ("load", f"{name}()")


def _loads_a_model(project: Project, loaders: tuple[str, ...]) -> bool:
    """Whether any serving module (or the code its handlers reach) calls a model loader."""
    from mlaudit.project.inference import handlers as every_handler
    from mlaudit.project.serving_scope import serving_modules

    objects = inference(project).objects

    def loads(name: str) -> bool:
        return bool(match_any(name, loaders) or objects.produces_model(name))

    for path in sorted(serving_modules(project)):
        info = project.symbols.by_path[path]
        if any(loads(project.call_name(path, c)) for c in info.facts.calls):
            return True
    return any(
        loads(project.call_name(r.path, r.call))
        for handler in every_handler(project)
        for r in handler.reached
    )


def _reaches_loader(project: Project, ref: FuncRef | None, loaders: tuple[str, ...]) -> bool:
    if ref is None:
        return False
    return any(
        match_any(project.call_name(r.path, r.call), loaders) for r in project.walk_calls(ref)
    )


# A path segment that opens a health namespace: `/health/heartbeat`, `/healthz/live`.
_HEALTH_NAMESPACES = frozenset({"health", "healthz", "healthcheck", "health_check", "livez"})


def _is_health_path(path: str, vocabulary: tuple[str, ...]) -> str | None:
    """The vocabulary path a route is: its last segment (``/api/v1/healthz``), or for
    liveness a health namespace anywhere in it (``/api/health/heartbeat``)."""
    trimmed = path.rstrip("/") or "/"
    segments = [s.lower() for s in trimmed.split("/") if s]
    for candidate in vocabulary:
        if trimmed == candidate or trimmed.endswith(candidate):
            return candidate
    if "/health" in vocabulary:
        for segment in segments[:-1]:
            if segment in _HEALTH_NAMESPACES:
                return "/" + segment
    return None


def _checks_model(project: Project, route: Route) -> bool:
    """Whether a health handler looks at the model: a name or call that mentions it, a
    call of the (cached) loader, or a use of an object a loader produced."""
    objects = inference(project).objects
    start = FuncRef(route.handler_path, route.handler_qualname)
    function = project.function(start)
    if function is not None and function.model_refs:
        return True
    for reached in project.walk_calls(start, max_depth=3):
        call = reached.call
        if "model" in call.name.lower():
            return True
        ref = reached.target.func if reached.target is not None else None
        callee = project.function(ref) if ref is not None else None
        if callee is not None and ref is not None:
            if callee.model_refs or objects.function_source(ref, 1) is not None:
                return True
            continue
        if objects.produces_model(project.call_name(reached.path, call)) is not None:
            return True
        owner = call.name.rpartition(".")[0]
        if owner and objects.source(reached.path, call.scope, owner) is not None:
            return True
    return False


@check("ML304")
def missing_health_endpoint(project: Project, rule: Rule) -> Outcome:
    """Liveness and readiness routes, a Dockerfile HEALTHCHECK, or a framework's own."""
    liveness, readiness = rule.vocab("liveness-paths"), rule.vocab("readiness-paths")
    framework_health = rule.vocab("framework-health")
    live: list[Evidence] = []
    ready: list[Evidence] = []
    model_checked: list[Evidence] = []
    if project.routes and all(r.framework in HANDLER_ONLY for r in project.routes):
        kinds = sorted({r.framework for r in project.routes})
        return Outcome(
            "n/a",
            f"handler-style serving ({', '.join(kinds)}): the platform owns health checking",
        )
    for route in project.routes:
        if route.method not in ("GET", "HEAD", "ANY"):
            continue
        if _is_health_path(route.path, readiness):
            ready.append(
                Evidence(f"readiness route {route.method} {route.path}", route.file, route.line)
            )
        elif _is_health_path(route.path, liveness):
            live.append(
                Evidence(f"liveness route {route.method} {route.path}", route.file, route.line)
            )
        else:
            continue
        if _checks_model(project, route):
            model_checked.append(
                Evidence(
                    f"{route.method} {route.path} checks that the model is loaded",
                    route.file,
                    route.line,
                )
            )
    for facts in project.files_of("dockerfile"):
        if facts.docker is None:  # unreadable (binary, over budget): ML901
            continue
        for instruction in facts.docker.instructions:
            if instruction.cmd == "HEALTHCHECK" and instruction.value[:1] != ["NONE"]:
                live.append(Evidence("Dockerfile HEALTHCHECK", facts.path, instruction.line))
    probe_live, probe_ready = probes(project)  # Kubernetes probes (manifests, Helm)
    live.extend(probe_live)
    ready.extend(probe_ready)
    for info in project.modules():
        framework = next(
            (
                imported
                for imp in info.facts.imports
                for imported in (imp.module, f"{imp.module}.{imp.name}" if imp.name else "")
                if imported
                and (
                    match_any(imported, framework_health)
                    or imported.split(".")[0] in framework_health
                )
            ),
            None,
        )
        if framework is not None:
            return Outcome(
                "pass",
                f"the serving framework ({framework}) provides liveness and readiness routes",
                [Evidence(f"imports {framework}", info.path, info.facts.imports[0].line)],
            )
    anchor = project.app_anchor()
    evidence = live + ready + model_checked
    if live and ready and model_checked:
        return Outcome(
            "pass",
            "liveness and readiness routes, and readiness checks the model",
            evidence,
            anchor=anchor,
        )
    if live or ready:
        missing = []
        if not live:
            missing.append("no liveness route (/health, /healthz, /livez, /ping)")
        if not ready:
            missing.append("no readiness route (/ready, /readyz)")
        if not model_checked:
            missing.append("no health route checks that the model is loaded")
        return Outcome("partial", "; ".join(missing), evidence, anchor=anchor)
    return Outcome(
        "fail",
        f"none of the {len(project.routes)} route(s) is a liveness or readiness endpoint, "
        "and no HEALTHCHECK was found",
        [anchor] if anchor else [],
        anchor=anchor,
    )
