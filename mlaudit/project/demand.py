"""Which light (text-only) modules an entry point or request handler reaches.

Triage (index/triage.py) parses up front only the files whose text holds something a check
looks for anywhere. Checks that follow calls — from a training entry point (ML102) or a
route handler (ML307, SERVES) — also need the helpers on those paths, wherever they live.
This walk follows the same calls the checks follow and names the light modules it runs
into, so the scan can give them the full pass and look again.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from mlaudit.project.symbols import FuncRef

if TYPE_CHECKING:
    from mlaudit.project import Project

MAX_DEPTH = 12


def demanded_modules(project: Project, light: set[str]) -> set[str]:
    """Light modules that calls reachable from entry points and handlers lead into."""
    symbols = project.symbols
    wanted: set[str] = set()
    queue: deque[tuple[str, str, int]] = deque()
    for info in project.modules():
        if info.facts.depth == "full":
            queue.append((info.path, "", 0))
    for route in project.routes:
        queue.append((route.handler_path, route.handler_qualname, 0))
    seen: set[tuple[str, str]] = set()
    while queue:
        path, scope, depth = queue.popleft()
        if (path, scope) in seen or depth > MAX_DEPTH:
            continue
        seen.add((path, scope))
        calls = list(symbols.by_path[path].calls_by_scope.get(scope, []))
        function = symbols.function(FuncRef(path, scope)) if scope else None
        if function is not None:
            calls = project._calls_with_dependencies(FuncRef(path, scope), function)
        for call in calls:
            target = symbols.resolve_call(path, call)
            ref = target.func if target is not None else None
            if ref is not None:
                if ref.path in light:
                    wanted.add(ref.path)
                else:
                    queue.append((ref.path, ref.qualname, depth + 1))
                continue
            name = target.name if target is not None else call.name
            module = symbols.defining_module(name, path)
            if module is not None and module in light:
                wanted.add(module)
    return wanted
