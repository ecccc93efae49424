"""The suppression-comment grammar, shared by every file type with ``#`` comments.

``# mlaudit: ignore[ML307] reason`` silences a finding on its own line or the line below;
``# mlaudit: file-ignore[ML102, unseeded-randomness] reason`` silences a whole file.
"""

from __future__ import annotations

import re

from mlaudit.index.facts import Suppression

_DIRECTIVE = re.compile(
    r"#\s*mlaudit:\s*(?P<kind>ignore|file-ignore)\s*\[(?P<codes>[^\]]*)\](?P<reason>[^\n]*)"
)
_REASON_LEAD = " \t:-\u2013\u2014#"


def parse_suppressions(text: str) -> list[Suppression]:
    """All suppression directives in ``text``, with their 1-based lines."""
    if "mlaudit:" not in text:
        return []
    found: list[Suppression] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "mlaudit:" not in line:
            continue
        match = _DIRECTIVE.search(line)
        if match is None:
            continue
        codes = [c.strip() for c in match.group("codes").split(",") if c.strip()]
        kind = "file" if match.group("kind") == "file-ignore" else "line"
        reason = match.group("reason").strip().lstrip(_REASON_LEAD).strip()
        own_line = line[: match.start()].strip() == ""
        found.append(Suppression(kind, codes, number, reason, own_line))
    return found
