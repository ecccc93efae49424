"""What the server runs: the modules an app imports, the prediction routes, and the calls
reachable from their handlers, shared by the monitoring and deployment checks."""

from __future__ import annotations

import weakref
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlaudit.index.facts import Call, Value
from mlaudit.project.symbols import FuncRef, last_attr
from mlaudit.results import Route

if TYPE_CHECKING:
    from mlaudit.project import Project, Reached

_MEMO: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _memo(project: Project) -> dict[str, Any]:
    found = _MEMO.get(project)
    if found is None:
        found = _MEMO[project] = {}
    return found


def route_modules(project: Project) -> set[str]:
    """Modules that define routes, route objects or handlers (always fully parsed)."""
    return (
        {r.handler_path for r in project.routes}
        | {r.file for r in project.routes}
        | {o.path for o in project.route_objects}
    )


def serving_modules(project: Project) -> set[str]:
    """Route modules and every production module they import, transitively."""
    memo = _memo(project)
    if "serving" in memo:
        return set(memo["serving"])
    production = set(project.production_modules)
    seen = set(route_modules(project)) & production
    queue = deque(sorted(seen))
    while queue:
        path = queue.popleft()
        info = project.symbols.by_path.get(path)
        if info is None:
            continue
        for imp in info.facts.imports:
            names = [imp.module]
            if imp.name and imp.name != "*":
                names.insert(0, f"{imp.module}.{imp.name}")
            for dotted in names:
                found = project.symbols.find_module(dotted, path) if dotted else None
                if found is not None:
                    break
            if found is not None and found in production and found not in seen:
                seen.add(found)
                queue.append(found)
    memo["serving"] = seen
    return set(seen)


def prediction_routes(project: Project) -> list[Route]:
    """Routes whose handler runs a model (``mlaudit.project.inference``): a readiness route
    that only loads the model is not a prediction route."""
    from mlaudit.project.inference import prediction_routes as routes

    return routes(project)


def reached_from(project: Project, route: Route) -> list[Reached]:
    memo = _memo(project).setdefault("reached", {})
    key = (route.handler_path, route.handler_qualname)
    if key not in memo:
        memo[key] = list(project.walk_calls(FuncRef(*key)))
    return list(memo[key])


@dataclass(frozen=True)
class SiteCall:
    path: str
    call: Call
    name: str


def middleware_calls(project: Project) -> list[SiteCall]:
    """Calls made directly by middleware and request hooks of route modules
    (``@app.middleware("http")``, Flask ``before_request``/``after_request``)."""
    hooks = ("middleware", "before_request", "after_request", "teardown_request")
    found: list[SiteCall] = []
    for path in sorted(route_modules(project)):
        info = project.symbols.by_path.get(path)
        if info is None:
            continue
        for function in info.facts.functions:
            if any(last_attr(d.name) in hooks for d in function.decorators):
                for call in info.calls_by_scope.get(function.qualname, []):
                    found.append(SiteCall(path, call, project.call_name(path, call)))
    return found


def value_text(value: Value) -> str:
    """What an argument says, for word matching: names, excerpts, dict keys."""
    if value.kind == "const":
        return str(value.value) if value.value is not None else ""
    if value.kind in ("name", "other"):
        return str(value.value or "")
    if value.kind == "call":
        inner = " ".join(str(i) for i in value.items or [] if i is not None)
        return f"{value.value} {inner}"
    return " ".join(str(i) for i in value.items or [] if i is not None)


def carried_text(call: Call) -> str:
    """The text of what a log call carries: variables, f-strings, keyword names and dict
    keys; a literal message only when it formats further arguments (``"y=%s", y``)."""
    parts: list[str] = []
    for index, arg in enumerate(call.args):
        if arg.kind == "const" and not (index == 0 and len(call.args) > 1):
            continue
        parts.append(value_text(arg))
    for key, arg in call.kwargs.items():
        parts.append(key)
        parts.append(value_text(arg))
    return " ".join(parts).lower().replace("-", "_")


def words_in(text: str, words: tuple[str, ...]) -> str | None:
    return next((w for w in words if w.lower().replace("-", "_") in text), None)
