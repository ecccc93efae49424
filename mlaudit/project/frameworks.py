"""Route rows for the serving frameworks beyond FastAPI and Flask.

HTTP frameworks get their real method and full path: Starlette ``Route``/``Mount``, Litestar
handler decorators and controllers, aiohttp ``RouteTableDef`` and ``router.add_*``, Django
``urls.py`` (``path``/``re_path`` with ``include``). Handler-style frameworks get a row whose
method and path say what calls them, so every serving check follows them like a route:
BentoML APIs (``POST /<api name>``, 1.2+ service classes and the older ``Service`` with
runners), Ray Serve deployments (``__call__`` at the route prefix), KServe ``Model``
subclasses (``POST /v1/models/<name>:predict``), AWS Lambda handlers (``LAMBDA /module.func``),
Gradio apps (``POST /gradio_api/call/<fn>``), Streamlit scripts (``STREAMLIT /``), and the
inference scripts of SageMaker (``POST /invocations``) and Azure ML (``POST /score``).
"""

from __future__ import annotations

from mlaudit.index.facts import Call, ClassDef, Function, Value
from mlaudit.project.symbols import FuncRef, ModuleInfo, SymbolTable, match_any
from mlaudit.results import Route

_HTTP = ("get", "post", "put", "delete", "patch", "head", "options")
_VIEW_METHODS = ("get", "post", "put", "patch", "delete")


def _const(value: Value | None) -> str | None:
    if value is not None and value.kind == "const" and isinstance(value.value, str):
        return value.value
    return None


def _join(*parts: str) -> str:
    joined = ""
    for part in parts:
        if not part:
            continue
        joined = joined.rstrip("/") + "/" + part.lstrip("/") if joined else part
    return joined if joined.startswith("/") else "/" + joined


def _routes_literal(mount: Call) -> bool:
    value = mount.kwargs.get("routes")
    return value is not None and value.kind == "list"


