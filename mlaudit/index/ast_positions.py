"""Positions of libcst nodes read off CPython's ``ast`` of the same source.

The guard against input that would crash libcst's native parser already parses every file
with CPython (extract.py), and that tree carries a line and column for every node. Reading
positions there costs a walk over the ast instead of libcst's code generation over every
token, which was a quarter of the time spent on a parsed file.

The two trees are matched by order: the extractor notes every node of each kind it walks
(calls, attributes, dictionary keys, definitions, imports, ...), and ``_Mirror`` walks the
ast over the same regions in the same order, so the n-th libcst call is the n-th ast call.
Each pair is checked (names, attribute names, argument counts); any disagreement, or
anything this module does not model (a lone CR line ending, a byte-order mark, a
parenthesis spanning lines before its node), returns None and the caller falls back to
code generation, which is always right. Positions follow libcst's conventions: a node
starts at its first opening parenthesis, a call ends after its last closing one, and a
block's end includes its footer comments.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import libcst as cst

if TYPE_CHECKING:
    from mlaudit.index.positions import PositionRequests

Setter = Callable[[int, int], None]


class Mismatch(Exception):
    """The trees do not line up here: positions come from code generation instead."""


def answers(
    requests: PositionRequests, module: cst.Module, tree: ast.Module, data: bytes
) -> list[tuple[Setter, int, int]] | None:
    """(setter, line, column) for every request, or None when the trees disagree."""
    if data.startswith(b"\xef\xbb\xbf") or data.count(b"\r") != data.count(b"\r\n"):
        return None
    try:
        mirror = _Mirror()
        mirror.walk(tree)
        return _Resolver(requests, module, data).run(mirror)
    except (Mismatch, RecursionError, IndexError, UnicodeError, LookupError):
        return None  # deep nesting, or source text this module cannot line up


class _Mirror:
    """Walks an ast where the extractor walks the libcst tree, noting the same kinds."""

    def __init__(self) -> None:
        self.calls: list[ast.Call] = []
        self.attributes: list[ast.Attribute] = []
        self.dict_keys: list[ast.expr] = []
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.classes: list[ast.ClassDef] = []
        self.decorators: list[ast.expr] = []
        self.imports: list[ast.Import | ast.ImportFrom] = []
        self.assigns: list[ast.Assign] = []
        self.ann_assigns: list[ast.AnnAssign] = []
        self.asserts: list[ast.Assert] = []
        self.ifs: list[ast.If] = []

    def walk(self, node: ast.AST) -> None:
        kind = type(node)
        if kind in _LEAVES:
            return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, node)
            return
        for child in ast.iter_child_nodes(node):
            self.walk(child)

    def walk_list(self, nodes: Sequence[ast.AST]) -> None:
        for node in nodes:
            self.walk(node)

    def arguments(self, args: list[ast.expr], keywords: list[ast.keyword]) -> None:
        """A call's arguments in source order (``f(a=1, *b)`` puts the keyword first)."""
        if args and keywords and _start(keywords[0]) < _start(args[-1]):
            ordered: list[ast.AST] = sorted([*args, *keywords], key=_start)
        else:
            ordered = [*args, *keywords]
        for item in ordered:
            self.walk(item.value if isinstance(item, ast.keyword) else item)

    def call(self, node: ast.Call) -> None:
        self.calls.append(node)
        self.walk(node.func)
        self.arguments(node.args, node.keywords)

    def attribute(self, node: ast.Attribute) -> None:
        self.attributes.append(node)
        self.walk(node.value)

    def dict(self, node: ast.Dict) -> None:
        # The extractor notes a dictionary's keys before it walks into them.
        self.dict_keys.extend(k for k in node.keys if k is not None)
        for key, value in zip(node.keys, node.values, strict=True):
            if key is not None:
                self.walk(key)
            self.walk(value)

    def decorated(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        # Only a decorator call's arguments are walked, not what it calls.
        for decorator in node.decorator_list:
            self.decorators.append(decorator)
            if isinstance(decorator, ast.Call):
                self.arguments(decorator.args, decorator.keywords)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node)
        self.decorated(node)
        # Defaults in parameter order; annotations and the return type are not walked.
        self.walk_list(node.args.defaults)
        self.walk_list([d for d in node.args.kw_defaults if d is not None])
        self.walk_list(node.body)

    def lambda_(self, node: ast.Lambda) -> None:
        # libcst's Parameters list positional-only parameters after the keyword-only ones.
        spec = node.args
        own = min(len(spec.defaults), len(spec.args))
        split = len(spec.defaults) - own
        self.walk_list(spec.defaults[split:])
        self.walk_list([d for d in spec.kw_defaults if d is not None])
        self.walk_list(spec.defaults[:split])
        self.walk(node.body)

    def class_(self, node: ast.ClassDef) -> None:
        self.classes.append(node)
        self.decorated(node)  # bases and keywords are not walked
        self.walk_list(node.body)

    def assign(self, node: ast.Assign) -> None:
        self.assigns.append(node)
        self.walk(node.value)  # targets are not walked

    def ann_assign(self, node: ast.AnnAssign) -> None:
        self.ann_assigns.append(node)
        if node.value is not None:
            self.walk(node.value)

    def assert_(self, node: ast.Assert) -> None:
        self.asserts.append(node)
        self.walk(node.test)
        if node.msg is not None:
            self.walk(node.msg)

    def if_(self, node: ast.If) -> None:
        self.ifs.append(node)
        self.walk(node.test)
        self.walk_list(node.body)
        self.walk_list(node.orelse)

    def import_(self, node: ast.Import | ast.ImportFrom) -> None:
        self.imports.append(node)

    def except_handler(self, node: ast.ExceptHandler) -> None:
        self.walk_list(node.body)  # libcst's ExceptHandler holds its body before its type
        if node.type is not None:
            self.walk(node.type)

    def match_case(self, node: ast.match_case) -> None:
        self.walk(node.pattern)  # libcst's MatchCase holds its guard after its body
        self.walk_list(node.body)
        if node.guard is not None:
            self.walk(node.guard)

    def match_mapping(self, node: ast.MatchMapping) -> None:
        for key, pattern in zip(node.keys, node.patterns, strict=True):
            self.walk(key)
            self.walk(pattern)


