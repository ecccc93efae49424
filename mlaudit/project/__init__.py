"""The project model: the index's per-file facts joined into one picture of the repository.

Traits, the symbol table and call graph, and the route table are computed here once, so
that checks stay small pure functions that read them.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlaudit.catalog import Rule
from mlaudit.index.cache import SignedStore
from mlaudit.index.facts import Call, FileFacts, Function
from mlaudit.index.history import History
from mlaudit.project.callindex import CallIndex, NamedCall
from mlaudit.project.symbols import FuncRef, ModuleInfo, SymbolTable, Target, match_any
from mlaudit.results import Evidence, Route, Trait
from mlaudit.workspace import Workspace, is_test_path


@dataclass(frozen=True)
class Reached:
    """A call reached from a starting function, with the chain of functions leading to it."""

    path: str
    call: Call
    chain: tuple[FuncRef, ...]
    target: Target | None


class Project:
    """Everything checks may read about the target repository."""

    # Where the git-history facts are kept between scans (set by the scan; None: not kept).
    history_store: SignedStore | None = None

    def __init__(
        self,
        workspace: Workspace,
        files: dict[str, FileFacts],
        rules: dict[str, Rule],
    ) -> None:
        self.workspace = workspace
        self.root: Path = workspace.root
        self.files = files
        self.rules = rules
        modules = {
            path: ModuleInfo(path, facts.python)
            for path, facts in sorted(files.items())
            if facts.python is not None
        }
        self.symbols = SymbolTable(modules)
        self._call_names: dict[int, tuple[Call, str]] = {}
        self.production_modules = sorted(p for p in modules if not is_test_path(p))
        self.production_paths = frozenset(self.production_modules)  # for membership tests
        from mlaudit.project.routes import RouteBuilder, RouteObject

        builder = RouteBuilder(self.symbols, set(self.production_modules))
        self.routes: list[Route] = builder.build()
        self.route_objects: list[RouteObject] = sorted(
            builder.objects.values(), key=lambda o: (o.path, o.line)
        )
        from mlaudit.project.traits import detect_traits

        self.traits: dict[str, Trait] = detect_traits(self)

    # -- files ---------------------------------------------------------------------------
    def files_of(self, *kinds: str, tests: bool = False) -> list[FileFacts]:
        """Facts of files of the given kinds, in path order; test files only when asked."""
        return [
            f
            for path, f in sorted(self.files.items())
            if f.kind in kinds and (tests or not is_test_path(path))
        ]

    def has_trait(self, name: str) -> bool:
        trait = self.traits.get(name)
        return bool(trait and trait.present)

    @property
    def present_traits(self) -> set[str]:
        return {name for name, trait in self.traits.items() if trait.present}

    def rule(self, code: str) -> Rule:
        return self.rules[code]

    # -- python --------------------------------------------------------------------------
    def modules(self, tests: bool = False) -> list[ModuleInfo]:
        return [
            info
            for path, info in sorted(self.symbols.by_path.items())
            if tests or not is_test_path(path)
        ]

    @functools.cached_property
    def call_index(self) -> CallIndex:
        """Every call's resolved name, for vocabulary lookups (built on first use)."""
        return CallIndex(self.modules(tests=True), self.call_name, is_test_path)

    def calls_named(self, patterns: tuple[str, ...], tests: bool = False) -> list[NamedCall]:
        """The calls whose resolved names match a vocabulary, in module and call order
        (test modules only when ``tests``); the same answer as matching every call."""
        return self.call_index.named(patterns, tests)

    def call_matches(self, call: Call, patterns: tuple[str, ...]) -> str | None:
        """``match_any(self.call_name(path, call), patterns)``, looked up in the index."""
        return self.call_index.pattern_of(call, patterns)

    def calls_in_module(self, path: str, *vocabularies: tuple[str, ...]) -> list[Call]:
        """The calls of one module whose names match any of the vocabularies, in order."""
        return self.call_index.in_module(path, *vocabularies)

    def imports_module(self, info: ModuleInfo, roots: tuple[str, ...]) -> bool:
        root_set = set(roots)
        return any(imp.module.split(".")[0] in root_set for imp in info.facts.imports)

    def call_name(self, path: str, call: Call) -> str:
        """A call's external name with local instances expanded (``aim.Run().track``).

        Memoised per call fact (by identity: the facts live as long as the project), since
        many checks ask for the names of the same calls.
        """
        found = self._call_names.get(id(call))
        if found is None or found[0] is not call:
            found = (call, self.symbols.external_name(path, call))
            self._call_names[id(call)] = found
        return found[1]

    def function(self, ref: FuncRef) -> Function | None:
        return self.symbols.function(ref)

    def walk_calls(
        self,
        start: FuncRef,
        stop: Callable[[FuncRef, Function], bool] | None = None,
        max_depth: int = 12,
    ) -> Iterator[Reached]:
        """Every call reachable from ``start`` through the repository's own functions.

        Breadth-first, each function visited once. ``stop(ref, function)`` returning True
        keeps the walk out of a function (a cached loader, say); its call site is still
        reported. FastAPI ``Depends`` providers of a function count as calls it makes.
        """
        queue: deque[tuple[FuncRef, tuple[FuncRef, ...]]] = deque([(start, (start,))])
        seen = {start}
        while queue:
            ref, chain = queue.popleft()
            function = self.symbols.function(ref)
            if function is None and ref.qualname:
                continue
            # qualname "" is a module's top level: a script rerun per request (Streamlit).
            calls = (
                self._calls_with_dependencies(ref, function)
                if function is not None
                else self.symbols.calls_in(ref)
            )
            for call in calls:
                target = self.symbols.resolve_call(ref.path, call)
                yield Reached(ref.path, call, chain, target)
                next_ref = target.func if target is not None else None
                if next_ref is None or next_ref in seen or len(chain) >= max_depth:
                    continue
                next_function = self.symbols.function(next_ref)
                if next_function is None:
                    continue
                if stop is not None and stop(next_ref, next_function):
                    continue
                seen.add(next_ref)
                queue.append((next_ref, (*chain, next_ref)))

    def _calls_with_dependencies(self, ref: FuncRef, function: Function) -> list[Call]:
        calls = list(self.symbols.calls_in(ref))
        for param in function.params:
            default = param.default
            if (
                default is None
                or default.kind != "call"
                or not str(default.value).endswith("Depends")
            ):
                continue
            # Depends(provider); a bare Depends() calls the annotated class itself.
            provider = default.items[0] if default.items else param.annotation
            if isinstance(provider, str) and provider:
                calls.append(
                    Call(
                        name=provider,
                        line=function.line,
                        col=1,
                        end_line=function.line,
                        scope=ref.qualname,
                        imported="." in provider,
                    )
                )
        return calls

    def is_cached(self, function: Function, caches: tuple[str, ...]) -> str | None:
        """The caching decorator of a function, if any (``functools.lru_cache``)."""
        for deco in function.decorators:
            if match_any(deco.name, caches):
                return deco.name
        return None

    @functools.cached_property
    def history(self) -> History:
        """Data files in git history (or the working tree): read on first use only."""
        from mlaudit.index.history import read_history

        return read_history(self.root, [f.path for f in self.workspace.files], self.history_store)

    def where(self, path: str, line: int) -> str:
        """``line 12``, or ``cell 3, line 2`` in a notebook (whose facts use joined-code
        lines): for messages that name another place in a file."""
        facts = self.files.get(path)
        if facts is not None and facts.notebook is not None:
            from mlaudit.index.notebook import locate

            found = locate(facts.notebook, line)
            if found is not None:
                return f"cell {found[0]}, line {found[1]}"
        return f"line {line}"

    def trait_anchor(self, name: str) -> Evidence | None:
        """The first evidence of a trait: where a repo-level failure about it belongs."""
        trait = self.traits.get(name)
        return trait.evidence[0] if trait and trait.evidence else None

    def app_anchor(self) -> Evidence | None:
        """Where a missing serving practice belongs: the application object, else the
        first route (the place SARIF attaches a repo-level serving failure to)."""
        apps = [o for o in self.route_objects if o.role == "app"]
        if apps:
            return Evidence(f"application `{apps[0].var}` defined here", apps[0].path, apps[0].line)
        if self.routes:
            route = self.routes[0]
            return Evidence(
                f"routes are defined here ({route.method} {route.path})", route.file, route.line
            )
        return None

    def evidence_at(self, path: str, line: int, message: str) -> Evidence:
        return Evidence(message=message, path=path, line=line)
