"""Which light (text-only) modules an entry point or request handler reaches.

Triage (index/triage.py) parses up front only the files whose text holds something a check
looks for anywhere. Checks that follow calls — from a training entry point (ML102) or a
route handler (ML307, SERVES) — also need the helpers on those paths, wherever they live.
This walk follows the same calls the checks follow and names the light modules it runs
into; once they are parsed, it resumes from the places that were waiting for them, so the
whole search costs about one walk however many rounds it takes.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from mlaudit.index.facts import FileFacts
from mlaudit.project.symbols import FuncRef, ModuleInfo

if TYPE_CHECKING:
    from mlaudit.project import Project

MAX_DEPTH = 12

Place = tuple[str, str, int]  # module path, function qualname ("" = module level), depth


class Demand:
    """A resumable walk over the call graph of a project whose facts are still filling in."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.queue: deque[Place] = deque()
        self.seen: set[tuple[str, str]] = set()
        self.waiting: dict[str, list[Place]] = {}  # light module -> places that reached it
        self.restart = False  # a base class was in a light module: walk again once parsed
        self._start()

    def _start(self) -> None:
        for info in self.project.modules():
            if info.facts.depth == "full":
                self.queue.append((info.path, "", 0))
        for route in self.project.routes:
            self.queue.append((route.handler_path, route.handler_qualname, 0))

    def run(self, light: set[str]) -> set[str]:
        """Walk what is queued; return the light modules the walk needs parsed."""
        symbols = self.project.symbols
        wanted: set[str] = set()
        while self.queue:
            path, scope, depth = self.queue.popleft()
            if (path, scope) in self.seen or depth > MAX_DEPTH:
                continue
            self.seen.add((path, scope))
            info = symbols.by_path.get(path)
            if info is None:
                continue
            calls = list(info.calls_by_scope.get(scope, []))
            function = symbols.function(FuncRef(path, scope)) if scope else None
            if function is not None:
                calls = self.project._calls_with_dependencies(FuncRef(path, scope), function)
            for call in calls:
                target = symbols.resolve_call(path, call)
                ref = target.func if target is not None else None
                if ref is not None and ref.path not in light:
                    self.queue.append((ref.path, ref.qualname, depth + 1))
                    continue
                module = (
                    ref.path
                    if ref is not None
                    else symbols.defining_module(
                        target.name if target is not None else call.name, path
                    )
                )
                if module is not None and module in light:
                    wanted.add(module)
                    self.waiting.setdefault(module, []).append((path, scope, depth))
        # A method looked up through a base class whose module is light (``TitanicModel``
        # inherits ``fit`` from ``LudwigTemplate``) could not be found: parse that module.
        # Which places needed it is not recorded, so the walk starts over once it is parsed.
        bases = symbols.light_bases & light
        symbols.light_bases.clear()
        if bases - wanted:
            self.restart = True
        return wanted | bases

    def parsed(self, files: dict[str, FileFacts], paths: set[str]) -> None:
        """Take in the full facts of ``paths`` and resume the places waiting for them."""
        symbols = self.project.symbols
        for path in sorted(paths):
            facts = files[path]
            if facts.python is None:
                continue
            symbols.replace_module(ModuleInfo(path, facts.python))
            self.queue.append((path, "", 0))
            for place in self.waiting.pop(path, []):
                self.seen.discard(place[:2])
                self.queue.append(place)
        if self.restart:
            self.restart = False
            self.seen.clear()
            self._start()
