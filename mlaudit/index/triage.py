"""Decide from the text alone which Python files need the full libcst pass.

libcst's parse is most of a scan's cost (DESIGN.md, "The performance budget"), and most of a
large repository is code no check looks at: library internals, tests without metric
assertions. A file gets the full pass when its text holds a trigger: a name some check looks
for anywhere (derived from the catalog vocabularies, so new vocabulary needs no change here),
a ``__main__`` block, a web route, a metric assertion in a test. Every other file gets a light
record (its imports, read with a regular expression), and the scan asks for the full pass of
any light module that a training entry point or a request handler turns out to call
(``mlaudit.project.demand``). Setting MLAUDIT_FULL_PASS=1 parses every file, which the tests
use to prove triage loses nothing.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from mlaudit.index.facts import Import, PyFacts
from mlaudit.index.modules import module_name

# Vocabularies that only matter on a path from an entry point or a request handler: the
# files they appear in are parsed when such a path reaches them, not up front.
REACH_ONLY: frozenset[tuple[str, str]] = frozenset(
    {
        ("ML307", "loaders"),
        ("ML307", "caches"),
        ("ML102", "seed-calls-global"),
        ("ML102", "seed-calls"),
        ("ML102", "random-calls"),
        ("ML102", "random-state-calls"),
        ("ML102", "shuffle-only-calls"),
        ("ML102", "implicit-training-calls"),
        ("SERVES", "inference-methods"),
        ("ML406", "log-calls"),
        ("ML404", "log-calls"),
        ("ML407", "print-calls"),
        ("ML404", "observe-calls"),
        ("SERVES", "inference-calls"),
        ("SERVES", "model-constructors"),
        ("ML203", "fit-methods"),
        ("ML306", "body-reads"),
        ("ML306", "validators"),
        ("ML306", "validating-decorators"),
        ("ML309", "field-validators"),
        ("ML309", "frame-calls"),
        ("ML310", "offload-calls"),
        ("ML305", "signal-calls"),
    }
)
# Vocabulary keys that are not call names (paths, CLI words, file names).
NOT_CALLS: frozenset[str] = frozenset(
    {
        "liveness-paths",
        "readiness-paths",
        "eval-commands",
        "threshold-flags",
        "metric-names",
        "test-commands",
        "lock-files",
        "kinds",
        "deploy-commands",
        "deploy-files",
        "manifest-kinds",
        "ml-modules",
        "framework-health",
        "tracker-modules",
        "exempt-images",
        "server-commands",
        "validation-commands",
        "validation-modules",
        "feature-function-names",
        "feature-modules",
        "load-test-tools",
        "load-test-paths",
        "load-test-modules",
        "metric-modules",
        "framework-metrics",
        "drift-modules",
        "client-modules",
        "prediction-words",
        "request-id-words",
        "version-words",
        "latency-words",
        "monitoring-modules",
        "safe-loaders",
        "raw-types",
        "confidence-keys",
        "bound-keywords",
        "servers",
        "draining-servers",
        "draining-frameworks",
        "shutdown-kwargs",
        "debug-kwargs",
        "validation-kwargs",
        "held-out-words",
        "score-methods",
        "card-files",
        "hugging-face-keys",
        "section-training-data",
        "section-intended-use",
        "section-limitations",
        "section-evaluation",
        "machine-path-patterns",
        "versioning-modules",
        "feature-store-modules",
        "ml-serving",
        "management-words",
        "not-training",
        "deploy-actions",
        "comparison-commands",
        "eval-methods",
        "framework-access-logs",
        "serving-base-images",
    }
)
_ROUTE_DECORATOR = re.compile(
    r"^[ \t]*@[\w.]+\.(?:get|post|put|delete|patch|route|api_route|websocket)\s*\(",
    re.MULTILINE,
)
_ROUTE_WORDS = (
    "FastAPI",
    "APIRouter",
    "Flask",
    "Blueprint",
    "Starlette",
    "include_router",
    "register_blueprint",
    "add_url_rule",
    "add_api_route",
    "bentoml",
    "serve.deployment",
    "kserve",
    "litestar",
    "RouteTableDef",
    "router.add_",
    "urlpatterns",
    "gradio",
    "streamlit",
    "starlette.routing",
    "flask_restx",
    "flask_restplus",
    "flask_restful",
)
_LAMBDA_HANDLER = re.compile(r"def\s+\w+\s*\(\s*_?event\s*,\s*_?(?:context|ctx)\b")
# Managed-platform inference scripts: SageMaker's model_fn, Azure ML's init()/run().
_PLATFORM_HANDLER = re.compile(r"^def[ \t]+(?:model_fn|init[ \t]*\([ \t]*\))", re.MULTILINE)
_MAIN = re.compile(r"""^if\s+__name__\s*==\s*['"]__main__['"]""", re.MULTILINE)
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n#;]+)"
    r"|import[ \t]+(?P<modules>[^\n#;]+))",
    re.MULTILINE,
)


