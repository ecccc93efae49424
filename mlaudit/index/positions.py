"""Line and column numbers for chosen libcst nodes, without libcst's position pass.

libcst's PositionProvider deep-copies the tree and records a range for every node, which
more than doubles the cost of a scan (DESIGN.md, "The performance budget"). The extractor
only needs positions for the few nodes that become facts, so it registers those. They are
read off CPython's ast of the same file when one is at hand (ast_positions.py: a walk, no
code generation); otherwise, or when the two trees do not line up, this state records
them while the module regenerates its own source text.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import libcst as cst
from libcst._nodes.internal import CodegenState

from mlaudit.index.ast_positions import answers

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
    """Collects 'tell me where this node starts/ends' requests, then answers them all.

    The extractor also notes every node of the kinds it asks about, in walk order,
    requested or not: that order is how the ast's nodes are matched to libcst's."""

    def __init__(self) -> None:
        self.starts: dict[int, list[Setter]] = {}
        self.ends: dict[int, list[Setter]] = {}
        self.calls: list[cst.Call] = []
        self.attributes: list[cst.Attribute] = []
        self.dict_elements: list[cst.DictElement] = []
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.decorators: list[cst.BaseExpression] = []
        self.imports: list[cst.Import | cst.ImportFrom] = []
        self.assigns: list[cst.Assign] = []
        self.ann_assigns: list[cst.AnnAssign] = []
        self.asserts: list[cst.Assert] = []
        self.ifs: list[cst.If] = []

    def start(self, node: cst.CSTNode, setter: Setter) -> None:
        self.starts.setdefault(id(node), []).append(setter)

    def end(self, node: cst.CSTNode, setter: Setter) -> None:
        self.ends.setdefault(id(node), []).append(setter)

    def resolve(self, module: cst.Module, tree: ast.Module | None, data: bytes) -> None:
        """Answer every request: from ``tree`` (CPython's parse of ``data``, the bytes
        ``module`` was parsed from) when it lines up, else by code generation."""
        if not self.starts and not self.ends:
            return
        found = answers(self, module, tree, data) if tree is not None else None
        if found is not None:
            for setter, line, col in found:
                setter(line, col)
            return
        self.generate(module)

    def generate(self, module: cst.Module) -> None:
        """Positions from libcst's own code generation: slower, and always right."""
        state = _RecordingState(module, self.starts, self.ends)
        module._codegen(state)
