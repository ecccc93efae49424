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
        "validation-kwargs",
        "held-out-words",
        "score-methods",
        "card-files",
        "hugging-face-keys",
        "section-training-data",
        "section-intended-use",
        "section-limitations",
        "section-evaluation",
        "validation-modules",
        "machine-path-patterns",
        "versioning-modules",
        "feature-function-names",
        "feature-store-modules",
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
)
_MAIN = re.compile(r"""^if\s+__name__\s*==\s*['"]__main__['"]""", re.MULTILINE)
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n#;]+)"
    r"|import[ \t]+(?P<modules>[^\n#;]+))",
    re.MULTILINE,
)


def is_routing(text: str) -> bool:
    """A web application, router or route decorator: request handlers live here."""
    return any(word in text for word in _ROUTE_WORDS) or (
        "@" in text and _ROUTE_DECORATOR.search(text) is not None
    )


class _Requirement:
    """What the text of a file must contain for one vocabulary pattern to possibly match.

    Every literal segment of the dotted pattern appears in the text as a word (in the import
    line or the attribute chain); a part led by a wildcard (``*.fit``, ``*Trainer().train``)
    is a method on an object of unknown name, so its literal chain must appear as a call.
    """

    def __init__(self, pattern: str) -> None:
        words: set[str] = set()
        regexes: list[re.Pattern[str]] = []
        for index, part in enumerate(pattern.split("()")):
            if not part:
                continue
            segments = part.split(".")
            words.update(
                s for s in segments if s and "*" not in s and s.isidentifier() and s != "self"
            )
            for segment in segments:
                if "*" in segment and segment.strip("*"):
                    regexes.append(re.compile(_segment_regex(segment)))
            if part.startswith(("*", ".")) or index > 0:
                chain = part[1:] if part.startswith("*.") else part
                body = "\\.".join(_segment_regex(s) if s else "" for s in chain.split("."))
                regexes.append(re.compile(body + r"\s*\("))
        self.words = frozenset(words)
        self.regexes = tuple(regexes)


def _segment_regex(segment: str) -> str:
    """A pattern segment as a search regex; a wildcard at either end just drops the word
    boundary on that side (``*Trainer`` finds ``Seq2SeqTrainer``) without a costly ``\\w*``."""
    pieces = [re.escape(p) for p in segment.strip("*").split("*")]
    text = r"\w*".join(pieces)
    if not segment.startswith("*"):
        text = r"\b" + text
    if not segment.endswith("*"):
        text += r"\b"
    return text


def full_pass_forced() -> bool:
    return os.environ.get("MLAUDIT_FULL_PASS", "") not in ("", "0")


class Triage:
    """The text tests, compiled once from the catalog vocabularies."""

    def __init__(
        self,
        vocabularies: Iterable[tuple[str, str, Sequence[str]]],
        metric_names: Iterable[str] = (),
    ) -> None:
        self.requirements: list[_Requirement] = []
        for owner, key, patterns in vocabularies:
            if key in NOT_CALLS or (owner, key) in REACH_ONLY:
                continue
            self.requirements.extend(_Requirement(p) for p in patterns if p.strip("*."))
        # Index each requirement under one of its words, so a file is tested only against
        # the requirements whose word it contains; word-less ones are always tested.
        self._by_word: dict[str, list[_Requirement]] = {}
        self._wordless: list[_Requirement] = []
        for requirement in self.requirements:
            if requirement.words:
                key_word = max(requirement.words, key=len)
                self._by_word.setdefault(key_word, []).append(requirement)
            else:
                self._wordless.append(requirement)
        metrics = "|".join(sorted(map(re.escape, metric_names), key=len, reverse=True))
        self._test = re.compile(
            r"TestClient|^[ \t]*assert\b[^\n]*\b(?:\w+_)?(?:"
            + (metrics or "accuracy")
            + r")\w*\b[^\n]*[<>]",
            re.MULTILINE,
        )

    def needs_full_pass(self, path: str, text: str, is_test: bool) -> bool:
        if is_test:
            return bool(self._test.search(text))
        if _MAIN.search(text) or is_routing(text):
            return True
        # Substring tests first (fast, in C); the regexes then confirm word boundaries.
        for key_word, requirements in self._by_word.items():
            if key_word not in text:
                continue
            for requirement in requirements:
                if all(w in text for w in requirement.words) and all(
                    r.search(text) for r in requirement.regexes
                ):
                    return True
        return any(all(r.search(text) for r in q.regexes) for q in self._wordless)


@lru_cache(maxsize=1)
def default_triage() -> Triage:
    from mlaudit.catalog import load_catalog, load_traits_vocabulary

    vocabularies: list[tuple[str, str, Sequence[str]]] = []
    for rule in load_catalog().values():
        vocabularies.extend((rule.code, k, v) for k, v in rule.vocabulary.items())
    for trait, entries in load_traits_vocabulary().items():
        vocabularies.extend((trait, k, v) for k, v in entries.items())
    metrics = load_catalog()["ML603"].vocab("metric-names") if "ML603" in load_catalog() else []
    return Triage(vocabularies, metrics)


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