def is_routing(text: str) -> bool:
    """A web application, router or route decorator: request handlers live here."""
    return (
        any(word in text for word in _ROUTE_WORDS)
        or ("@" in text and _ROUTE_DECORATOR.search(text) is not None)
        or ("event" in text and _LAMBDA_HANDLER.search(text) is not None)
        or (("model_fn" in text or "init" in text) and _PLATFORM_HANDLER.search(text) is not None)
    )


class _Requirement:
    """What the text of a file must contain for one vocabulary pattern to possibly match.

    A pattern rooted in a module (``numpy.load``, ``transformers.*.from_pretrained``) must be
    spelled in the text through one of the file's own imports (``np.load(``,
    ``AutoModel.from_pretrained(``, ``load(`` after ``from numpy import load``). A part led by
    a wildcard (``*.fit``, ``*Trainer().train``, the ``.track`` of ``aim.Run().track``) is a
    method on an object of unknown name, so its literal chain must appear as a call.
    """

    def __init__(self, pattern: str) -> None:
        parts = pattern.split("()")
        self.root: str | None = None
        self.head: list[str] = []
        self.words: frozenset[str] = frozenset()
        self.regexes: tuple[tuple[re.Pattern[str], str], ...] = ()
        if "." not in pattern and "(" not in pattern and "*" not in pattern:
            # A bare name (a constant such as SIGTERM): the word itself must appear.
            self.words = frozenset({pattern})
            self.regexes = ((re.compile(_segment_regex(pattern)), "free"),)
            return
        if not pattern.startswith(("*", ".")):
            self.head = parts[0].split(".")
            self.root = self.head[0]
            parts = parts[1:]
        regexes: list[tuple[re.Pattern[str], str]] = []
        words: set[str] = set()
        for part in parts:
            if not part:
                continue
            chain = part[1:] if part.startswith("*.") else part
            words.update(s for s in chain.split(".") if s and "*" not in s and s.isidentifier())
            segments = chain.split(".")
            # `.fit`: right after a dot; `*optimizer.step`: anything may come before.
            mode = "method" if segments[0] == "" else "free" if chain.startswith("*") else "name"
            body = "\\.".join(_segment_regex(s, bound_left=False) for s in segments if s)
            regexes.append((re.compile(body + r"\s*\("), mode))
        self.words = frozenset(words)
        self.regexes = tuple(regexes)

    def spellings(self, bindings: list[tuple[str, list[str]]]) -> list[str]:
        """Regexes for the ways this file's imports can spell the pattern's head."""
        found = []
        for alias, target in bindings:
            if len(target) > len(self.head) or not all(
                fnmatch.fnmatchcase(t, h) for t, h in zip(target, self.head, strict=False)
            ):
                continue
            rest = [_segment_regex(s) for s in self.head[len(target) :]]
            # A reference, not necessarily a call: base classes and decorators count too.
            found.append("\\.".join([re.escape(alias), *rest]) + r"(?!\w)")
        return found

    def matches(self, text: str, bindings_by_root: dict[str, list[tuple[str, list[str]]]]) -> bool:
        if self.root is not None:
            bindings = bindings_by_root.get(self.root)
            if not bindings:
                return False
            if not any(_spelled(_compiled(r), text) for r in self.spellings(bindings)):
                return False
        return all(_spelled(regex, text, mode) for regex, mode in self.regexes)


@lru_cache(maxsize=4096)
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _spelled(regex: re.Pattern[str], text: str, mode: str = "name") -> bool:
    """A match where ``mode`` allows it: ``name`` starts a name (``np.load(``, not
    ``xnp.load(``), ``method`` comes right after a dot (``.fit(``), ``free`` anywhere. The
    regexes start with a literal, which the engine scans for fast; a leading ``\\b`` or
    ``\\.`` would defeat that."""
    for match in regex.finditer(text):
        if mode == "free":
            return True
        start = match.start()
        before = text[start - 1] if start else ""
        if mode == "method":
            if before == ".":
                return True
        elif not (before.isalnum() or before in "_."):
            return True
    return False