def _start(node: Any) -> tuple[int, int]:
    return (node.lineno, node.col_offset)


_LEAVES: frozenset[type] = frozenset(
    {
        ast.Name,
        ast.Constant,
        ast.JoinedStr,  # the extractor does not walk into f-strings
        ast.Load,
        ast.Store,
        ast.Del,
        ast.alias,
        ast.Pass,
        ast.Break,
        ast.Continue,
        ast.Global,
        ast.Nonlocal,
        *ast.operator.__subclasses__(),
        *ast.unaryop.__subclasses__(),
        *ast.boolop.__subclasses__(),
        *ast.cmpop.__subclasses__(),
    }
)

_HANDLERS: dict[type, Callable[[_Mirror, Any], None]] = {
    ast.Call: _Mirror.call,
    ast.Attribute: _Mirror.attribute,
    ast.Dict: _Mirror.dict,
    ast.FunctionDef: _Mirror.function,
    ast.AsyncFunctionDef: _Mirror.function,
    ast.Lambda: _Mirror.lambda_,
    ast.ClassDef: _Mirror.class_,
    ast.Assign: _Mirror.assign,
    ast.AnnAssign: _Mirror.ann_assign,
    ast.Assert: _Mirror.assert_,
    ast.If: _Mirror.if_,
    ast.Import: _Mirror.import_,
    ast.ImportFrom: _Mirror.import_,
    ast.ExceptHandler: _Mirror.except_handler,
    ast.match_case: _Mirror.match_case,
    ast.MatchMapping: _Mirror.match_mapping,
}


