"""Prose and config files: catalog words with their lines, markdown headings and YAML front
matter, ``.gitattributes`` LFS patterns. Regular expressions over the text, no parser."""

from __future__ import annotations

import functools
import re

from mlaudit.index.facts import FileFacts, TextHit

TEXT_KINDS = frozenset({"markdown", "yaml", "toml", "config"})
MAX_WORD_HITS = 50
_HEADING = re.compile(
    r"^(?:#{1,6}[ \t]+(?P<atx>[^\n]+?)[ \t#]*$|(?P<setext>[^\n]+)\n(?:=+|-+)[ \t]*$)", re.MULTILINE
)
_FRONT_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def catalog_words() -> tuple[str, ...]:
    """Every ``text-words`` vocabulary of the catalog, lowercased."""
    from mlaudit.catalog import load_catalog

    words: set[str] = set()
    for rule in load_catalog().values():
        words.update(w.lower() for w in rule.vocab("text-words"))
    return tuple(sorted(words))


@functools.lru_cache(maxsize=1)
def _words_regex() -> re.Pattern[str] | None:
    words = catalog_words()
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


@functools.lru_cache(maxsize=1)
def _machine_path_regex() -> re.Pattern[str] | None:
    """``key: /home/...`` (YAML) or ``key = "/Users/..."`` (TOML, INI) for ML205."""
    from mlaudit.catalog import load_catalog

    rule = load_catalog().get("ML205")
    patterns = [p.lstrip("^") for p in rule.vocab("machine-path-patterns")] if rule else []
    if not patterns:
        return None
    return re.compile(
        r"^[ \t]*-?[ \t]*[\"']?(?P<key>[\w.-]+)[\"']?[ \t]*[:=][ \t]*[\"']?(?P<value>(?:"
        + "|".join(patterns)
        + r")[^\"'\n#]*)",
        re.MULTILINE,
    )


_NUMBER = re.compile(r"(?<![\w.-])\d+(?:\.\d+)?%?(?![\w-])")
_LINKS = re.compile(r"https?://\S+|\]\([^)]*\)")


def _states_a_result(text: str, offset: int) -> bool:
    """A markdown line that records something: a heading, a table row, or a number (link
    targets are not numbers: ``linkedin.com/in/name-b0a34019b``)."""
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    line = _LINKS.sub(" ", text[start : end if end != -1 else len(text)]).strip()
    return line.startswith(("#", "|")) or _NUMBER.search(line) is not None


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def text_facts(facts: FileFacts, kind: str, text: str) -> None:
    regex = _words_regex()
    if regex is not None:
        lower = text.lower()
        seen: set[str] = set()
        for match in regex.finditer(lower):
            word = match.group(0)
            if word in seen:
                continue
            if kind == "markdown" and not _states_a_result(lower, match.start()):
                continue  # prose that names a baseline ("credits: the baseline model")
            seen.add(word)
            facts.words.append(TextHit(word, _line(lower, match.start())))
            if len(facts.words) >= MAX_WORD_HITS:
                break
    if kind != "markdown":
        paths = _machine_path_regex()
        if paths is not None and ("/" in text or "\\" in text):
            for match in paths.finditer(text):
                value = match.group("value").strip()
                facts.machine_paths.append(
                    TextHit(f"{match.group('key')}={value}", _line(text, match.start("key")))
                )
                if len(facts.machine_paths) >= MAX_WORD_HITS:
                    break
        return
    body_start = 0
    if text.startswith("---"):
        end = re.search(r"^(?:---|\.\.\.)[ \t]*$", text[3:], re.MULTILINE)
        if end is not None and text[3:4] in ("\n", "\r"):
            block = text[3 : 3 + end.start()]
            facts.front_matter = sorted(set(_FRONT_KEY.findall(block)))
            body_start = 3 + end.end()
    for match in _HEADING.finditer(text, body_start):
        heading = (match.group("atx") or match.group("setext") or "").strip()
        if heading and not heading.startswith(("|", "-", "=")):
            facts.headings.append(TextHit(heading.lower()[:120], _line(text, match.start())))


def gitattributes_facts(facts: FileFacts, text: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            facts.lfs_patterns.append(TextHit(parts[0], number))
