"""Resolve names across the repository's own modules: which function a call reaches.

The index resolved every name against its own file's imports; this module finishes the
job across files, so a check can follow ``predict() -> get_model() -> joblib.load``
through helpers in other modules, methods on ``self``, and instances built at import.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlaudit.index.facts import Assign, Call, ClassDef, Function, PyFacts


@dataclass(frozen=True)
class FuncRef:
    """A function or method defined in the repository."""

    path: str
    qualname: str

    def __str__(self) -> str:
        return f"{self.path}:{self.qualname}"


@dataclass(frozen=True)
class Target:
    """What a call reaches: a project function, a project class, or an external name."""

    kind: str  # "function" | "class" | "external"
    name: str  # external dotted name, or the qualname for project symbols
    path: str | None = None

    @property
    def func(self) -> FuncRef | None:
        if self.kind == "function" and self.path is not None:
            return FuncRef(self.path, self.name)
        if self.kind == "class" and self.path is not None:
            return FuncRef(self.path, f"{self.name}.__init__")
        return None


# Old or vendored import paths of libraries, named as the library itself.
_MODULE_ALIASES = {
    "sklearn.externals.joblib": "joblib",
    "tensorflow.python.keras": "tensorflow.keras",
    "tf_keras": "keras",
}
_TYPE_WORD = re.compile(r"[A-Za-z_][\w.]*")
_TYPING_WORDS = frozenset({"None", "Optional", "Union", "typing.Optional", "typing.Union"})


class _PatternSet:
    """A vocabulary compiled for matching: exact names in a set, wildcards in one regex."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.exact = {p: p for p in patterns if "*" not in p}
        self.wildcards = [(re.compile(fnmatch.translate(p)), p) for p in patterns if "*" in p]
        self.memo: dict[str, str | None] = {}

    def match(self, name: str) -> str | None:
        if name in self.memo:
            return self.memo[name]
        found = self.exact.get(name)
        if found is None:
            found = next((p for rx, p in self.wildcards if rx.match(name)), None)
        self.memo[name] = found
        return found


_PATTERN_SETS: dict[int, tuple[tuple[str, ...], _PatternSet]] = {}


def match_any(name: str, patterns: Iterable[str]) -> str | None:
    """The first fnmatch pattern that matches a dotted name, if any (exact names first).

    The hottest function of a scan on a large repository: vocabulary tuples are looked up
    by identity in a dict of their own, then the name in the set's memo.
    """
    entry = _PATTERN_SETS.get(id(patterns))
    if entry is None or entry[0] is not patterns:
        if not isinstance(patterns, tuple):
            return _PatternSet(tuple(patterns)).match(name)
        entry = (patterns, _PatternSet(patterns))
        _PATTERN_SETS[id(patterns)] = entry
    compiled = entry[1]
    found = compiled.memo.get(name, compiled)
    return compiled.match(name) if found is compiled else found  # type: ignore[return-value]


class CallFilter:
    """A cheap pre-test before resolving a call's full name against a vocabulary.

    Resolving names (``Project.call_name``) is the costly part of scanning every call of a
    large repository; a call can only match when its last attribute is one the vocabulary
    ends with, or, for patterns ending in a wildcard, when its module imports the pattern's
    root module.
    """

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.lasts: set[str] = set()
        self.roots: set[str] = set()
        self.anything = False
        for pattern in patterns:
            last = pattern.rsplit(".", 1)[-1].replace("()", "")
            if "*" not in last:
                self.lasts.add(last)
                continue
            root = pattern.split(".", 1)[0].replace("()", "")
            if "*" in root:
                self.anything = True
            else:
                self.roots.add(root)

    def module_open(self, imports: list[Any]) -> bool:
        """Whether wildcard-ended patterns may match in a module with these imports."""
        return self.anything or any(i.module.split(".")[0] in self.roots for i in imports)

    def may_match(self, call: Call, module_open: bool) -> bool:
        return module_open or call.name.rsplit(".", 1)[-1] in self.lasts


