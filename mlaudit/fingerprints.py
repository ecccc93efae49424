"""Code excerpts and stable fingerprints for findings.

A fingerprint must survive unrelated edits (lines inserted above a finding), so it hashes
the rule, the path, the enclosing symbol and the whitespace-normalised source line, plus an
occurrence index among identical findings — never the line number.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from mlaudit.results import CheckResult, Finding

CONTEXT_LINES = 1


class SourceLines:
    """Lines of the files findings point at, read lazily and at most once each."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lines: dict[str, list[str]] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self._lines:
            try:
                data = (self.root / path).read_bytes()[:4_000_000]
                text = data.decode("utf-8-sig", errors="replace")
                self._lines[path] = text.splitlines()
            except OSError:
                self._lines[path] = []
        return self._lines[path]

    def line(self, path: str, number: int) -> str:
        lines = self.lines(path)
        return lines[number - 1] if 0 < number <= len(lines) else ""


def _normalise(text: str) -> str:
    return " ".join(text.split())


def repo_fingerprint(code: str) -> str:
    """The fingerprint of a repo-level verdict: one per rule and repository, so a baseline
    entry or a code-scanning alert survives the anchor file moving."""
    digest = hashlib.sha256(f"{code}\0repo".encode()).hexdigest()[:32]
    return f"{digest}:0"


def fingerprint_findings(results: list[CheckResult], sources: SourceLines) -> None:
    """Fill each finding's snippet and fingerprint, and each repo-level check's fingerprint,
    in a deterministic order."""
    for result in results:
        if result.rule.scope == "repo":
            result.fingerprint = repo_fingerprint(result.rule.code)
    seen: Counter[str] = Counter()
    every: list[Finding] = [f for r in results for f in r.findings]
    every.sort(key=lambda f: (f.code, f.path, f.line, f.col, f.message))
    for finding in every:
        source = sources.line(finding.path, finding.line)
        finding.snippet = source.strip()[:200]
        basis = "\0".join(
            (finding.code, finding.path, finding.symbol, _normalise(source) or finding.message)
        )
        occurrence = seen[basis]
        seen[basis] += 1
        digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
        finding.fingerprint = f"{digest}:{occurrence}"


# -- GitHub's primaryLocationLineHash ---------------------------------------------------------
# The value github/codeql-action's upload-sarif computes when a result has none (its
# src/fingerprints.ts): for every line, a polynomial rolling hash (base 37, 64-bit wrap) of
# the next 100 characters of the file from the line's start, skipping spaces and tabs, with
# CR and CRLF read as LF, an end-of-file mark (65535) and zero padding; ``hex:count``, where
# count numbers identical hashes in file order from 1. Characters are UTF-16 code units.
_BLOCK = 100
_MOD = 37
_MASK = (1 << 64) - 1
_FIRST_MOD = pow(_MOD, _BLOCK, 1 << 64)
MAX_LINE_HASH_BYTES = 2_000_000  # bigger files: leave it to upload-sarif


def line_hashes(text: str) -> list[str]:
    """``primaryLocationLineHash`` of every line of ``text`` (index 0 is line 1)."""
    import array

    units = array.array("H")
    units.frombytes(text.encode("utf-16-le", errors="surrogatepass"))
    stream: list[int] = []
    starts: list[int] = []  # index in ``stream`` where each line starts
    line_start, prev_cr = True, False
    for unit in (*units, 65535):
        if unit in (32, 9) or (prev_cr and unit == 10):
            prev_cr = False
            continue
        if unit == 13:
            unit, prev_cr = 10, True
        else:
            prev_cr = False
        if line_start:
            line_start = False
            starts.append(len(stream))
        if unit == 10:
            line_start = True
        stream.append(unit)
    stream.extend([0] * _BLOCK)
    # prefix[k] = hash of stream[:k]; the window [s, s + 100) is prefix[s+100] - prefix[s]*37^100
    prefix = [0] * (len(stream) + 1)
    value = 0
    for i, unit in enumerate(stream):
        value = (value * _MOD + unit) & _MASK
        prefix[i + 1] = value
    counts: Counter[str] = Counter()
    out: list[str] = []
    for start in starts:
        digest = format((prefix[start + _BLOCK] - prefix[start] * _FIRST_MOD) & _MASK, "x")
        counts[digest] += 1
        out.append(f"{digest}:{counts[digest]}")
    return out


class LineHashes:
    """Line hashes of the files results point at, computed at most once per file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._hashes: dict[str, list[str]] = {}

    def get(self, path: str, line: int) -> str | None:
        if path not in self._hashes:
            try:
                data = (self.root / path).read_bytes()
            except OSError:
                data = b""
            if (not data and not (self.root / path).is_file()) or len(data) > MAX_LINE_HASH_BYTES:
                self._hashes[path] = []
            else:
                self._hashes[path] = line_hashes(data.decode("utf-8", errors="replace"))
        hashes = self._hashes[path]
        return hashes[line - 1] if 0 < line <= len(hashes) else None
