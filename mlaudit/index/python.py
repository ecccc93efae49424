"""Python facts from one libcst parse and one walk.

Names are resolved from the file's own imports while walking (``import joblib as jl`` makes
``jl.load`` read ``joblib.load``), rather than with libcst's scope providers, which would cost
several times the parse itself. The walk skips whitespace, punctuation and comment nodes,
which are most of a libcst tree, and positions are computed only for the nodes that become
facts (see positions.py).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import libcst as cst

from mlaudit.index.facts import (
    Assert,
    Assign,
    Call,
    ClassDef,
    ClassField,
    ConstEntry,
    Decorator,
    Function,
    Import,
    Param,
    PyFacts,
    Read,
    Value,
)
from mlaudit.index.modules import module_name
from mlaudit.index.positions import PositionRequests

_MAX_EXCERPT = 80
# Function bodies whose structural shape is recorded: big enough to be a transformation,
# small enough to hash cheaply (tokens are the walked nodes of the body).
MIN_SHAPE_TOKENS = 12
MAX_SHAPE_TOKENS = 600

# Fields of libcst nodes that hold only layout: never walked.
_LAYOUT_FIELDS = frozenset(
    {
        "lpar",
        "rpar",
        "comma",
        "semicolon",
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "trailing_whitespace",
        "newline",
        "colon",
        "equal",
        "dot",
        "star",
        "star_tok",
        "indent",
        "operator",
        "asynchronous",
        "whitespace",
    }
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(cls: type) -> tuple[str, ...]:
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in _LAYOUT_FIELDS and not f.name.startswith("whitespace")
        )
        _CHILD_FIELDS[cls] = names
    return names


def _children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


def _string_value(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.SimpleString):
        return string_token_value(node.value)
    if isinstance(node, cst.ConcatenatedString):
        left, right = _string_value(node.left), _string_value(node.right)
        return left + right if left is not None and right is not None else None
    return None


def string_token_value(token: str) -> str | None:
    """The value of a string literal token (None for bytes and bad tokens). Most tokens
    have no escapes: their value is the text between the quotes, which is much cheaper to
    take than ``ast.literal_eval``'s compile. Escapes and carriage returns (which Python
    reads as newlines) go through Python's own evaluation."""
    quote = token[-1:]
    prefix = token[: len(token) - len(token.lstrip("rRuUbBfF"))]
    if prefix.lower() in ("", "r", "u") and "\\" not in token and "\r" not in token:
        body = token[len(prefix) :]
        width = 3 if len(body) >= 6 and body.startswith(quote * 3) else 1
        if quote in ("'", '"') and len(body) >= 2 * width and body[0] == quote:
            return body[width:-width]
    try:
        value = ast.literal_eval(token)
    except Exception:
        return None
    return value if isinstance(value, str) else None


_LEADING_NAME = re.compile(r"[^.(\[]+")


