"""The route table: every HTTP route with its full path, prefixes resolved.

FastAPI (``FastAPI``/``APIRouter(prefix=)``, ``include_router(prefix=)``,
``add_api_route``) and Flask (``Flask``/``Blueprint(url_prefix=)``,
``register_blueprint(url_prefix=)``, ``add_url_rule``), wherever in the repository the
router is defined, decorated or mounted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlaudit.index.facts import Call, Value
from mlaudit.project.symbols import FuncRef, SymbolTable, Target
from mlaudit.results import Route

# Constructor -> (framework, role, keyword holding the object's own prefix)
ROUTE_OBJECTS: dict[str, tuple[str, str, str | None]] = {
    "fastapi.FastAPI": ("fastapi", "app", "root_path"),
    "fastapi.APIRouter": ("fastapi", "router", "prefix"),
    "fastapi.routing.APIRouter": ("fastapi", "router", "prefix"),
    "starlette.applications.Starlette": ("starlette", "app", None),
    "flask.Flask": ("flask", "app", None),
    "flask.Blueprint": ("flask", "router", "url_prefix"),
    "flask.blueprints.Blueprint": ("flask", "router", "url_prefix"),
    # Flask-RESTX / Flask-RESTPlus / Flask-RESTful: an Api on an app or blueprint, namespaces
    # mounted on it, Resource classes routed by decorator or add_resource.
    "flask_restx.Api": ("flask", "api", "prefix"),
    "flask_restplus.Api": ("flask", "api", "prefix"),
    "flask_restful.Api": ("flask", "api", "prefix"),
    "flask_restx.Namespace": ("flask", "namespace", "path"),
    "flask_restplus.Namespace": ("flask", "namespace", "path"),
}
# Roles whose routes are Resource classes (one row per HTTP method the class defines).
_RESOURCE_ROLES = frozenset({"api", "namespace"})
_HTTP_METHODS = {"get", "post", "put", "delete", "patch", "options", "head", "trace"}
_FASTAPI_DECORATORS = _HTTP_METHODS | {"api_route", "websocket"}
_FLASK_DECORATORS = _HTTP_METHODS | {"route"}
_MOUNTS = {
    "include_router": "prefix",
    "register_blueprint": "url_prefix",
    "mount": None,
    "add_namespace": "path",
}


@dataclass
class RouteObject:
    path: str
    var: str
    framework: str
    role: str
    prefix: str = ""
    line: int = 0
    # (parent object key, prefix given when mounting)
    parents: list[tuple[tuple[str, str], str | None]] = field(default_factory=list)
    scope: str = ""  # the function that builds it (an app factory), "" at module level

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, f"{self.scope}.{self.var}" if self.scope else self.var)


def _const_str(value: Value | None) -> str | None:
    if value is not None and value.kind == "const" and isinstance(value.value, str):
        return value.value
    return None


def join_paths(*parts: str) -> str:
    """Join route prefixes the way frameworks do: one slash between, leading slash kept."""
    joined = ""
    for part in parts:
        if not part:
            continue
        joined = joined.rstrip("/") + "/" + part.lstrip("/") if joined else part
    if not joined.startswith("/"):
        joined = "/" + joined
    return joined


class RouteBuilder:
    def __init__(self, symbols: SymbolTable, production_paths: set[str]) -> None:
        self.symbols = symbols
        self.paths = production_paths
        self.objects: dict[tuple[str, str], RouteObject] = {}

    def build(self) -> list[Route]:
        self._find_objects()
        self._find_mounts()
        routes: list[Route] = []
        for path in sorted(self.paths):
            info = self.symbols.by_path[path]
            for function in info.facts.functions:
                for deco in function.decorators:
                    routes.extend(self._from_decorator(path, function.qualname, deco))
            for cls in info.facts.classes:
                for deco in cls.decorators:
                    routes.extend(self._from_resource_decorator(path, cls.qualname, deco))
            for call in info.facts.calls:
                routes.extend(self._from_call(path, call))
        from mlaudit.project.frameworks import FrameworkRoutes

        routes.extend(FrameworkRoutes(self.symbols, self.paths).build())
        # The same blueprint registered on two apps (a factory and a module-level app)
        # gives identical rows: list each route once.
        unique = {(r.method, r.path, r.handler, r.file, r.line): r for r in routes}
        return sorted(unique.values(), key=lambda r: (r.path, r.method, r.file, r.line))

    # -- objects and mounts ----------------------------------------------------------------
    def _find_objects(self) -> None:
        for path in sorted(self.paths):
            info = self.symbols.by_path[path]
            for assign in info.facts.assigns:
                if assign.value.kind != "call" or assign.call is None:
                    continue
                if (
                    assign.scope
                    and info.functions.get(assign.scope) is None
                    and assign.scope not in info.classes
                ):
                    continue
                kind = ROUTE_OBJECTS.get(str(assign.value.value))
                if kind is None or len(assign.targets) != 1:
                    continue
                framework, role, prefix_kw = kind
                call = info.facts.calls[assign.call]
                prefix = _const_str(call.kwargs.get(prefix_kw)) if prefix_kw else None
                if role == "app":
                    prefix = None  # root_path is a proxy setting, not a route prefix
                if role == "namespace" and prefix is None:
                    name = _const_str(call.args[0]) if call.args else None
                    prefix = f"/{name}" if name else None  # Namespace("models") -> /models
                obj = RouteObject(
                    path,
                    assign.targets[0],
                    framework,
                    role,
                    prefix or "",
                    assign.line,
                    scope=assign.scope,
                )
                self.objects[obj.key] = obj

    def object_for(
        self,
        path: str,
        scope: str,
        name: str,
        _seen: frozenset[tuple[str, str]] = frozenset(),
    ) -> RouteObject | None:
        """The route object a name refers to in a module (local or imported); re-exports
        that import each other in a cycle resolve to nothing."""
        parts = scope.split(".") if scope else []
        while parts:  # built in an enclosing function (an app factory)
            found_local = self.objects.get((path, ".".join([*parts, name])))
            if found_local is not None:
                return found_local
            parts.pop()
        local = self.objects.get((path, name))
        if local is not None:
            return local
        info = self.symbols.by_path.get(path)
        if info is None:
            return None
        head, _, rest = name.partition(".")
        dotted = info.bindings.get(head)
        if dotted is None and "." in name:
            dotted = name
        elif dotted is not None and rest:
            dotted = f"{dotted}.{rest}"
        if dotted is None:
            alias = info.variables.get(("", name))
            mark = (path, "=" + name)
            if alias is not None and alias.value.kind == "name" and mark not in _seen:
                # `tf_api = TensorflowModels.api`: another name for a route object
                return self.object_for(path, "", str(alias.value.value), _seen | {mark})
            return None
        split = self.symbols.split_module(dotted, path)
        if split is None:
            return None
        module_path, member = split
        found = self.objects.get((module_path, member))
        if found is None and module_path != path:
            # re-exported (`from .api import router`) or aliased in the defining module
            if (module_path, member) in _seen:
                return None
            return self.object_for(module_path, "", member, _seen | {(module_path, member)})
        return found

    def _find_mounts(self) -> None:
        for path in sorted(self.paths):
            info = self.symbols.by_path[path]
            self._mount_apis(path)
            for call in info.facts.calls:
                owner, _, method = call.name.rpartition(".")
                if method not in _MOUNTS or not owner:
                    continue
                child_ref = (
                    call.args[1]
                    if method == "mount" and len(call.args) > 1
                    else (call.args[0] if call.args else None)
                )
                if child_ref is None or child_ref.kind != "name":
                    continue
                child = self.object_for(path, call.scope, str(child_ref.value))
                if child is None:
                    continue
                parent = self.object_for(path, call.scope, owner)
                if parent is None and method in ("register_blueprint", "include_router"):
                    # `def register_blueprints(app): app.register_blueprint(bp, url_prefix=)`:
                    # the app is a parameter, but the prefix it gives is the route's.
                    parent = RouteObject(
                        path, owner, child.framework, "mount", line=call.line, scope=call.scope
                    )
                    self.objects.setdefault(parent.key, parent)
                    parent = self.objects[parent.key]
                if parent is None:
                    continue
                keyword = _MOUNTS[method]
                prefix = _const_str(call.kwargs.get(keyword)) if keyword else None
                if method == "mount":
                    prefix = _const_str(call.args[0]) if call.args else None
                child.parents.append((parent.key, prefix))

    def _mount_apis(self, path: str) -> None:
        """``Api(app_or_blueprint)`` and ``api.init_app(app)``: the Api's routes hang off
        the app or blueprint it is given."""
        info = self.symbols.by_path[path]
        for obj in [o for o in self.objects.values() if o.path == path and o.role == "api"]:
            assign = info.variables.get((obj.scope, obj.var))
            call = info.facts.calls[assign.call] if assign and assign.call is not None else None
            first = call.args[0] if call is not None and call.args else None
            if call is not None and first is None:
                first = call.kwargs.get("app")
            parent = (
                self.object_for(path, obj.scope, str(first.value))
                if first is not None and first.kind == "name"
                else None
            )
            if parent is not None:
                obj.parents.append((parent.key, None))
        for call in info.facts.calls:
            owner, _, method = call.name.rpartition(".")
            if method != "init_app" or not owner or not call.args:
                continue
            api = self.object_for(path, call.scope, owner)
            app = (
                self.object_for(path, call.scope, str(call.args[0].value))
                if call.args[0].kind == "name"
                else None
            )
            if api is not None and app is not None and api.role == "api":
                api.parents.append((app.key, None))

    def full_prefixes(
        self, obj: RouteObject, seen: frozenset[tuple[str, str]] = frozenset()
    ) -> list[str]:
        """Every full prefix of an object, one per chain of mounts up to an app."""
        if obj.key in seen:
            return [obj.prefix]
        if not obj.parents:
            return [obj.prefix]
        results: list[str] = []
        for parent_key, mount_prefix in obj.parents:
            parent = self.objects[parent_key]
            own = obj.prefix
            if obj.framework == "flask" and mount_prefix is not None:
                own, mount_prefix = mount_prefix, None  # register_blueprint overrides
            for parent_prefix in self.full_prefixes(parent, seen | {obj.key}):
                results.append(join_paths(parent_prefix, mount_prefix or "", own))
        return results

    # -- routes --------------------------------------------------------------------------
    def _route(
        self,
        obj: RouteObject,
        methods: list[str],
        path: str,
        handler: FuncRef,
        file: str,
        line: int,
    ) -> list[Route]:
        info = self.symbols.by_path.get(handler.path)
        module = info.facts.module if info else handler.path
        return [
            Route(
                method=method,
                path=join_paths(prefix, path),
                handler=f"{module}.{handler.qualname}",
                file=file,
                line=line,
                framework=obj.framework,
                handler_path=handler.path,
                handler_qualname=handler.qualname,
            )
            for prefix in self.full_prefixes(obj)
            for method in methods
        ]

    def _methods(self, verb: str, kwargs: dict[str, Value], framework: str) -> list[str]:
        if verb in _HTTP_METHODS:
            return [verb.upper()]
        if verb == "websocket":
            return ["WEBSOCKET"]
        listed = kwargs.get("methods")
        if listed is not None and listed.items:
            return sorted({str(m).upper() for m in listed.items if isinstance(m, str)}) or ["GET"]
        return ["GET"]

    def _from_decorator(self, path: str, qualname: str, deco) -> list[Route]:  # type: ignore[no-untyped-def]
        owner, _, verb = deco.name.rpartition(".")
        if not owner or not deco.called:
            return []
        obj = self.object_for(path, qualname.rpartition(".")[0], owner)
        if obj is None:
            return []
        allowed = _FASTAPI_DECORATORS if obj.framework == "fastapi" else _FLASK_DECORATORS
        if verb not in allowed:
            return []
        route_path = _const_str(deco.args[0]) if deco.args else None
        route_path = (
            route_path or _const_str(deco.kwargs.get("path")) or _const_str(deco.kwargs.get("rule"))
        )
        if route_path is None:
            route_path = ""
        methods = self._methods(verb, deco.kwargs, obj.framework)
        return self._route(obj, methods, route_path, FuncRef(path, qualname), path, deco.line)

    def _resource_rows(
        self, obj: RouteObject, cls_path: str, cls: str, paths: list[str], file: str, line: int
    ) -> list[Route]:
        """One row per HTTP method a Resource class defines, for each of its paths."""
        rows: list[Route] = []
        for verb in sorted(_HTTP_METHODS):
            method = self.symbols.resolve_method(cls_path, cls, verb)
            if method is None or method.func is None:
                continue
            for route_path in paths:
                rows.extend(self._route(obj, [verb.upper()], route_path, method.func, file, line))
        return rows

    def _from_resource_decorator(self, path: str, cls: str, deco) -> list[Route]:  # type: ignore[no-untyped-def]
        """``@ns.route("/<name>/predict")`` on a Flask-RESTX Resource class."""
        owner, _, verb = deco.name.rpartition(".")
        if verb != "route" or not owner or not deco.called:
            return []
        obj = self.object_for(path, cls.rpartition(".")[0], owner)
        if obj is None or obj.role not in _RESOURCE_ROLES:
            return []
        paths = [str(a.value) for a in deco.args if a.kind == "const" and a.value]
        return self._resource_rows(obj, path, cls, paths or [""], path, deco.line)

    def _add_resource(self, obj: RouteObject, path: str, call: Call) -> list[Route]:
        """``api.add_resource(Predict, "/predict", "/v1/predict")`` (Flask-RESTful/RESTX)."""
        if not call.args or call.args[0].kind != "name":
            return []
        target = self.symbols.resolve_call_name(path, call.scope, str(call.args[0].value))
        if target is None or target.kind != "class" or target.path is None:
            return []
        paths = [str(a.value) for a in call.args[1:] if a.kind == "const" and a.value]
        return self._resource_rows(obj, target.path, target.name, paths, path, call.line)

    def _from_call(self, path: str, call: Call) -> list[Route]:
        owner, _, method = call.name.rpartition(".")
        if method == "add_resource" and owner:
            obj = self.object_for(path, call.scope, owner)
            if obj is not None and obj.role in _RESOURCE_ROLES:
                return self._add_resource(obj, path, call)
            return []
        if method not in ("add_api_route", "add_url_rule") or not owner:
            return []
        obj = self.object_for(path, call.scope, owner)
        if obj is None:
            return []
        route_path = (
            _const_str(call.args[0])
            if call.args
            else _const_str(call.kwargs.get("path") or call.kwargs.get("rule"))
        )
        if method == "add_api_route":
            handler_value = call.args[1] if len(call.args) > 1 else call.kwargs.get("endpoint")
        else:
            handler_value = call.kwargs.get("view_func") or (
                call.args[2] if len(call.args) > 2 else None
            )
        if (
            handler_value is not None
            and handler_value.kind == "call"
            and str(handler_value.value).endswith(".as_view")
        ):
            return self._method_view(obj, call, path, route_path or "", handler_value)
        if handler_value is None or handler_value.kind != "name":
            return []
        target = self.symbols.resolve_call_name(path, call.scope, str(handler_value.value))
        if target is None or target.kind != "function":
            target = self._built_handler(path, call.scope, str(handler_value.value))
        if target is None or target.func is None or target.kind != "function":
            return []
        methods = self._methods("route", call.kwargs, obj.framework)
        return self._route(obj, methods, route_path or "", target.func, path, call.line)

    def _built_handler(self, path: str, scope: str, name: str) -> Target | None:
        """``predictor = build_predictor(model)``: the function of that name that the
        factory defines inside itself and returns."""
        info = self.symbols.by_path.get(path)
        assign = info.variable(scope, name) if info is not None else None
        if assign is None or assign.value.kind != "call" or not isinstance(assign.value.value, str):
            return None
        called = assign.value.value
        factory = self.symbols.resolve_dotted(called, path) if "." in called else None
        if factory is None:
            factory = self.symbols.resolve_call_name(path, assign.scope, called)
        if factory is None or factory.kind != "function" or factory.path is None:
            return None
        nested = f"{factory.name}.{name}"
        if nested in self.symbols.by_path[factory.path].functions:
            return Target("function", nested, factory.path)
        return None

    def _method_view(
        self, obj: RouteObject, call: Call, path: str, route_path: str, view: Value
    ) -> list[Route]:
        """``add_url_rule(rule, view_func=PredictView.as_view("predict"))``: a Flask
        MethodView, one row per HTTP method the class defines."""
        cls_name = str(view.value).rsplit(".", 1)[0]
        target = self.symbols.resolve_call_name(path, call.scope, cls_name)
        if target is None or target.kind != "class" or target.path is None:
            return []
        rows: list[Route] = []
        for verb in sorted(_HTTP_METHODS):
            method = self.symbols.resolve_method(target.path, target.name, verb)
            if method is not None and method.func is not None:
                rows.extend(
                    self._route(obj, [verb.upper()], route_path, method.func, path, call.line)
                )
        return rows
