"""Gitignore-style path patterns shared by `exclude` and `per-file-ignores`.

One matcher so that a pattern means the same thing wherever a user writes it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable


def _normalise(pattern: str) -> str:
    return pattern.strip().replace("\\", "/").removeprefix("./")


def path_matches(path: str, pattern: str) -> bool:
    """True when the repo-relative posix ``path`` is matched by ``pattern``.

    As in .gitignore: a pattern without a slash (other than a trailing one) matches any
    path component; a pattern with a slash is anchored at the scanned root; a trailing
    slash or a directory name matches everything below that directory.
    """
    pat = _normalise(pattern)
    if not pat:
        return False
    dir_only = pat.endswith("/")
    pat = pat.rstrip("/")
    parts = path.split("/")
    if "/" not in pat:
        # Any component (a directory, or the file itself unless the pattern is dir-only).
        candidates = parts[:-1] if dir_only else parts
        return any(fnmatch.fnmatchcase(part, pat) for part in candidates)
    pat = pat.lstrip("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if dir_only:
        prefixes = prefixes[:-1]
    return any(fnmatch.fnmatchcase(prefix, pat) for prefix in prefixes)


def any_matches(path: str, patterns: Iterable[str]) -> bool:
    """True when any pattern matches ``path``."""
    return any(path_matches(path, p) for p in patterns)
