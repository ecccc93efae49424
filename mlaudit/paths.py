"""Gitignore-style path patterns shared by `exclude` and `per-file-ignores`.

One matcher so that a pattern means the same thing wherever a user writes it.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable


def _normalise(pattern: str) -> str:
    return pattern.strip().replace("\\", "/").removeprefix("./")


_GLOB_CHARS = frozenset("*?[")


@functools.lru_cache(maxsize=4096)
def _matcher(pattern: str) -> tuple[bool, bool, Callable[[str], object]] | None:
    """(dir_only, anchored, match) of a pattern, compiled once per scan."""
    pat = _normalise(pattern)
    if not pat:
        return None
    dir_only = pat.endswith("/")
    pat = pat.rstrip("/")
    anchored = "/" in pat
    if anchored:
        pat = pat.lstrip("/")
    if _GLOB_CHARS.isdisjoint(pat):
        return dir_only, anchored, pat.__eq__
    return dir_only, anchored, re.compile(fnmatch.translate(pat)).match


def path_matches(path: str, pattern: str) -> bool:
    """True when the repo-relative posix ``path`` is matched by ``pattern``.

    As in .gitignore: a pattern without a slash (other than a trailing one) matches any
    path component; a pattern with a slash is anchored at the scanned root; a trailing
    slash or a directory name matches everything below that directory.
    """
    compiled = _matcher(pattern)
    if compiled is None:
        return False
    dir_only, anchored, match = compiled
    parts = path.split("/")
    if not anchored:
        # Any component (a directory, or the file itself unless the pattern is dir-only).
        candidates = parts[:-1] if dir_only else parts
        return any(match(part) for part in candidates)
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if dir_only:
        prefixes = prefixes[:-1]
    return any(match(prefix) for prefix in prefixes)


def any_matches(path: str, patterns: Iterable[str]) -> bool:
    """True when any pattern matches ``path``."""
    return _pattern_set(tuple(patterns)).matches(path)


class _PatternSet:
    """Many patterns matched at once: literal component names by set lookup, component
    globs by one combined regular expression, anchored patterns one by one."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.names: tuple[set[str], set[str]] = (set(), set())  # (any component, dirs only)
        globs: tuple[list[str], list[str]] = ([], [])
        self.anchored: list[str] = []
        for pattern in patterns:
            compiled = _matcher(pattern)
            if compiled is None:
                continue
            dir_only, anchored, _ = compiled
            if anchored:
                self.anchored.append(pattern)
                continue
            name = _normalise(pattern).rstrip("/")
            if _GLOB_CHARS.isdisjoint(name):
                self.names[dir_only].add(name)
            else:
                globs[dir_only].append(fnmatch.translate(name))
        self.globs = tuple(
            re.compile("|".join(f"(?:{g})" for g in group)).match if group else None
            for group in globs
        )

    def matches(self, path: str) -> bool:
        parts = path.split("/")
        directories = parts[:-1]
        if not self.names[0].isdisjoint(parts) or not self.names[1].isdisjoint(directories):
            return True
        every, dirs_only = self.globs
        if every is not None and any(every(part) for part in parts):
            return True
        if dirs_only is not None and any(dirs_only(part) for part in directories):
            return True
        return any(path_matches(path, pattern) for pattern in self.anchored)


@functools.lru_cache(maxsize=64)
def _pattern_set(patterns: tuple[str, ...]) -> _PatternSet:
    return _PatternSet(patterns)