def _segment_regex(segment: str, bound_left: bool = True) -> str:
    """A pattern segment as a search regex. A leading wildcard just drops the word boundary
    (``*Trainer`` finds ``Seq2SeqTrainer``) rather than starting with a costly ``\\w*``."""
    pieces = [re.escape(p) for p in segment.strip("*").split("*")]
    text = r"\w*".join(pieces)
    if bound_left and not segment.startswith("*"):
        text = r"\b" + text
    text += r"\w*" if segment.endswith("*") else r"\b"
    return text


def full_pass_forced() -> bool:
    return os.environ.get("MLAUDIT_FULL_PASS", "") not in ("", "0")


class Triage:
    """The text tests, compiled once from the catalog vocabularies."""

    def __init__(
        self,
        vocabularies: Iterable[tuple[str, str, Sequence[str]]],
        metric_names: Iterable[str] = (),
        definitions: Iterable[str] = (),
        module_names: Iterable[str] = (),
        identifier_words: Iterable[str] = (),
        module_definitions: Iterable[str] = (),
    ) -> None:
        # Words whose names are facts (ML109's `baseline_mse`, `production_model`).
        self._identifier_words = tuple(w.lower() for w in identifier_words)
        # Files defining functions some check inventories get the full pass, and modules
        # named like feature code: their functions are the facts. ``definitions`` count at
        # any depth (ML107's ``validation_step`` methods); ``module_definitions`` only
        # outside classes and functions (ML604 looks at module-level feature functions, so a
        # pipeline class's ``encode_prompt`` method is no reason to parse its file).
        self._definitions = _def_regex(definitions, r"^[ \t]*")
        self._module_definitions = _def_regex(module_definitions, r"^")
        self._indented_definitions = _def_regex(module_definitions, r"^[ \t]+")
        self._feature_name = (
            re.compile("|".join(fnmatch.translate(n) for n in module_definitions))
            if module_definitions
            else None
        )
        self._module_names = tuple(module_names)
        self.requirements: list[_Requirement] = []
        self._keywords: list[tuple[str, re.Pattern[str]]] = []
        for owner, key, patterns in vocabularies:
            if key in NOT_CALLS or (owner, key) in REACH_ONLY:
                continue
            if key.endswith("kwargs"):  # keyword arguments (trust_remote_code=...), any call
                self._keywords.extend(
                    (p, re.compile(re.escape(p) + r"\s*=(?!=)")) for p in patterns
                )
                continue
            self.requirements.extend(_Requirement(p) for p in patterns if p.strip("*."))
        # Rooted patterns are tested only in files that import their root module.
        self._by_root: dict[str, list[_Requirement]] = {}
        self._unrooted: list[_Requirement] = []
        for requirement in self.requirements:
            if requirement.root is not None:
                self._by_root.setdefault(requirement.root, []).append(requirement)
            else:
                self._unrooted.append(requirement)
        metrics = "|".join(sorted(map(re.escape, metric_names), key=len, reverse=True))
        # A test matters to checks when it asserts a metric against a number (ML603) or
        # calls the service (TestClient).
        self._test = re.compile(
            r"TestClient|test_client\(|ASGITransport|HTTPServer\(|HTTPClient"
            r"|^[ \t]*assert\b(?=[^\n]*\b(?:\w+_)?(?:"
            + (metrics or "accuracy")
            + r")\w*\b)(?=[^\n]*(?:[<>]=?\s*[-+]?\.?\d|\d\s*[<>]))",
            re.MULTILINE,
        )

    def needs_full_pass(self, path: str, text: str, is_test: bool) -> bool:
        if is_test:
            return bool(self._test.search(text))
        if _MAIN.search(text) or is_routing(text):
            return True
        if path.rsplit("/", 1)[-1] == "noxfile.py":
            return True  # CI runs its sessions: their session.run() calls are commands
        if self._identifier_words:
            lower = text.lower()
            if any(word in lower for word in self._identifier_words):
                return True
        if self._definitions is not None and self._definitions.search(text):
            return True
        if self._module_definitions is not None and self._module_definitions.search(text):
            return True
        if self._module_names:
            parts = path.removesuffix(".py").split("/")
            if any(fnmatch.fnmatchcase(p, n) for p in parts for n in self._module_names):
                return True
        if any(word in text and regex.search(text) for word, regex in self._keywords):
            return True
        bindings_by_root: dict[str, list[tuple[str, list[str]]]] = {}
        for alias, target in _import_bindings(text):
            bindings_by_root.setdefault(target.split(".")[0], []).append((alias, target.split(".")))
        for root, requirements in self._by_root.items():
            if root in bindings_by_root and any(
                r.matches(text, bindings_by_root) for r in requirements
            ):
                return True
        # Patterns with no module root: substring tests first (fast, in C), then regexes.
        for requirement in self._unrooted:
            if all(w in text for w in requirement.words) and requirement.matches(
                text, bindings_by_root
            ):
                return True
        # An indented definition of a feature-function name is a method (no reason) or a
        # module-level function under an ``if``/``try`` (a reason): Python's own parser,
        # far cheaper than libcst, tells them apart.
        if self._indented_definitions is not None and self._indented_definitions.search(text):
            return self._module_level_definition(text)
        return False

    def _module_level_definition(self, text: str) -> bool:
        """Whether a function outside every class and function has a feature-function name
        (what the extractor records with a dot-free qualname). Unparsable text: yes, so
        the full pass reports the error."""
        assert self._feature_name is not None
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return True
        pending: list[ast.AST] = [tree]
        while pending:
            node = pending.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    if self._feature_name.match(child.name):
                        return True
                elif not isinstance(child, (ast.ClassDef, ast.expr)):
                    pending.append(child)  # if/try/with/for bodies at module level
        return False