class FrameworkRoutes:
    """Finds the route rows of the other frameworks in the production modules."""

    def __init__(self, symbols: SymbolTable, paths: set[str]) -> None:
        self.symbols = symbols
        self.paths = sorted(paths)
        self.rows: list[Route] = []

    def build(self) -> list[Route]:
        django_prefixes = self._django_prefixes()
        for path in self.paths:
            info = self.symbols.by_path[path]
            imports = {i.module.split(".")[0] for i in info.facts.imports}
            if "bentoml" in imports:
                self._bentoml(info)
            if "ray" in imports:
                self._ray(info)
            if "kserve" in imports:
                self._kserve(info)
            if "starlette" in imports or "fastapi" in imports:
                self._starlette(info)
            if "litestar" in imports:
                self._litestar(info)
            if "aiohttp" in imports:
                self._aiohttp(info)
            if "django" in imports:
                self._django(info, django_prefixes.get(info.facts.module, [""]))
            if "gradio" in imports:
                self._gradio(info)
            if "streamlit" in imports:
                self._streamlit(info)
            self._lambda(info)
            self._platform_scripts(info)
        return self.rows

    # -- helpers ---------------------------------------------------------------------------
    def _row(
        self, method: str, route: str, ref: FuncRef, file: str, line: int, framework: str
    ) -> None:
        info = self.symbols.by_path.get(ref.path)
        module = info.facts.module if info else ref.path
        handler = f"{module}.{ref.qualname}" if ref.qualname else module
        self.rows.append(
            Route(
                method=method,
                path=route,
                handler=handler,
                file=file,
                line=line,
                framework=framework,
                handler_path=ref.path,
                handler_qualname=ref.qualname,
            )
        )

    def _resolve(self, path: str, scope: str, value: Value | str | None) -> FuncRef | None:
        name = value if isinstance(value, str) else (value.value if value is not None else None)
        if not isinstance(name, str) or (isinstance(value, Value) and value.kind != "name"):
            return None
        target = self.symbols.resolve_dotted(name, path) if "." in name else None
        if target is None:
            target = self.symbols.resolve_call_name(path, scope, name)
        if target is not None and target.kind == "function" and target.path:
            return FuncRef(target.path, target.name)
        return None

    def _class_target(self, path: str, name: str) -> tuple[str, str] | None:
        target = self.symbols.resolve_dotted(name, path) if "." in name else None
        if target is None:
            target = self.symbols.resolve_call_name(path, "", name)
        if target is not None and target.kind == "class" and target.path:
            return target.path, target.name
        return None

    def _methods_of(self, path: str, cls: str) -> list[Function]:
        info = self.symbols.by_path[path]
        return [f for f in info.facts.functions if f.class_name == cls]

    def _bases(self, path: str, cls: ClassDef, depth: int = 0) -> list[str]:
        found: list[str] = []
        for base in cls.bases:
            located = self._class_target(path, base)
            if located is not None and depth < 5:
                base_info = self.symbols.by_path[located[0]]
                found.extend(self._bases(located[0], base_info.classes[located[1]], depth + 1))
            else:
                found.append(base)
        return found

    # -- BentoML ---------------------------------------------------------------------------
    def _bentoml(self, info: ModuleInfo) -> None:
        services = {
            c.qualname
            for c in info.facts.classes
            if any(d.name in ("bentoml.service", "bentoml.Service") for d in c.decorators)
        }
        legacy = {
            target
            for a in info.facts.assigns
            if a.value.kind == "call" and a.value.value in ("bentoml.Service", "bentoml.io.Service")
            for target in a.targets
        }
        for function in info.facts.functions:
            for deco in function.decorators:
                is_api = deco.name in ("bentoml.api", "bentoml.task") and (
                    function.class_name in services
                )
                owner, _, attr = deco.name.rpartition(".")
                if not is_api and not (attr == "api" and owner in legacy):
                    continue
                name = _const(deco.kwargs.get("route")) or (
                    "/" + (_const(deco.kwargs.get("name")) or function.qualname.rsplit(".", 1)[-1])
                )
                self._row(
                    "POST",
                    _join(name),
                    FuncRef(info.path, function.qualname),
                    info.path,
                    deco.line,
                    "bentoml",
                )

    # -- Ray Serve -------------------------------------------------------------------------
    def _ray(self, info: ModuleInfo) -> None:
        prefixes: dict[str, str] = {}
        for call in info.facts.calls:
            if call.name in ("ray.serve.run", "ray.serve.api.run"):
                prefix = _const(call.kwargs.get("route_prefix"))
                bound = call.args[0] if call.args else None
                if bound is not None and bound.kind == "name":
                    assign = info.variable(call.scope, str(bound.value))
                    bound = assign.value if assign is not None else None
                if prefix is not None and bound is not None and bound.kind == "call":
                    prefixes[str(bound.value).rsplit(".", 1)[0]] = prefix
        for cls in info.facts.classes:
            deco = next(
                (
                    d
                    for d in cls.decorators
                    if d.name in ("ray.serve.deployment", "ray.serve.api.deployment")
                ),
                None,
            )
            if deco is None:
                continue
            ingress = any(d.name == "ray.serve.ingress" for d in cls.decorators)
            dunder = f"{cls.qualname}.__call__"
            if ingress or dunder not in info.functions:
                continue  # an ingress deployment's routes come from its FastAPI app
            prefix = _const(deco.kwargs.get("route_prefix")) or prefixes.get(cls.qualname, "/")
            self._row(
                "POST", _join(prefix), FuncRef(info.path, dunder), info.path, deco.line, "ray"
            )

    # -- KServe ----------------------------------------------------------------------------
    def _kserve(self, info: ModuleInfo) -> None:
        for cls in info.facts.classes:
            bases = self._bases(info.path, cls)
            if not any(b in ("kserve.Model", "kserve.model.Model") for b in bases):
                continue
            name = self._kserve_name(info, cls.qualname) or "{name}"
            for method in ("predict", "explain"):
                function = info.functions.get(f"{cls.qualname}.{method}")
                if function is None:
                    continue
                suffix = "predict" if method == "predict" else "explain"
                self._row(
                    "POST",
                    f"/v1/models/{name}:{suffix}",
                    FuncRef(info.path, function.qualname),
                    info.path,
                    function.line,
                    "kserve",
                )

    def _kserve_name(self, info: ModuleInfo, cls: str) -> str | None:
        for path in self.paths:
            for call in self.symbols.by_path[path].facts.calls:
                if call.name.rsplit(".", 1)[-1] == cls.rsplit(".", 1)[-1]:
                    name = _const(call.args[0] if call.args else call.kwargs.get("name"))
                    if name:
                        return name
        return None

    # -- Starlette -------------------------------------------------------------------------
    def _starlette(self, info: ModuleInfo) -> None:
        mounts = [
            c
            for c in info.facts.calls
            if c.name in ("starlette.routing.Mount", "fastapi.routing.Mount") and c.args
        ]
        for call in info.facts.calls:
            if call.name not in (
                "starlette.routing.Route",
                "fastapi.routing.APIRoute",
                "starlette.routing.WebSocketRoute",
            ):
                continue
            route = _const(call.args[0] if call.args else call.kwargs.get("path"))
            endpoint = call.args[1] if len(call.args) > 1 else call.kwargs.get("endpoint")
            if route is None or endpoint is None:
                continue
            full = _join(self._starlette_prefix(info, mounts, call), route)
            listed = call.kwargs.get("methods")
            methods = (
                sorted({str(m).upper() for m in listed.items or [] if isinstance(m, str)})
                if listed is not None
                else ["GET"]
            ) or ["GET"]
            ref = self._resolve(info.path, call.scope, endpoint)
            if ref is not None:
                for method in methods:
                    self._row(method, full, ref, info.path, call.line, "starlette")
                continue
            located = (
                self._class_target(info.path, str(endpoint.value))
                if endpoint.kind == "name"
                else None
            )
            if located is not None:  # an HTTPEndpoint class: one row per verb it defines
                for function in self._methods_of(*located):
                    verb = function.qualname.rsplit(".", 1)[-1]
                    if verb in _VIEW_METHODS:
                        self._row(
                            verb.upper(),
                            full,
                            FuncRef(located[0], function.qualname),
                            info.path,
                            call.line,
                            "starlette",
                        )

    def _starlette_prefix(
        self, info: ModuleInfo, mounts: list[Call], call: Call, depth: int = 0
    ) -> str:
        """The Mount prefixes around a Route: Mount calls whose text encloses it, and
        ``Mount("/v1", routes=api_routes)`` for a module-level list the Route is written in."""
        enclosing = [
            m
            for m in mounts
            if m is not call
            and m.scope == call.scope
            and (m.line, m.col) < (call.line, call.col)
            and m.end_line >= call.end_line
            # on one line, only a Mount with a literal routes list can hold the Route
            and (m.end_line > call.end_line or _routes_literal(m))
        ]
        outermost = min(enclosing, key=lambda m: (m.line, m.col)) if enclosing else call
        prefix = _join(*[_const(m.args[0]) or "" for m in enclosing]) if enclosing else ""
        if call.scope or depth > 4:
            return prefix
        listed = self._list_var_at(info, outermost.line)
        if listed is None:
            return prefix
        for mount in mounts:
            value = mount.kwargs.get("routes")
            if value is not None and value.kind == "name" and value.value == listed:
                above = self._starlette_prefix(info, mounts, mount, depth + 1)
                return _join(above, _const(mount.args[0]) or "", prefix)
        return prefix

    @staticmethod
    def _list_var_at(info: ModuleInfo, line: int) -> str | None:
        """The module-level list assignment whose text holds ``line``: it starts at or
        before the line, and no other module-level statement starts in between."""
        starts = sorted(
            [
                (a.line, a.targets[0] if a.value.kind == "list" else None)
                for a in info.facts.assigns
                if not a.scope and a.targets
            ]
            + [(f.line, None) for f in info.facts.functions if "." not in f.qualname]
            + [(c.line, None) for c in info.facts.classes if "." not in c.qualname]
        )
        found = None
        for start, name in starts:
            if start > line:
                break
            found = name
        return found

    # -- Litestar --------------------------------------------------------------------------
    def _litestar(self, info: ModuleInfo) -> None:
        controller_paths: dict[str, str] = {}
        for assign in info.facts.assigns:
            if assign.scope in info.classes and "path" in assign.targets:
                controller_paths[assign.scope] = _const(assign.value) or ""
        for function in info.facts.functions:
            for deco in function.decorators:
                module, _, verb = deco.name.rpartition(".")
                if not module.startswith("litestar") or verb not in (*_HTTP, "route"):
                    continue
                route = _const(deco.args[0]) if deco.args else _const(deco.kwargs.get("path"))
                prefix = controller_paths.get(function.class_name or "", "")
                method = verb.upper() if verb != "route" else "GET"
                self._row(
                    method,
                    _join(prefix, route or "/"),
                    FuncRef(info.path, function.qualname),
                    info.path,
                    deco.line,
                    "litestar",
                )

    # -- aiohttp ---------------------------------------------------------------------------
    def _aiohttp(self, info: ModuleInfo) -> None:
        tables = {
            t
            for a in info.facts.assigns
            if a.value.kind == "call" and a.value.value == "aiohttp.web.RouteTableDef"
            for t in a.targets
        }
        for function in info.facts.functions:
            for deco in function.decorators:
                owner, _, verb = deco.name.rpartition(".")
                if owner in tables and verb in _HTTP and deco.args:
                    route = _const(deco.args[0])
                    if route is not None:
                        self._row(
                            verb.upper(),
                            _join(route),
                            FuncRef(info.path, function.qualname),
                            info.path,
                            deco.line,
                            "aiohttp",
                        )
        for call in info.facts.calls:
            verb = call.name.rsplit(".", 1)[-1]
            if call.name.startswith("aiohttp.web.") and verb in _HTTP:
                args = call.args
            elif call.name.endswith(".router.add_" + verb[4:]) and verb[4:] in _HTTP:
                args = call.args
                verb = verb[4:]
            elif call.name.endswith(".router.add_route") and len(call.args) >= 3:
                verb = str(call.args[0].value).lower()
                args = call.args[1:]
            else:
                continue
            route = _const(args[0]) if args else None
            ref = self._resolve(info.path, call.scope, args[1] if len(args) > 1 else None)
            if route is not None and ref is not None:
                self._row(verb.upper(), _join(route), ref, info.path, call.line, "aiohttp")

    # -- Django ----------------------------------------------------------------------------
    def _url_calls(self, info: ModuleInfo) -> list[Call]:
        return [
            c
            for c in info.facts.calls
            if c.name in ("django.urls.path", "django.urls.re_path", "django.conf.urls.url")
            and c.args
        ]

    def _django_prefixes(self) -> dict[str, list[str]]:
        """Module name of each included urls module -> the prefixes it is mounted under."""
        edges: dict[str, list[tuple[str, str]]] = {}
        for path in self.paths:
            info = self.symbols.by_path[path]
            for call in self._url_calls(info):
                target = call.args[1] if len(call.args) > 1 else None
                if (
                    target is None
                    or target.kind != "call"
                    or not str(target.value).endswith("include")
                ):
                    continue
                included = target.items[0] if target.items else None
                route = _const(call.args[0]) or ""
                if isinstance(included, str):
                    edges.setdefault(included, []).append((info.facts.module, route))
        resolved: dict[str, list[str]] = {}

        def prefixes(module: str, seen: frozenset[str]) -> list[str]:
            parents = [e for key, es in edges.items() if module.endswith(key) for e in es]
            if not parents or module in seen:
                return [""]
            found = []
            for parent, route in parents:
                for above in prefixes(parent, seen | {module}):
                    found.append(_join(above, route))
            return found

        for path in self.paths:
            module = self.symbols.by_path[path].facts.module
            resolved[module] = prefixes(module, frozenset())
        return resolved

    def _django(self, info: ModuleInfo, prefixes: list[str]) -> None:
        for call in self._url_calls(info):
            route = _const(call.args[0]) or ""
            if call.name != "django.urls.path":
                route = route.lstrip("^").rstrip("$")
            view = call.args[1] if len(call.args) > 1 else None
            if view is None:
                continue
            targets: list[tuple[str, FuncRef]] = []
            if view.kind == "name":
                ref = self._resolve(info.path, call.scope, view)
                if ref is not None:
                    targets.append((self._django_method(ref), ref))
            elif view.kind == "call" and str(view.value).endswith(".as_view"):
                located = self._class_target(info.path, str(view.value).rsplit(".", 1)[0])
                if located is not None:
                    for function in self._methods_of(*located):
                        verb = function.qualname.rsplit(".", 1)[-1]
                        if verb in _VIEW_METHODS:
                            targets.append((verb.upper(), FuncRef(located[0], function.qualname)))
            for prefix in prefixes:
                for method, ref in targets:
                    self._row(method, _join(prefix, route), ref, info.path, call.line, "django")

    def _django_method(self, ref: FuncRef) -> str:
        function = self.symbols.function(ref)
        for deco in function.decorators if function else []:
            if deco.name.endswith(("require_POST", "require_http_methods", "api_view")):
                if deco.name.endswith("require_POST"):
                    return "POST"
                listed = deco.args[0] if deco.args else None
                if listed is not None and listed.items:
                    return str(listed.items[0]).upper()
            if deco.name.endswith("require_GET"):
                return "GET"
        return "ANY"

    # -- Gradio, Streamlit, Lambda ---------------------------------------------------------
    def _gradio(self, info: ModuleInfo) -> None:
        for call in info.facts.calls:
            name = call.name
            if match_any(name, ("gradio.Interface", "gradio.ChatInterface")):
                fn = call.kwargs.get("fn") or (call.args[0] if call.args else None)
            elif name.endswith((".click", ".submit", ".change")) and "fn" in call.kwargs:
                fn = call.kwargs.get("fn")
            elif name.endswith((".click", ".submit")) and call.args:
                fn = call.args[0]
            else:
                continue
            ref = self._resolve(info.path, call.scope, fn)
            if ref is not None:
                api_name = _const(call.kwargs.get("api_name")) or ref.qualname.rsplit(".", 1)[-1]
                self._row(
                    "POST",
                    f"/gradio_api/call/{api_name.lstrip('/')}",
                    ref,
                    info.path,
                    call.line,
                    "gradio",
                )

    def _streamlit(self, info: ModuleInfo) -> None:
        if not any(i.module == "streamlit" for i in info.facts.imports):
            return
        if not any(c.name.startswith("streamlit.") for c in info.facts.calls if not c.scope):
            return  # a helper module, not the script Streamlit reruns
        self._row("STREAMLIT", "/", FuncRef(info.path, ""), info.path, 1, "streamlit")

    def _platform_scripts(self, info: ModuleInfo) -> None:
        """Inference scripts a managed platform imports and calls: SageMaker's
        ``model_fn`` + ``predict_fn``/``transform_fn`` (``POST /invocations``) and Azure ML's
        scoring script, ``init()`` filling a global and ``run(data)``."""
        functions = {
            f.qualname: f
            for f in info.facts.functions
            if not f.class_name and "." not in f.qualname
        }
        if "model_fn" in functions:
            handler = functions.get("predict_fn") or functions.get("transform_fn")
            if handler is not None:
                ref = FuncRef(info.path, handler.qualname)
                self._row("POST", "/invocations", ref, info.path, handler.line, "sagemaker")
        init, run = functions.get("init"), functions.get("run")
        if (
            init is not None
            and run is not None
            and not init.params
            and init.globals
            and 1 <= len(run.params) <= 2
        ):
            ref = FuncRef(info.path, "run")
            self._row("POST", "/score", ref, info.path, run.line, "azureml")

    def _lambda(self, info: ModuleInfo) -> None:
        for function in info.facts.functions:
            if function.class_name or "." in function.qualname:
                continue
            names = [p.name for p in function.params]
            if (
                len(names) == 2
                and names[0] in ("event", "_event")
                and names[1].lstrip("_")
                in (
                    "context",
                    "ctx",
                )
            ):
                self._row(
                    "LAMBDA",
                    f"/{info.facts.module}.{function.qualname}",
                    FuncRef(info.path, function.qualname),
                    info.path,
                    function.line,
                    "lambda",
                )
