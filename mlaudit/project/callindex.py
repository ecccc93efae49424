"""One index of every call's resolved name, built once per scan, so a check looks its
vocabulary up instead of resolving and matching every call of every module.

Names are grouped by their last segment (``fit`` of ``sklearn...LogisticRegression().fit``)
and by their root (``mlflow`` of ``mlflow.log_metric``). A pattern whose last segment is
literal (``*.fit``, ``joblib.load``) can only match names in that group; one with a literal
root (``mlflow.log_*``) only names under that root; anything else looks at every distinct
name, which is still far fewer than the calls. The final word is always ``match_any`` over
the whole vocabulary, so a lookup answers exactly what the loop over all calls answered, in
the same order (modules in path order, calls in fact order).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlaudit.index.facts import Call
from mlaudit.project.symbols import ModuleInfo, match_any

_GLOB = frozenset("*?[")


@dataclass(frozen=True)
class NamedCall:
    """A call whose resolved name matched a vocabulary."""

    info: ModuleInfo
    call: Call
    name: str
    pattern: str
    order: tuple[int, int]  # (module, call) position: the order of a loop over all calls

    @property
    def path(self) -> str:
        return self.info.path


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _root(name: str) -> str:
    return name.split(".", 1)[0]


class CallIndex:
    """Resolved call names of all modules, and vocabulary lookups over them (memoised)."""

    def __init__(
        self,
        modules: list[ModuleInfo],
        name_of: Callable[[str, Call], str],
        is_test: Callable[[str], bool],
    ) -> None:
        self._sites: dict[str, list[tuple[int, int, ModuleInfo, Call]]] = {}
        self._tests = {info.path for info in modules if is_test(info.path)}
        by_last: dict[str, list[str]] = {}
        by_root: dict[str, list[str]] = {}
        for m, info in enumerate(modules):
            for c, call in enumerate(info.facts.calls):
                name = name_of(info.path, call)
                sites = self._sites.get(name)
                if sites is None:
                    sites = self._sites[name] = []
                    by_last.setdefault(_last(name), []).append(name)
                    by_root.setdefault(_root(name), []).append(name)
                sites.append((m, c, info, call))
        self._by_last = by_last
        self._by_root = by_root
        self._memo: dict[tuple[int, bool], tuple[tuple[str, ...], list[NamedCall]]] = {}
        self._by_call: dict[int, tuple[tuple[str, ...], dict[int, str]]] = {}
        self._grouped: dict[int, tuple[tuple[str, ...], dict[str, list[tuple[int, Call]]]]] = {}

    def _candidates(self, patterns: tuple[str, ...]) -> list[str]:
        names: dict[str, None] = {}
        for pattern in patterns:
            last = _last(pattern)
            if _GLOB.isdisjoint(last):
                names.update(dict.fromkeys(self._by_last.get(last, ())))
                continue
            root = _root(pattern)
            if "." in pattern and _GLOB.isdisjoint(root):
                names.update(dict.fromkeys(self._by_root.get(root, ())))
                continue
            return list(self._sites)
        return list(names)

    def named(self, patterns: tuple[str, ...], tests: bool = False) -> list[NamedCall]:
        """Every call (outside tests unless ``tests``) whose name matches ``patterns``."""
        key = (id(patterns), tests)
        known = self._memo.get(key)
        if known is not None and known[0] is patterns:
            return known[1]
        found: list[NamedCall] = []
        for name in self._candidates(patterns):
            pattern = match_any(name, patterns)
            if pattern is None:
                continue
            for m, c, info, call in self._sites[name]:
                if tests or info.path not in self._tests:
                    found.append(NamedCall(info, call, name, pattern, (m, c)))
        found.sort(key=lambda item: item.order)
        self._memo[key] = (patterns, found)
        return found

    def pattern_of(self, call: Call, patterns: tuple[str, ...]) -> str | None:
        """The pattern of ``patterns`` the call's resolved name matches (tests included):
        ``match_any(call_name(call), patterns)`` for the price of one dictionary lookup."""
        known = self._by_call.get(id(patterns))
        if known is None or known[0] is not patterns:
            known = (patterns, {id(s.call): s.pattern for s in self.named(patterns, tests=True)})
            self._by_call[id(patterns)] = known
        return known[1].get(id(call))

    def in_module(self, path: str, *vocabularies: tuple[str, ...]) -> list[Call]:
        """The calls of one module (in fact order) whose names match any of the
        vocabularies: what a loop over the module's calls needs to look at."""
        found: dict[int, Call] = {}
        for patterns in vocabularies:
            grouped = self._grouped.get(id(patterns))
            if grouped is None or grouped[0] is not patterns:
                table: dict[str, list[tuple[int, Call]]] = {}
                for site in self.named(patterns, tests=True):
                    table.setdefault(site.path, []).append((site.order[1], site.call))
                grouped = (patterns, table)
                self._grouped[id(patterns)] = grouped
            for index, call in grouped[1].get(path, ()):
                found[index] = call
        return [found[index] for index in sorted(found)]