class _Resolver:
    """Turns matched pairs into libcst-convention positions for the requested nodes."""

    def __init__(self, requests: PositionRequests, module: cst.Module, data: bytes) -> None:
        self.requests = requests
        self.module = module
        self.data = data
        self.ascii = data.isascii()  # then ast's byte columns are character columns
        self.lines: list[str] | None = None  # the source's lines, decoded when needed
        self.out: list[tuple[Setter, int, int]] = []
        self.answered: set[tuple[str, int]] = set()  # ("start" | "end", id of the node)

    def run(self, mirror: _Mirror) -> list[tuple[Setter, int, int]]:
        seen = self.requests
        self.pairs(seen.calls, mirror.calls, self.call)
        self.pairs(seen.attributes, mirror.attributes, self.attribute)
        self.pairs(seen.dict_elements, mirror.dict_keys, self.dict_element)
        self.pairs(seen.functions, mirror.functions, self.definition)
        self.pairs(seen.classes, mirror.classes, self.definition)
        self.pairs(seen.decorators, mirror.decorators, self.expression)
        self.pairs(seen.imports, mirror.imports, self.statement)
        self.pairs(seen.assigns, mirror.assigns, self.statement)
        self.pairs(seen.ann_assigns, mirror.ann_assigns, self.statement)
        self.pairs(seen.asserts, mirror.asserts, self.statement)
        self.pairs(seen.ifs, mirror.ifs, self.if_test)
        if len(self.answered) != len(self.requests.starts) + len(self.requests.ends):
            raise Mismatch("a request for a node of a kind this module does not match")
        return self.out

    def pairs(
        self,
        nodes: Sequence[Any],
        twins: Sequence[Any],
        answer: Callable[[Any, Any], None],
    ) -> None:
        """Check every pair (a misaligned walk shows up anywhere), answer the requested."""
        if len(nodes) != len(twins):
            raise Mismatch(f"{len(nodes)} libcst and {len(twins)} ast nodes")
        for node, twin in zip(nodes, twins, strict=True):
            answer(node, twin)

    # -- answers ---------------------------------------------------------------------
    def start(self, node: cst.CSTNode, line: int, col: int) -> None:
        setters = self.requests.starts.get(id(node))
        if setters:
            self.answered.add(("start", id(node)))
            self.out.extend((setter, line, col) for setter in setters)

    def end(self, node: cst.CSTNode, line: int) -> None:
        setters = self.requests.ends.get(id(node))
        if setters:
            self.answered.add(("end", id(node)))
            self.out.extend((setter, line, 0) for setter in setters)

    def call(self, node: cst.Call, twin: ast.Call) -> None:
        func, other = node.func, twin.func
        if len(node.args) != len(twin.args) + len(twin.keywords):
            raise Mismatch("call arguments")
        if isinstance(func, cst.Name) and getattr(other, "id", None) != func.value:
            raise Mismatch("call name")
        if isinstance(func, cst.Attribute) and getattr(other, "attr", None) != func.attr.value:
            raise Mismatch("call attribute")
        self.expression(node, twin)
        if id(node) in self.requests.ends:
            line = twin.end_lineno or twin.lineno
            for paren in node.rpar:
                line += self.module.code_for_node(paren).count("\n")
            self.end(node, line)

    def attribute(self, node: cst.Attribute, twin: ast.Attribute) -> None:
        if node.attr.value != twin.attr:
            raise Mismatch("attribute")
        self.expression(node, twin)

    def dict_element(self, node: cst.DictElement, twin: ast.expr) -> None:
        if id(node) in self.requests.starts:
            line, col = self.opening(node.key, twin)
            self.start(node, line, col)

    def expression(self, node: cst.BaseExpression, twin: ast.expr) -> None:
        if id(node) in self.requests.starts:
            line, col = self.opening(node, twin)
            self.start(node, line, col)

    def if_test(self, node: cst.If, twin: ast.If) -> None:
        # The test of ``if __name__ == "__main__":``; a test that is a call or an attribute
        # is answered as one.
        if isinstance(node.test, cst.Comparison):
            self.expression(node.test, twin.test)

    def statement(self, node: cst.CSTNode, twin: ast.stmt) -> None:
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            names = node.names
            count = 1 if isinstance(names, cst.ImportStar) else len(names)
            if count != len(twin.names):  # type: ignore[attr-defined]
                raise Mismatch("import")
        if id(node) in self.requests.starts:
            self.start(node, twin.lineno, self.column(twin.lineno, twin.col_offset))

    def definition(
        self, node: cst.FunctionDef | cst.ClassDef, twin: ast.FunctionDef | ast.ClassDef
    ) -> None:
        if node.name.value != twin.name:
            raise Mismatch("definition")
        if id(node.name) in self.requests.starts:
            if isinstance(node, cst.FunctionDef):
                keywords = ["def", node.whitespace_after_def.value]
                if node.asynchronous is not None:
                    keywords[:0] = ["async", node.asynchronous.whitespace_after.value]
            else:
                keywords = ["class", node.whitespace_after_class.value]
            before = "".join(keywords)
            if "\n" in before:  # ``def \`` continued on the next line
                line = twin.lineno + before.count("\n")
                self.start(node.name, line, len(before.rsplit("\n", 1)[1]) + 1)
            else:
                col = self.column(twin.lineno, twin.col_offset) + len(before)
                self.start(node.name, twin.lineno, col)
        if id(node) in self.requests.ends:
            self.end(node, _block_last_line(node.body, twin.body))

    # -- positions -------------------------------------------------------------------
    def opening(self, node: cst.CSTNode, twin: ast.expr) -> tuple[int, int]:
        """Where libcst starts ``node``: at its first opening parenthesis, which the ast
        position (the expression inside them) leaves out."""
        col = self.column(twin.lineno, twin.col_offset)
        parens = getattr(node, "lpar", ())
        if not parens:
            return twin.lineno, col
        text = "".join(self.module.code_for_node(paren) for paren in parens)
        if "\n" not in text:
            return twin.lineno, col - len(text)
        # ``(\n    x)``: the first parenthesis ends its line, less what follows it there.
        line = twin.lineno - text.count("\n")
        rest = text.split("\n", 1)[0]
        return line, len(self.source_lines()[line - 1]) - len(rest) + 1

    def column(self, line: int, offset: int) -> int:
        """libcst's 1-based column in characters of an ast column in UTF-8 bytes."""
        if self.ascii:
            return offset + 1
        return len(self.source_lines()[line - 1].encode("utf-8")[:offset].decode("utf-8")) + 1

    def source_lines(self) -> list[str]:
        if self.lines is None:
            self.lines = self.data.decode(self.module.encoding).split("\n")
        return self.lines


