"""Jupyter notebooks as Python modules.

The code cells of a notebook are joined into one Python text, line for line, so every
Python fact and check sees them; IPython magics (``%``, ``%%``), shell escapes (``!``) and
help lines (``obj?``) are replaced by ``pass`` at the same indentation, so line numbers stay
aligned. A cell that still does not compile is blanked (and reported), so one broken cell
does not hide the rest of the notebook.

The index keeps, for every code cell, where each of its lines sits in the ``.ipynb`` JSON
text, so a finding can name the cell and the line within it (JSON report) and point at the
notebook file itself (SARIF). The JSON is read by a small position-keeping parser; strings,
most of a notebook's bytes, are decoded by the standard library's C scanner.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from mlaudit.index.facts import NotebookCell, NotebookMap, ParseError

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_MAGIC = re.compile(r"^(?P<indent>[ \t]*)(?:[!%]|(?:[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*[!%]))")
_HELP = re.compile(r"^(?P<indent>[ \t]*)\??[\w.]+\?\??\s*$")


class NotebookError(ValueError):
    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


class _Parser:
    """JSON parser that records, for every object with a ``source`` member, the offsets of
    the strings of that member."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sources: dict[int, list[int]] = {}

    def skip(self, index: int) -> int:
        match = _WS.match(self.text, index)
        return match.end() if match else index

    def value(self, index: int) -> tuple[Any, int]:
        index = self.skip(index)
        if index >= len(self.text):
            raise NotebookError("unexpected end of JSON", index)
        char = self.text[index]
        if char == '"':
            return scanstring(self.text, index + 1, True)
        if char == "{":
            return self.object(index + 1)
        if char == "[":
            return self.array(index + 1)[0], self.array_end
        for word, result in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, index):
                return result, index + len(word)
        match = _NUMBER.match(self.text, index)
        if match is None:
            raise NotebookError(f"unexpected character {char!r}", index)
        number = match.group(0)
        is_float = "." in number or "e" in number or "E" in number
        return (float(number) if is_float else int(number)), match.end()

    array_end = 0

    def array(self, index: int) -> tuple[list[Any], list[int]]:
        items: list[Any] = []
        offsets: list[int] = []
        index = self.skip(index)
        if self.text.startswith("]", index):
            self.array_end = index + 1
            return items, offsets
        while True:
            index = self.skip(index)
            offsets.append(index)
            item, index = self.value(index)
            items.append(item)
            index = self.skip(index)
            if self.text.startswith(",", index):
                index += 1
                continue
            if self.text.startswith("]", index):
                self.array_end = index + 1
                return items, offsets
            raise NotebookError("expected ',' or ']' in an array", index)

    def object(self, index: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        index = self.skip(index)
        if self.text.startswith("}", index):
            return result, index + 1
        positions: list[int] | None = None
        while True:
            index = self.skip(index)
            if not self.text.startswith('"', index):
                raise NotebookError("expected a string key in an object", index)
            key, index = scanstring(self.text, index + 1, True)
            index = self.skip(index)
            if not self.text.startswith(":", index):
                raise NotebookError("expected ':' after an object key", index)
            index = self.skip(index + 1)
            if key == "source" and self.text.startswith("[", index):
                items, offsets = self.array(index + 1)
                value: Any = items
                index = self.array_end
                positions = offsets
            else:
                if key == "source":
                    positions = [index]
                value, index = self.value(index)
            result[key] = value
            index = self.skip(index)
            if self.text.startswith(",", index):
                index += 1
                continue
            if self.text.startswith("}", index):
                if positions is not None:
                    self.sources[id(result)] = positions
                return result, index + 1
            raise NotebookError("expected ',' or '}' in an object", index)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index >= 0:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def _position(starts: list[int], offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def neutralise(line: str) -> str:
    """A magic, shell escape or help line becomes ``pass`` at its indentation."""
    match = _MAGIC.match(line) or _HELP.match(line)
    if match is None:
        return line
    return match.group("indent") + "pass"


def neutralise_lines(lines: list[str]) -> list[str]:
    """``neutralise`` over a cell's lines. A magic or shell escape ending in a backslash
    goes on in the next line (IPython joins them): the lines it continues into become
    blank, so the line count stays."""
    result: list[str] = []
    in_magic = False  # the previous line was (part of) a magic and ended in a backslash
    for line in lines:
        if in_magic:
            result.append("")
        else:
            cleaned = neutralise(line)
            result.append(cleaned)
            if cleaned == line:
                continue
        in_magic = line.rstrip("\r").endswith("\\")
    return result


@dataclass
class NotebookCode:
    """The Python text of a notebook's code cells and where each line came from."""

    code: str = ""
    map: NotebookMap = field(default_factory=NotebookMap)
    errors: list[ParseError] = field(default_factory=list)


def _compiles(code: str) -> str | None:
    import ast

    try:
        ast.parse(code)
    except SyntaxError as exc:
        return f"{exc.msg} (line {exc.lineno or 1} of the cell)"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return str(exc) or type(exc).__name__
    return None


def notebook_code(text: str) -> NotebookCode:
    """Parse a notebook's JSON text; never raises (problems become ParseErrors)."""
    result = NotebookCode()
    parser = _Parser(text)
    starts = _line_starts(text)
    try:
        document, end = parser.value(0)
        if parser.skip(end) != len(text):
            raise NotebookError("extra data after the JSON document", parser.skip(end))
    except NotebookError as exc:
        line, col = _position(starts, exc.offset)
        result.errors.append(ParseError(f"not a valid notebook: invalid JSON: {exc}", line, col))
        return result
    except (ValueError, RecursionError) as exc:  # scanstring's own errors
        message = str(exc).split(":", 1)[0] or type(exc).__name__
        pos = getattr(exc, "pos", 0) or 0
        line, col = _position(starts, pos)
        result.errors.append(
            ParseError(f"not a valid notebook: invalid JSON: {message}", line, col)
        )
        return result
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        result.errors.append(ParseError("not a valid notebook: no `cells` list (nbformat 4)"))
        return result
    lines: list[str] = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        offsets = parser.sources.get(id(cell), [])
        if isinstance(source, str):
            pieces = [source]
        elif isinstance(source, list) and all(isinstance(s, str) for s in source):
            pieces = source
        else:
            line, _ = _position(starts, offsets[0] if offsets else 0)
            result.errors.append(
                ParseError(f"not a valid notebook: cell {index} has a non-string source", line)
            )
            continue
        cell_lines: list[str] = []
        ipynb_lines: list[int] = []
        ipynb_cols: list[int] = []
        bounds: list[int] = []  # where each piece starts in the joined source
        total = 0
        for piece in pieces:
            bounds.append(total)
            total += len(piece)
        joined = "".join(pieces)
        position = 0
        for part in joined.split("\n"):
            if position >= len(joined) and cell_lines:
                break  # the text after a final newline is no line
            number = bisect.bisect_right(bounds, position) - 1 if bounds else 0
            number = max(number, 0)
            offset = offsets[number] if number < len(offsets) else 0
            line, col = _position(starts, offset)
            # The JSON text of one string is on one physical line (newlines are escaped).
            before = joined[bounds[number] if bounds else 0 : position]
            escaped = json.dumps(before, ensure_ascii=False)
            cell_lines.append(part.rstrip("\r"))
            ipynb_lines.append(line)
            ipynb_cols.append(col + 1 + len(escaped) - 2)
            position += len(part) + 1
        cleaned = neutralise_lines(cell_lines)
        if cleaned and cleaned[0].lstrip().startswith("%%"):
            cleaned = [""] * len(cleaned)  # a cell magic: the body is not Python
        error = _compiles("\n".join(cleaned) + "\n") if cleaned else None
        if error is not None:
            result.errors.append(
                ParseError(
                    f"cell {index}: syntax error: {error}; the cell is skipped",
                    ipynb_lines[0] if ipynb_lines else 1,
                )
            )
            cleaned = [""] * len(cleaned)
        if not cleaned:
            continue
        result.map.cells.append(
            NotebookCell(index=index, start=len(lines) + 1, lines=ipynb_lines, cols=ipynb_cols)
        )
        lines.extend(cleaned)
    result.code = "\n".join(lines) + ("\n" if lines else "")
    return result


def triage_text(text: str) -> str:
    """The code cells' text, quickly (no positions, no syntax check): what triage reads."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return ""
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        return ""
    parts: list[str] = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if isinstance(source, str):
            parts.extend(neutralise_lines(source.split("\n")))
    return "\n".join(parts) + "\n"


def locate(mapping: NotebookMap, line: int) -> tuple[int, int, int, int] | None:
    """(cell index, line in the cell, line in the .ipynb, column offset) of a code line."""
    for cell in mapping.cells:
        if cell.start <= line < cell.start + len(cell.lines):
            within = line - cell.start
            return cell.index, within + 1, cell.lines[within], cell.cols[within]
    return None