class _Extractor:
    """One walk over a module that fills a PyFacts."""

    def __init__(self, module: cst.Module, path: str, is_package: bool) -> None:
        self.module = module
        self.facts = PyFacts(module=module_name(path))
        self.package = self.facts.module if is_package else self.facts.module.rpartition(".")[0]
        self.bindings: dict[str, str] = {}
        self.positions = PositionRequests()
        self.scope: list[str] = []  # qualname parts of enclosing functions/classes
        self.functions: list[Function] = []  # enclosing function facts
        self.class_stack: list[str | None] = [None]
        self.guards: list[str] = []
        self.conditional = 0
        self.in_main = False
        self.awaiting: cst.CSTNode | None = None
        self.shape: list[str] | None = None  # tokens of the enclosing function's body
        self.shape_names: dict[str, str] = {}

    # -- names -------------------------------------------------------------------------
    def resolve(self, dotted: str) -> str:
        """Qualify the leading name through the file's imports: ``np.load`` ->
        ``numpy.load``, ``session().run`` -> ``app.model.session().run``."""
        match = _LEADING_NAME.match(dotted)
        head = match.group(0) if match else dotted
        bound = self.bindings.get(head)
        if bound is None:
            return dotted
        return bound + dotted[len(head) :]

    def dotted(self, node: cst.CSTNode) -> str | None:
        """Dotted text of a name/attribute chain, unresolved; None for other expressions."""
        if isinstance(node, cst.Name):
            return node.value
        if isinstance(node, cst.Attribute):
            base = self.dotted(node.value)
            return None if base is None else f"{base}.{node.attr.value}"
        if isinstance(node, cst.Call):
            base = self.dotted(node.func)
            return None if base is None else f"{base}()"
        if isinstance(node, cst.Subscript):
            base = self.dotted(node.value)
            return None if base is None else f"{base}[]"
        return None

    def qualified(self, node: cst.CSTNode) -> str | None:
        text = self.dotted(node)
        if text is None:
            return None
        if isinstance(node, cst.Call) or "()" in text:
            # Resolve the head only; the suffix keeps the call markers.
            return self.resolve(text)
        return self.resolve(text)

    def annotation(self, node: cst.CSTNode | None) -> str | None:
        if node is None:
            return None
        if isinstance(node, cst.Annotation):
            node = node.annotation
        if isinstance(node, (cst.Name, cst.Attribute)):
            return self.qualified(node)
        if isinstance(node, cst.Subscript):
            base = self.annotation(node.value) or "?"
            parts = []
            for element in node.slice:
                inner = element.slice
                if isinstance(inner, cst.Index):
                    parts.append(self.annotation(inner.value) or "?")
            return f"{base}[{', '.join(parts)}]"
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            return f"{self.annotation(node.left)} | {self.annotation(node.right)}"
        text = _string_value(node)
        if text is not None:
            return text
        if isinstance(node, cst.Name) or node is None:
            return None
        return self.module.code_for_node(node)[:_MAX_EXCERPT]

    def value(self, node: cst.CSTNode) -> Value:
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            text = _string_value(node)
            return Value("const", text) if text is not None else Value("other", "<str>")
        if isinstance(node, cst.Integer):
            try:
                return Value("const", int(node.value.replace("_", ""), 0))
            except ValueError:
                return Value("other", node.value)
        if isinstance(node, cst.Float):
            try:
                return Value("const", float(node.value.replace("_", "")))
            except ValueError:
                return Value("other", node.value)
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
            inner = self.value(node.expression)
            if inner.kind == "const" and isinstance(inner.value, (int, float)):
                return Value("const", -inner.value)
        if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
            return Value("const", {"True": True, "False": False, "None": None}[node.value])
        if isinstance(node, cst.Call):
            name = self.qualified(node.func) or "<expr>"
            items: list[Any] = []
            for arg in node.args:
                if arg.keyword is None and not arg.star:
                    inner = self.value(arg.value)
                    items.append(inner.value if inner.kind in ("const", "name") else None)
            return Value("call", name, items or None)
        if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
            elements = [self.value(e.value) for e in node.elements if isinstance(e, cst.Element)]
            return Value("list", None, [e.value if e.kind == "const" else None for e in elements])
        if isinstance(node, cst.Dict):
            keys = [_string_value(e.key) for e in node.elements if isinstance(e, cst.DictElement)]
            return Value("dict", None, list(keys))
        dotted = self.qualified(node)
        if dotted is not None:
            return Value("name", dotted)
        if isinstance(node, cst.FormattedString):
            return Value("other", self.fstring_text(node))
        # Not modelled: keep the node type, not its source (regenerating the source of every
        # complex argument would cost a code generation per argument, and bloat the cache).
        return Value("other", type(node).__name__)

    def fstring_text(self, node: cst.FormattedString) -> str:
        """An f-string as ``f'text {name}'``: each expression reduced to its dotted name (what
        a log line carries, what a path starts with), without regenerating any source."""
        pieces = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                pieces.append(part.value)
            elif isinstance(part, cst.FormattedStringExpression):
                pieces.append("{" + (self.dotted(part.expression) or "...") + "}")
        quote = '"' if "'" in "".join(pieces) else "'"
        return ("f" + quote + "".join(pieces) + quote)[: 2 * _MAX_EXCERPT]

    # -- walking -----------------------------------------------------------------------
    @property
    def scope_name(self) -> str:
        return ".".join(self.scope)

    def walk(self, node: cst.CSTNode) -> None:
        if self.shape is not None:
            self.shape_token(node)
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node)
            return
        for child in _children(node):
            self.walk(child)

    def shape_name(self, name: str) -> str:
        if name in self.bindings:
            return self.bindings[name]  # an imported name is part of what the code does
        found = self.shape_names.get(name)
        if found is None:
            found = self.shape_names[name] = f"v{len(self.shape_names)}"
        return found

    def shape_token(self, node: cst.CSTNode) -> None:
        shape = self.shape
        assert shape is not None
        if len(shape) >= MAX_SHAPE_TOKENS:
            self.shape = None  # too big to be a small transformation: stop collecting
            return
        kind = type(node)
        if kind is cst.Name:
            shape.append(self.shape_name(node.value))  # type: ignore[attr-defined]
        elif kind is cst.Attribute:
            base = node.value  # type: ignore[attr-defined]
            attr = node.attr.value  # type: ignore[attr-defined]
            head = self.shape_name(base.value) if isinstance(base, cst.Name) else ""
            shape.append(f"{head}.{attr}")
        elif kind is cst.SimpleString:
            shape.append("s:" + node.raw_value)  # type: ignore[attr-defined]
        elif kind in (cst.Integer, cst.Float):
            shape.append("n:" + node.value)  # type: ignore[attr-defined]
        else:
            shape.append(kind.__name__)

    def walk_all(self, nodes: Sequence[cst.CSTNode]) -> None:
        for node in nodes:
            self.walk(node)

    def visit_import(self, node: cst.Import) -> None:
        self.positions.imports.append(node)
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            full = self.dotted(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
                self.bindings[local] = full
            else:
                local = full.split(".")[0]
                self.bindings[local] = local
            fact = Import(full, None, local, 0)
            self.facts.imports.append(fact)
            self.positions.start(node, _setter(fact, "line"))

    def visit_import_from(self, node: cst.ImportFrom) -> None:
        self.positions.imports.append(node)
        level = len(node.relative)
        base = self.dotted(node.module) if node.module is not None else ""
        base = base or ""
        unresolved = 0
        if level:
            package = self.package.split(".") if self.package else []
            if level - 1 <= len(package):
                anchor = package[: len(package) - (level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            else:
                unresolved = level
        if isinstance(node.names, cst.ImportStar):
            fact = Import(base, "*", "*", 0, unresolved)
            self.facts.imports.append(fact)
            self.positions.start(node, _setter(fact, "line"))
            return
        for alias in node.names:
            member = self.dotted(alias.name) or ""
            local = member
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bindings[local] = f"{base}.{member}" if base else member
            fact = Import(base, member, local, 0, unresolved)
            self.facts.imports.append(fact)
            self.positions.start(node, _setter(fact, "line"))

    def decorators(self, nodes: Sequence[cst.Decorator]) -> list[Decorator]:
        result = []
        for deco in nodes:
            expr = deco.decorator
            self.positions.decorators.append(expr)
            called = isinstance(expr, cst.Call)
            target = expr.func if isinstance(expr, cst.Call) else expr
            fact = Decorator(self.qualified(target) or "<expr>", 0, called)
            if isinstance(expr, cst.Call):
                fact.args, fact.kwargs = self.arguments(expr.args)
                # Calls inside decorator arguments (Depends(...) etc.) are still calls.
                for arg in expr.args:
                    self.walk(arg.value)
            self.positions.start(expr, _setter(fact, "line"))
            result.append(fact)
        return result

    def arguments(self, args: Sequence[cst.Arg]) -> tuple[list[Value], dict[str, Value]]:
        positional: list[Value] = []
        keywords: dict[str, Value] = {}
        for arg in args:
            if arg.keyword is not None:
                keywords[arg.keyword.value] = self.value(arg.value)
            elif arg.star == "**":
                keywords["**"] = self.value(arg.value)
            elif arg.star == "*":
                positional.append(Value("other", "*" + (self.dotted(arg.value) or "")))
            else:
                positional.append(self.value(arg.value))
        return positional, keywords

    def params(self, node: cst.Parameters) -> list[Param]:
        result = []
        every = [*node.posonly_params, *node.params]
        if isinstance(node.star_arg, cst.Param):
            every.append(node.star_arg)
        every.extend(node.kwonly_params)
        if node.star_kwarg is not None:
            every.append(node.star_kwarg)
        for param in every:
            annotation = param.annotation.annotation if param.annotation else None
            default = self.value(param.default) if param.default is not None else None
            constraints: dict[str, Value] = {}
            if isinstance(param.default, cst.Call):
                constraints.update(self.arguments(param.default.args)[1])
            if isinstance(annotation, cst.Call):  # items: conlist(float, max_length=8)
                constraints.update(self.arguments(annotation.args)[1])
            if isinstance(annotation, cst.Subscript) and (
                self.qualified(annotation.value) or ""
            ).endswith("Annotated"):
                # Annotated[T, Depends(provider)]: the metadata carries the dependency.
                elements = [e.slice for e in annotation.slice]
                for element in elements[1:]:
                    if isinstance(element, cst.Index) and isinstance(element.value, cst.Call):
                        default = self.value(element.value)
                        constraints.update(self.arguments(element.value.args)[1])
                first = elements[0] if elements else None
                annotation_text = (
                    self.annotation(first.value) if isinstance(first, cst.Index) else None
                )
            else:
                annotation_text = self.annotation(annotation)
            result.append(Param(param.name.value, annotation_text, default, constraints))
            if param.default is not None:
                self.walk(param.default)
        return result

    def visit_function(self, node: cst.FunctionDef) -> None:
        self.positions.functions.append(node)
        name = node.name.value
        qualname = ".".join([*self.scope, name])
        fact = Function(
            qualname=qualname,
            line=0,
            end_line=0,
            is_async=node.asynchronous is not None,
            class_name=self.class_stack[-1],
        )
        fact.decorators = self.decorators(node.decorators)
        fact.params = self.params(node.params)
        if node.returns is not None:
            fact.returns = self.annotation(node.returns)
        self.positions.start(node.name, _setter(fact, "line"))
        self.positions.end(node, _setter(fact, "end_line"))
        self.facts.functions.append(fact)
        if not self.scope:
            self.bindings.pop(name, None)  # a module-level def shadows an import
        self.scope.append(name)
        self.functions.append(fact)
        self.class_stack.append(None)
        saved = (self.guards, self.conditional)
        saved_shape = (self.shape, self.shape_names)
        self.guards, self.conditional = [], 0
        self.shape = []
        self.shape_names = {p.name: f"p{i}" for i, p in enumerate(fact.params)}
        body = node.body
        if isinstance(body, cst.IndentedBlock):
            statements = list(body.body)
            if statements and _is_docstring(statements[0]):
                statements = statements[1:]
            self.walk_all(statements)
        else:
            self.walk(body)
        tokens = self.shape
        if tokens is not None and MIN_SHAPE_TOKENS <= len(tokens) < MAX_SHAPE_TOKENS:
            fact.shape = hashlib.blake2b(
                "\x1f".join(tokens).encode("utf-8", "replace"), digest_size=8
            ).hexdigest()
            fact.shape_size = len(tokens)
        self.shape, self.shape_names = saved_shape
        if self.shape is not None:
            self.shape.append("FunctionDef")
        self.guards, self.conditional = saved
        self.class_stack.pop()
        self.functions.pop()
        self.scope.pop()

    def visit_class(self, node: cst.ClassDef) -> None:
        self.positions.classes.append(node)
        name = node.name.value
        qualname = ".".join([*self.scope, name])
        fact = ClassDef(qualname=qualname, line=0, end_line=0)
        fact.bases = [self.qualified(b.value) or "<expr>" for b in node.bases if b.keyword is None]
        fact.decorators = self.decorators(node.decorators)
        self.positions.start(node.name, _setter(fact, "line"))
        self.positions.end(node, _setter(fact, "end_line"))
        self.facts.classes.append(fact)
        if not self.scope:
            self.bindings.pop(name, None)
        self.scope.append(name)
        self.class_stack.append(qualname)
        self.walk(node.body)
        self.class_stack.pop()
        self.scope.pop()

    def visit_call(self, node: cst.Call) -> None:
        self.positions.calls.append(node)
        name = self.qualified(node.func) or "<expr>"
        fact = Call(name=name, line=0, col=0, end_line=0, scope=self.scope_name)
        written = _LEADING_NAME.match(self.dotted(node.func) or "")
        fact.imported = written is not None and written.group(0) in self.bindings
        fact.args, fact.kwargs = self.arguments(node.args)
        if self.guards:
            fact.guard = self.guards[-1]
        fact.conditional = self.conditional > 0
        fact.in_main = self.in_main
        fact.awaited = node is self.awaiting
        self.positions.start(node, _setter2(fact, "line", "col"))
        self.positions.end(node, _setter(fact, "end_line"))
        self.facts.calls.append(fact)
        self.walk(node.func)
        for arg in node.args:
            self.walk(arg.value)

    def _targets(self, nodes: Sequence[cst.CSTNode]) -> list[str]:
        names: list[str] = []
        for target in nodes:
            if isinstance(target, (cst.Tuple, cst.List)):
                names.extend(self._targets([e.value for e in target.elements]))
            else:
                text = self.dotted(target)
                if text is not None:
                    names.append(text)
        return names

    def _assign(
        self,
        node: cst.CSTNode,
        targets: list[str],
        value: cst.CSTNode | None,
        annotation: str | None = None,
    ) -> None:
        if value is None:
            return
        # Inside functions only what checks use is kept: names bound to a call
        # (`m = Predictor()`), to another name (`m = MODEL`) or to a string (a path). Module
        # and class level keep every assignment.
        if not self.functions or isinstance(value, _KEPT_LOCAL_VALUES):
            call_index = len(self.facts.calls) if isinstance(value, cst.Call) else None
            fact = Assign(targets, self.value(value), 0, self.scope_name, call_index, annotation)
            self.positions.start(node, _setter(fact, "line"))
            self.facts.assigns.append(fact)
        if not self.scope:
            for target in targets:
                self.bindings.pop(target, None)
        self.walk(value)

    def visit_assign(self, node: cst.Assign) -> None:
        self.positions.assigns.append(node)
        self._assign(node, self._targets([t.target for t in node.targets]), node.value)

    def visit_ann_assign(self, node: cst.AnnAssign) -> None:
        self.positions.ann_assigns.append(node)
        cls = self.class_stack[-1]
        if cls is not None and isinstance(node.target, cst.Name):
            self._class_field(node, cls, node.target.value)
        annotation = self.annotation(node.annotation) if self.functions else None
        self._assign(node, self._targets([node.target]), node.value, annotation)

    def _class_field(self, node: cst.AnnAssign, cls: str, name: str) -> None:
        """A schema field: its annotation, default and any length constraints."""
        constraints: dict[str, Value] = {}
        annotation: cst.CSTNode = node.annotation.annotation
        if isinstance(annotation, cst.Subscript) and (
            self.qualified(annotation.value) or ""
        ).endswith("Annotated"):
            elements = [e.slice for e in annotation.slice]
            for element in elements[1:]:
                if isinstance(element, cst.Index) and isinstance(element.value, cst.Call):
                    constraints.update(self.arguments(element.value.args)[1])
            if elements and isinstance(elements[0], cst.Index):
                annotation = elements[0].value
        if isinstance(annotation, cst.Call):
            constraints.update(self.arguments(annotation.args)[1])
            text = (self.qualified(annotation.func) or "<expr>") + "()"
        else:
            text = self.annotation(annotation) or ""
        default = self.value(node.value) if node.value is not None else None
        if isinstance(node.value, cst.Call):
            constraints.update(self.arguments(node.value.args)[1])
        fact = ClassField(cls, name, text, 0, default, constraints)
        self.positions.start(node, _setter(fact, "line"))
        self.facts.class_fields.append(fact)

    def visit_await(self, node: cst.Await) -> None:
        saved = self.awaiting
        self.awaiting = node.expression
        self.walk(node.expression)
        self.awaiting = saved

    def visit_dict(self, node: cst.Dict) -> None:
        self.positions.dict_elements.extend(
            e for e in node.elements if isinstance(e, cst.DictElement)
        )
        # Module level too: a Streamlit script's top level is its request handler.
        if self.functions or not self.class_stack[-1]:
            for element in node.elements:
                if not isinstance(element, cst.DictElement):
                    continue
                key = _string_value(element.key)
                if key is None:
                    continue
                value = self.value(element.value)
                if (
                    value.kind == "const"
                    and isinstance(value.value, (int, float))
                    and not isinstance(value.value, bool)
                ):
                    fact = ConstEntry(key, float(value.value), 0, self.scope_name)
                    self.positions.start(element, _setter(fact, "line"))
                    self.facts.const_entries.append(fact)
        for child in _children(node):
            self.walk(child)

    def visit_reference(self, node: cst.Name | cst.Attribute) -> None:
        if isinstance(node, cst.Attribute):
            self.positions.attributes.append(node)
        text = self.dotted(node)
        if text is not None and self.functions and "model" in text.lower():
            refs = self.functions[-1].model_refs
            if len(refs) < 20 and text not in refs:
                refs.append(text)
        if (
            isinstance(node, cst.Attribute)
            and text is not None
            and node.attr.value in _BODY_ATTRS
            and text.split(".")[-2:-1] in (["request"], ["req"])
        ):
            read = Read(self.resolve(text), 0, self.scope_name)
            self.positions.start(node, _setter(read, "line"))
            self.facts.reads.append(read)
        if isinstance(node, cst.Attribute) and not isinstance(node.value, cst.Name):
            self.walk(node.value)  # calls and subscripts inside the chain are facts too

    def visit_assert(self, node: cst.Assert) -> None:
        self.positions.asserts.append(node)
        test = node.test
        if isinstance(test, cst.Comparison):
            # A chained comparison (``0.5 < auc <= 1.0``) is one assertion per adjacent pair.
            left_side: cst.BaseExpression = test.left
            for target in test.comparisons:
                op = _ORDERING.get(type(target.operator))
                if op is not None:
                    self._ordering_assert(node, left_side, op, target.comparator)
                left_side = target.comparator
        self.walk(node.test)
        if node.msg is not None:
            self.walk(node.msg)

    def _ordering_assert(
        self,
        node: cst.Assert,
        left_side: cst.BaseExpression,
        op: str,
        right_side: cst.BaseExpression,
    ) -> None:
        sides = (left_side, right_side)
        left, right = (self.module.code_for_node(s)[:_MAX_EXCERPT] for s in sides)
        numbers = [self.value(s) for s in sides]
        number = next(
            (
                float(v.value)
                for v in numbers
                if v.kind == "const"
                and isinstance(v.value, (int, float))
                and not isinstance(v.value, bool)
            ),
            None,
        )
        fact = Assert(0, self.scope_name, left, op, right, number)
        self.positions.start(node, _setter(fact, "line"))
        self.facts.asserts.append(fact)

    def visit_global(self, node: cst.Global) -> None:
        if self.functions:
            self.functions[-1].globals.extend(n.name.value for n in node.names)

    def visit_if(self, node: cst.If) -> None:
        self.positions.ifs.append(node)
        if _is_main_test(node.test) and not self.scope:
            self.facts.has_main = True
            self.positions.start(node.test, _setter(self.facts, "main_line"))
            self.in_main = True
            self.walk(node.body)
            self.in_main = False
            if node.orelse is not None:
                self.walk(node.orelse)
            return
        self.walk(node.test)
        guard = self._guard_name(node.test)
        self.conditional += 1
        if guard is not None:
            self.guards.append(guard)
        self.walk(node.body)
        if guard is not None:
            self.guards.pop()
        if node.orelse is not None:
            self.walk(node.orelse)
        self.conditional -= 1

    def visit_try(self, node: cst.Try) -> None:
        self.walk(node.body)
        self.conditional += 1
        self.walk_all(node.handlers)
        if node.orelse is not None:
            self.walk(node.orelse)
        self.conditional -= 1
        if node.finalbody is not None:
            self.walk(node.finalbody)

    def _guard_name(self, test: cst.BaseExpression) -> str | None:
        """``if x is None`` / ``if not x`` / ``if "k" not in cache``: a lazy-init guard."""
        if isinstance(test, cst.BooleanOperation):
            return self._guard_name(test.left) or self._guard_name(test.right)
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return self.dotted(test.expression)
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            target = test.comparisons[0]
            if isinstance(target.operator, cst.Is) and _is_none(target.comparator):
                return self.dotted(test.left)
            if isinstance(target.operator, cst.NotIn):
                return self.dotted(target.comparator)
        return None


_KEPT_LOCAL_VALUES = (cst.Call, cst.Name, cst.Attribute, cst.SimpleString, cst.ConcatenatedString)
_BODY_ATTRS = frozenset({"json", "form", "data", "values", "files", "get_json", "body"})

_ORDERING: dict[type, str] = {
    cst.LessThan: "<",
    cst.LessThanEqual: "<=",
    cst.GreaterThan: ">",
    cst.GreaterThanEqual: ">=",
}


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_none(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _is_main_test(test: cst.BaseExpression) -> bool:
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    comparison = test.comparisons[0]
    if not isinstance(comparison.operator, cst.Equal):
        return False
    sides = (test.left, comparison.comparator)
    names = [s.value for s in sides if isinstance(s, cst.Name)]
    strings = [_string_value(s) for s in sides]
    return names == ["__name__"] and "__main__" in strings


def _setter(obj: Any, attr: str) -> Any:
    def set_line(line: int, _col: int) -> None:
        setattr(obj, attr, line)

    return set_line


def _setter2(obj: Any, line_attr: str, col_attr: str) -> Any:
    def set_both(line: int, col: int) -> None:
        setattr(obj, line_attr, line)
        setattr(obj, col_attr, col)

    return set_both


_HANDLERS: dict[type, Any] = {
    cst.Import: _Extractor.visit_import,
    cst.ImportFrom: _Extractor.visit_import_from,
    cst.FunctionDef: _Extractor.visit_function,
    cst.ClassDef: _Extractor.visit_class,
    cst.Call: _Extractor.visit_call,
    cst.Assign: _Extractor.visit_assign,
    cst.AnnAssign: _Extractor.visit_ann_assign,
    cst.Global: _Extractor.visit_global,
    cst.Assert: _Extractor.visit_assert,
    cst.Name: _Extractor.visit_reference,
    cst.Attribute: _Extractor.visit_reference,
    cst.If: _Extractor.visit_if,
    cst.Try: _Extractor.visit_try,
    cst.Await: _Extractor.visit_await,
    cst.Dict: _Extractor.visit_dict,
    # Comments, strings and layout carry no facts: skip the subtrees cheaply.
    cst.SimpleString: lambda _self, _node: None,
    cst.FormattedString: lambda _self, _node: None,
    cst.EmptyLine: lambda _self, _node: None,
    cst.Comment: lambda _self, _node: None,
}


def parse_python(source: bytes | str) -> cst.Module:
    """Parse with libcst; raises libcst.ParserSyntaxError (or RecursionError) on bad input."""
    with _parser_nodes_trusted():
        return cst.parse_module(source)


def _skip_validation(_node: cst.CSTNode) -> None:
    return None


@contextmanager
def _parser_nodes_trusted() -> Iterator[None]:
    """Build the parser's nodes without libcst's per-node validation, about a tenth of a
    parse. Validation guards trees assembled by hand (codemods); the parser's nodes come
    from source text it has just accepted (libcst's own comment on ``__post_init__``
    suggests skipping it when parsing). Only when ``__post_init__`` does nothing but
    validate; restored afterwards, so nodes built by anyone else are still checked."""
    base = cst.CSTNode
    validating = base.__dict__.get("__post_init__")
    code = getattr(validating, "__code__", None)
    if code is None or code.co_names != ("_validate",):
        yield
        return
    setattr(base, "__post_init__", _skip_validation)  # noqa: B010 - a class attribute, on purpose
    try:
        yield
    finally:
        setattr(base, "__post_init__", validating)  # noqa: B010


def extract(
    module: cst.Module, path: str, tree: ast.Module | None = None, data: bytes = b""
) -> PyFacts:
    """Walk ``module`` once and return its facts with positions filled in: from ``tree``,
    CPython's parse of the same ``data``, when given (see positions.py)."""
    extractor = _Extractor(module, path, is_package=path.endswith("__init__.py"))
    extractor.walk(module)
    extractor.positions.resolve(module, tree, data)
    return extractor.facts