def last_attr(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class ModuleInfo:
    """Lookup tables for one Python module's facts."""

    def __init__(self, path: str, facts: PyFacts) -> None:
        self.path = path
        self.facts = facts
        self.functions: dict[str, Function] = {f.qualname: f for f in facts.functions}
        self.classes: dict[str, ClassDef] = {c.qualname: c for c in facts.classes}
        self.bindings: dict[str, str] = {}
        for imp in facts.imports:
            if imp.alias != "*":
                self.bindings[imp.alias] = f"{imp.module}.{imp.name}" if imp.name else imp.module
        # Variables by scope: the last assignment wins, as it would at run time for the
        # common "assign once, use later" pattern.
        self.variables: dict[tuple[str, str], Assign] = {}
        for assign in facts.assigns:
            for target in assign.targets:
                self.variables[(assign.scope, target)] = assign
        self.calls_by_scope: dict[str, list[Call]] = {}
        for call in facts.calls:
            self.calls_by_scope.setdefault(call.scope, []).append(call)

    def variable(self, scope: str, name: str) -> Assign | None:
        """The assignment a name refers to in ``scope``, looking outwards to module level."""
        parts = scope.split(".") if scope else []
        while True:
            found = self.variables.get((".".join(parts), name))
            if found is not None:
                return found
            if not parts:
                return None
            parts.pop()


class SymbolTable:
    """Modules of the repository by dotted name, and call resolution across them."""

    def __init__(self, modules: dict[str, ModuleInfo]) -> None:
        self.by_path = modules
        self._resolved: dict[tuple[str, str, str, bool], Target | None] = {}
        self._states: dict[str, tuple[str, Assign]] | None = None
        # Light (text-only) modules that hold a base class some method lookup needed: their
        # classes are unknown until they are parsed (see mlaudit.project.demand).
        self.light_bases: set[str] = set()
        self._modules: dict[tuple[str, str | None], str | None] = {}
        self.by_name: dict[str, list[str]] = {}
        for path, info in sorted(modules.items()):
            parts = info.facts.module.split(".") if info.facts.module else []
            # Register every suffix so `app.model` finds `src/app/model.py` too.
            for start in range(len(parts)):
                self.by_name.setdefault(".".join(parts[start:]), []).append(path)

    def replace_module(self, info: ModuleInfo) -> None:
        """Swap in a module's fuller facts (same path, same name); resolutions are redone."""
        self.by_path[info.path] = info
        self._resolved.clear()
        self._states = None

    # -- modules -------------------------------------------------------------------------
    def find_module(self, dotted: str, near: str | None = None) -> str | None:
        """Path of the module named ``dotted``; the closest to ``near`` when ambiguous."""
        key = (dotted, near.rpartition("/")[0] if near else None)
        if key not in self._modules:
            self._modules[key] = self._find_module(dotted, near)
        return self._modules[key]

    def _find_module(self, dotted: str, near: str | None) -> str | None:
        candidates = self.by_name.get(dotted)
        if not candidates:
            return None
        exact = [p for p in candidates if self.by_path[p].facts.module == dotted]
        pool = exact or candidates
        if len(pool) == 1 or near is None:
            return pool[0]
        near_parts = near.split("/")

        def shared(path: str) -> int:
            count = 0
            for a, b in zip(path.split("/"), near_parts, strict=False):
                if a != b:
                    break
                count += 1
            return count

        return max(pool, key=lambda p: (shared(p), -len(p)))

    def split_module(self, dotted: str, near: str | None) -> tuple[str, str] | None:
        """Split ``pkg.mod.member.attr`` into (module path, ``member.attr``)."""
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            path = self.find_module(".".join(parts[:cut]), near)
            if path is not None:
                return path, ".".join(parts[cut:])
        return None

    def defining_module(self, dotted: str, near: str, depth: int = 0) -> str | None:
        """The project module that should define ``dotted``, following re-exports."""
        if depth > 8 or dotted.startswith("."):
            return None
        split = self.split_module(dotted.replace("()", ""), near)
        if split is None:
            return None
        path, member = split
        info = self.by_path[path]
        head, _, rest = member.partition(".")
        if head in info.functions or head in info.classes:
            return path
        if head in info.bindings:
            target = info.bindings[head] + ("." + rest if rest else "")
            return self.defining_module(target, path, depth + 1) or path
        return path

    # -- resolution ----------------------------------------------------------------------
    def resolve_member(self, path: str, member: str, depth: int = 0) -> Target | None:
        """What ``member`` (``f``, ``Cls``, ``Cls.method``, ``obj.method``) is in a module."""
        if depth > 8:
            return None
        info = self.by_path[path]
        if member in info.functions:
            return Target("function", member, path)
        if member in info.classes:
            return Target("class", member, path)
        head, _, rest = member.partition(".")
        if head in info.classes and rest:
            return self.resolve_method(path, head, rest, depth + 1)
        if head in info.bindings:
            # Re-exported through this module's imports (`from .model import load_model`).
            return self.resolve_dotted(
                info.bindings[head] + ("." + rest if rest else ""), path, depth + 1
            )
        assign = info.variables.get(("", head))
        if assign is not None and rest:
            built = self.instance_class(path, "", assign, depth + 1)
            if built is not None:
                return (
                    self.resolve_method(built.path or path, built.name, rest, depth + 1)
                    if built.kind == "class"
                    else Target("external", f"{built.name}().{rest}")
                )
        return None

    def resolve_method(self, path: str, cls: str, method: str, depth: int = 0) -> Target | None:
        """A method of a project class, looking through project base classes."""
        if depth > 8:
            return None
        info = self.by_path[path]
        qual = f"{cls}.{method}"
        if qual in info.functions:
            return Target("function", qual, path)
        classdef = info.classes.get(cls)
        if classdef is None:
            return None
        for base in classdef.bases:
            base_target = self.resolve_dotted(base, path, depth + 1)
            if base_target is None:
                self._note_light_base(base, path)
            if base_target is not None and base_target.kind == "class" and base_target.path:
                found = self.resolve_method(base_target.path, base_target.name, method, depth + 1)
                if found is not None:
                    return found
        return None

    def _note_light_base(self, base: str, near: str) -> None:
        split = self.split_module(base.replace("()", ""), near)
        if split is not None and self.by_path[split[0]].facts.depth == "light":
            self.light_bases.add(split[0])

    def resolve_dotted(self, dotted: str, near: str, depth: int = 0) -> Target | None:
        """A fully qualified dotted name: a project symbol when a project module defines it."""
        if depth > 8:
            return None
        if dotted.startswith("."):
            return None
        split = self.split_module(dotted.replace("()", ""), near)
        if split is not None:
            path, member = split
            found = self.resolve_member(path, member, depth + 1)
            if found is not None:
                return found
        return None

    def instance_class(
        self, path: str, scope: str, assign: Assign, depth: int = 0
    ) -> Target | None:
        """The class (project or external) an assignment built: ``m = Predictor()``."""
        if assign.value.kind != "call" or not isinstance(assign.value.value, str):
            return None
        # The constructor's name was qualified through imports at extraction: look it up as
        # a project symbol first, so `predictor = Predictor()` with `from predictor import
        # Predictor` does not read `predictor` as the variable being assigned.
        qualified = self.resolve_dotted(assign.value.value, path, depth + 1)
        if qualified is not None and qualified.kind == "class":
            return qualified
        target = self.resolve_call_name(path, assign.scope or scope, assign.value.value, depth + 1)
        if target is not None and target.kind == "class":
            return target
        if target is not None and target.kind == "external":
            return Target("external", target.name)
        return None

    def resolve_call_name(
        self, path: str, scope: str, name: str, depth: int = 0, imported: bool = False
    ) -> Target | None:
        """Resolve a call's dotted name as written in ``scope`` of module ``path``.

        ``imported``: the head was already resolved through the file's imports, so it names
        a module, never a local variable that happens to share its name.
        """
        if depth > 8:
            return None
        info = self.by_path[path]
        if imported:
            found = self.resolve_dotted(name, path, depth + 1)
            if found is not None:
                return found
            if "()" in name:
                before, _, after = name.partition("()")
                inner = self.resolve_dotted(before, path, depth + 1)
                if inner is not None and inner.kind == "class" and inner.path and after:
                    return self.resolve_method(inner.path, inner.name, after.lstrip("."), depth + 1)
            return Target("external", name)
        head, _, rest = name.partition(".")
        if head == "self" and rest:
            cls = self._enclosing_class(info, scope)
            if cls is not None:
                method, _, tail = rest.partition(".")
                if not tail:
                    return self.resolve_method(path, cls, method, depth + 1)
                attr = info.variable(f"{cls}.__init__", f"self.{method}")
                if attr is not None:
                    built = self.instance_class(path, scope, attr, depth + 1)
                    if built is not None and built.kind == "class" and built.path:
                        return self.resolve_method(built.path, built.name, tail, depth + 1)
                    if built is not None:
                        return Target("external", f"{built.name}().{tail}")
                return None
        # A name defined in an enclosing function, then at module level.
        scope_parts = scope.split(".") if scope else []
        for cut in range(len(scope_parts), -1, -1):
            prefix = ".".join(scope_parts[:cut])
            qual = f"{prefix}.{head}" if prefix else head
            if qual in info.functions and not rest:
                return Target("function", qual, path)
            if qual in info.classes:
                return (
                    Target("class", qual, path)
                    if not rest
                    else self.resolve_method(path, qual, rest, depth + 1)
                )
        if head in ("self", "cls"):
            return None
        if rest:
            typed = self._parameter_class(info, path, scope, head, depth + 1)
            if typed is not None and typed.path:
                # `service: PredictionService = Depends(...)`; `service.score(x)`
                method, _, tail = rest.partition(".")
                if not tail:
                    return self.resolve_method(typed.path, typed.name, method, depth + 1)
        if rest:
            state = self._state_class(name.rpartition(".")[0], depth + 1)
            if state is not None and state.path:
                # `request.app.state.model.predict()` where `app.state.model = Model(...)`
                return self.resolve_method(state.path, state.name, last_attr(name), depth + 1)
        assign = info.variable(scope, head)
        if assign is not None and rest and assign.annotation:
            typed = self._annotated_class(path, assign.annotation, depth + 1)
            if typed is not None and typed.path and "." not in rest:
                # `model: HousePriceModel = request.app.state.model; model.predict(x)`
                return self.resolve_method(typed.path, typed.name, rest, depth + 1)
        if assign is not None and rest and head not in info.bindings:
            built = self.instance_class(path, scope, assign, depth + 1)
            if built is not None and built.kind == "class" and built.path:
                return self.resolve_method(built.path, built.name, rest, depth + 1)
            if built is not None:
                return Target("external", f"{built.name}().{rest}")
            if assign.value.kind == "name" and isinstance(assign.value.value, str):
                return self.resolve_call_name(
                    path, scope, f"{assign.value.value}.{rest}", depth + 1
                )
        if "." in name or head in info.bindings:
            found = self.resolve_dotted(name, path, depth + 1)
            if found is not None:
                return found
            if "()" in name:
                # `Cls().method` or `factory().method`: resolve what the call returns.
                before, _, after = name.partition("()")
                inner = self.resolve_call_name(path, scope, before, depth + 1)
                if inner is not None and inner.kind == "class" and inner.path and after:
                    return self.resolve_method(inner.path, inner.name, after.lstrip("."), depth + 1)
            return Target("external", name)
        return Target("external", name) if head in info.bindings else None

    def resolve_call(self, path: str, call: Call) -> Target | None:
        key = (path, call.scope, call.name, call.imported)
        if key in self._resolved:
            return self._resolved[key]
        target = self.resolve_call_name(path, call.scope, call.name, imported=call.imported)
        self._resolved[key] = target
        return target

    def _state_class(self, owner: str, depth: int) -> Target | None:
        """The project class of an ``app.state`` attribute: ``request.app.state.model`` is
        a ``HousePriceModel`` where any module sets ``app.state.model = HousePriceModel()``."""
        parts = owner.split(".")
        if "state" not in parts[:-1] or parts[-1] == "state":
            return None
        attr = ".".join(parts[len(parts) - parts[::-1].index("state") :])
        if self._states is None:
            self._states = {}
            for path, info in sorted(self.by_path.items()):
                for assign in info.facts.assigns:
                    for target in assign.targets:
                        tparts = target.split(".")
                        if "state" not in tparts[:-1]:
                            continue
                        key = ".".join(tparts[len(tparts) - tparts[::-1].index("state") :])
                        if key not in self._states:
                            self._states[key] = (path, assign)
        found = self._states.get(attr)
        if found is None:
            return None
        built = self.instance_class(found[0], found[1].scope, found[1], depth + 1)
        return built if built is not None and built.kind == "class" else None

    def _parameter_class(
        self, info: ModuleInfo, path: str, scope: str, name: str, depth: int
    ) -> Target | None:
        """The project class a parameter of the enclosing function is annotated with."""
        parts = scope.split(".") if scope else []
        while parts:
            function = info.functions.get(".".join(parts))
            if function is not None:
                param = next((p for p in function.params if p.name == name), None)
                if param is not None:
                    return self._annotated_class(path, param.annotation, depth)
            parts.pop()
        return None

    def _annotated_class(self, path: str, annotation: str | None, depth: int) -> Target | None:
        if not annotation:
            return None
        for word in _TYPE_WORD.findall(annotation):
            if word in _TYPING_WORDS:
                continue
            found = self.resolve_dotted(word, path, depth + 1) if "." in word else None
            if found is None:
                found = self.resolve_call_name(path, "", word, depth + 1)
            if found is not None and found.kind == "class" and found.path:
                return found
        return None

    @staticmethod
    def _enclosing_class(info: ModuleInfo, scope: str) -> str | None:
        function = info.functions.get(scope)
        if function is not None and function.class_name:
            return function.class_name
        parts = scope.split(".")
        while parts:
            parts.pop()
            candidate = ".".join(parts)
            if candidate in info.classes:
                return candidate
        return None

    def function(self, ref: FuncRef) -> Function | None:
        info = self.by_path.get(ref.path)
        return info.functions.get(ref.qualname) if info else None

    def calls_in(self, ref: FuncRef) -> list[Call]:
        """Calls made directly in a function's body (nested functions excluded)."""
        info = self.by_path.get(ref.path)
        return info.calls_by_scope.get(ref.qualname, []) if info else []

    def external_name(self, path: str, call: Call) -> str:
        """The call's name with local instances expanded: ``run.track`` -> ``aim.Run().track``,
        and vendored aliases named as the library (``sklearn.externals.joblib.load`` ->
        ``joblib.load``)."""
        target = self.resolve_call(path, call)
        name = target.name if target is not None and target.kind == "external" else call.name
        head = name.split(".", 3)
        for size in (3, 2):
            alias = _MODULE_ALIASES.get(".".join(head[:size]))
            if alias is not None and len(head) > size:
                return alias + name[len(".".join(head[:size])) :]
        return name
