"""Line and column numbers for chosen libcst nodes, for the price of one code generation.

libcst's PositionProvider deep-copies the tree and records a range for every node, which
more than doubles the cost of a scan (DESIGN.md, "The performance budget"). The extractor
only needs positions for the few nodes that become facts, so it registers those and this
state records them while the module regenerates its own source text.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst._nodes.internal import CodegenState

# A setter receives (line, column), both 1-based.
Setter = Callable[[int, int], None]


class _RecordingState(CodegenState):
    """Tracks line/column as tokens are generated, without keeping the tokens."""

    def __init__(
        self,
        module: cst.Module,
        starts: dict[int, list[Setter]],
        ends: dict[int, list[Setter]],
    ) -> None:
        super().__init__(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        self.line = 1
        self.column = 0
        self._starts = starts
        self._ends = ends

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        newlines = value.count("\n")
        if newlines:
            self.line += newlines
            self.column = len(value) - value.rfind("\n") - 1
        else:
            self.column += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        setters = self._starts.get(id(node))
        if setters:
            for setter in setters:
                setter(self.line, self.column + 1)

    def after_codegen(self, node: cst.CSTNode) -> None:
        setters = self._ends.get(id(node))
        if setters:
            # A statement's text ends with its newline: report the line it ends on.
            line = self.line - 1 if self.column == 0 and self.line > 1 else self.line
            for setter in setters:
                setter(line, self.column + 1)


class PositionRequests:
    """Collects 'tell me where this node starts/ends' requests, then answers them all."""

    def __init__(self) -> None:
        self.starts: dict[int, list[Setter]] = {}
        self.ends: dict[int, list[Setter]] = {}

    def start(self, node: cst.CSTNode, setter: Setter) -> None:
        self.starts.setdefault(id(node), []).append(setter)

    def end(self, node: cst.CSTNode, setter: Setter) -> None:
        self.ends.setdefault(id(node), []).append(setter)

    def resolve(self, module: cst.Module) -> None:
        if not self.starts and not self.ends:
            return
        state = _RecordingState(module, self.starts, self.ends)
        module._codegen(state)