@lru_cache(maxsize=1)
def default_triage() -> Triage:
    from mlaudit.catalog import load_catalog, load_traits_vocabulary

    vocabularies: list[tuple[str, str, Sequence[str]]] = []
    for rule in load_catalog().values():
        vocabularies.extend((rule.code, k, v) for k, v in rule.vocabulary.items())
    for trait, entries in load_traits_vocabulary().items():
        vocabularies.extend((trait, k, v) for k, v in entries.items())
    catalog = load_catalog()
    metrics = catalog["ML603"].vocab("metric-names") if "ML603" in catalog else []
    features = catalog.get("ML604")
    eval_methods = catalog["ML107"].vocab("eval-methods") if "ML107" in catalog else ()
    return Triage(
        vocabularies,
        metrics,
        eval_methods,
        features.vocab("feature-modules") if features else (),
        catalog["ML109"].vocab("text-words") if "ML109" in catalog else (),
        features.vocab("feature-function-names") if features else (),
    )


def _def_regex(names: Iterable[str], indent: str) -> re.Pattern[str] | None:
    """``def NAME(`` for names given as ``*`` patterns, after ``indent``."""
    words = [re.escape(d).replace(r"\*", r"\w*") for d in names]
    if not words:
        return None
    return re.compile(
        indent + r"(?:async[ \t]+)?def[ \t]+(?:" + "|".join(words) + r")[ \t]*\(", re.M
    )


def _import_bindings(text: str) -> list[tuple[str, str]]:
    """(local name, qualified target) of the absolute imports in ``text``."""
    bindings: list[tuple[str, str]] = []
    for match in _IMPORT.finditer(text):
        if match.group("modules"):
            for part in match.group("modules").split(","):
                name, _, alias = part.strip().partition(" as ")
                name = name.strip()
                if alias.strip():
                    bindings.append((alias.strip(), name))
                elif name:
                    bindings.append((name.split(".")[0], name.split(".")[0]))
            continue
        base = match.group("base") or ""
        if not base or base.startswith("."):
            continue
        for part in match.group("names").strip().strip("()").replace("\n", " ").split(","):
            member, _, alias = part.strip().partition(" as ")
            member = member.strip()
            if member and member != "*":
                bindings.append((alias.strip() or member, f"{base}.{member}"))
    return bindings


def light_facts(path: str, text: str) -> PyFacts:
    """Imports (for the import graph and re-exports) and the main guard, from the text."""
    facts = PyFacts(module=module_name(path), depth="light")
    package = facts.module if path.endswith("__init__.py") else facts.module.rpartition(".")[0]
    for match in _IMPORT.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match.group("modules"):
            for part in match.group("modules").split(","):
                name, _, alias = part.strip().partition(" as ")
                name = name.strip()
                if not re.fullmatch(r"[\w.]+", name):
                    continue
                local = alias.strip() or name.split(".")[0]
                facts.imports.append(Import(name, None, local, line))
            continue
        base = match.group("base") or ""
        level = len(base) - len(base.lstrip("."))
        base = base.lstrip(".")
        unresolved = 0
        if level:
            anchor = package.split(".") if package else []
            if level - 1 <= len(anchor):
                anchor = anchor[: len(anchor) - (level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            else:
                unresolved = level
        names = match.group("names").strip().strip("()")
        for part in names.replace("\n", " ").split(","):
            member, _, alias = part.strip().partition(" as ")
            member = member.strip()
            if not re.fullmatch(r"\w+|\*", member):
                continue
            facts.imports.append(Import(base, member, alias.strip() or member, line, unresolved))
    main = _MAIN.search(text)
    if main:
        facts.has_main = True
        facts.main_line = text.count("\n", 0, main.start()) + 1
    return facts