def _block_last_line(block: cst.BaseSuite, body: list[ast.stmt]) -> int:
    """The last line of a block as libcst generates it: the last statement's last line,
    plus the footer (comment and blank lines owned by the block)."""
    if not body:
        raise Mismatch("empty body")
    if isinstance(block, cst.SimpleStatementSuite):
        return body[-1].end_lineno or body[-1].lineno
    assert isinstance(block, cst.IndentedBlock)
    last = block.body[-1]
    if isinstance(last, cst.BaseCompoundStatement):
        line = _block_last_line(*_last_block(last, body[-1]))
    else:
        line = body[-1].end_lineno or body[-1].lineno
    return line + len(block.footer)


_TRY = ("Try", "TryStar")  # by name: ast.TryStar (``except*``) is new in Python 3.11


def _last_block(
    statement: cst.BaseCompoundStatement, twin: Any
) -> tuple[cst.BaseSuite, list[ast.stmt]]:
    """The block a compound statement ends with, in both trees."""
    if isinstance(statement, cst.If) and isinstance(twin, ast.If):
        if isinstance(statement.orelse, cst.If):
            if len(twin.orelse) != 1:
                raise Mismatch("elif")
            return _last_block(statement.orelse, twin.orelse[0])
        if isinstance(statement.orelse, cst.Else):
            return statement.orelse.body, twin.orelse
        return statement.body, twin.body
    if isinstance(statement, (cst.For, cst.While)) and isinstance(
        twin, (ast.For, ast.AsyncFor, ast.While)
    ):
        if statement.orelse is not None:
            return statement.orelse.body, twin.orelse
        return statement.body, twin.body
    if isinstance(statement, (cst.Try, cst.TryStar)) and type(twin).__name__ in _TRY:
        if statement.finalbody is not None:
            return statement.finalbody.body, twin.finalbody
        if statement.orelse is not None:
            return statement.orelse.body, twin.orelse
        if not statement.handlers or not twin.handlers:
            raise Mismatch("try")
        return statement.handlers[-1].body, twin.handlers[-1].body
    if isinstance(statement, cst.Match) and isinstance(twin, ast.Match):
        return statement.cases[-1].body, twin.cases[-1].body
    if isinstance(statement, (cst.With, cst.FunctionDef, cst.ClassDef)) and isinstance(
        twin, (ast.With, ast.AsyncWith, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    ):
        return statement.body, twin.body
    raise Mismatch(f"{type(statement).__name__} against {type(twin).__name__}")
