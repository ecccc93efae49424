"""Positions read off CPython's ast must equal libcst's code-generation positions.

Every fact's line, column and end line comes from ast_positions.py when the two trees line
up, and from libcst's code generation otherwise. These tests hold the fast path to the slow
one on awkward source (parentheses across lines, comments inside them, non-ASCII text, CRLF,
tabs, form feeds, footers, ``def \\`` continuations, f-strings, match, lambdas) and on
generated programs, check that what it does not model falls back, and check a finding's
column in the report a user reads.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import libcst as cst
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlaudit.index import ast_positions
from mlaudit.index.extract import _cpython_parse
from mlaudit.index.facts import PyFacts
from mlaudit.index.positions import PositionRequests
from mlaudit.index.python import _Extractor, extract
from tests.conftest import check_of, scan_json, write_tree

AWKWARD = textwrap.dedent(
    '''\
    # -*- coding: utf-8 -*-
    """Docstring with a call(x) inside."""
    import os, sys as system
    from . import sibling
    from .pkg import (a as b,
        c)
    from x import *

    name = "ünïcode"; value = f"{os.getcwd()}" ; other = os.path.join("é", "ß")
    x = (
        # a comment inside parentheses
        os.path.join("a", "b"))
    y = ((os.getpid)
         ())
    z = (os.environ
         .get("A"))
    config = {"lr": 0.1, "epochs": 3, **extra, (("paren")): 2}
    w = f(a=1, *args, b=g(2), **kw)
    v = [h(i) for i in range(3) if k(i)]
    u = h(1) if h(2) else h(3)
    t = lambda q, /, r=h(4), *, s=h(5): h(6)
    lam2 = lambda q=h(7), /, r=h(8): 0
    a[h(9)] = h(10)
    obj.attr: int = h(11)
    n: "h(12)"
    n2 += h(13)
    if (n := h(14)) and request.json:
        pass
    elif h(15):
        pass
    else:
        h(16)
        # trailing comment in else block
              # deeper comment


    @decorator(h(17))
    @other.deco
    async  def   fn(p: h(18) = h(19), *, q=h(20)) -> h(21):
        """Doc."""
        assert 0.5 < h(22) <= 1.0, h(23)
        try:
            h(24)
        except (ValueError, mod.Error) as e:
            h(25)
        except mod.Other:
            pass
        else:
            h(26)
        finally:
            h(27)
            # footer comment

    class K(Base, metaclass=h(28)):
        field: int = h(29)
        data = {"x": 1}
        def m(self): return h(30)
        def n(self):
            return (
                h(31)
            )

    def \\
      odd(): pass

    match command:
        case Point(x=0) if h(32):
            h(33)
        case {Color.RED: p, Color.BLUE: q}:
            h(34)
        case _:
            h(35)

    with open(h(36)) as fh, h(37) as g:
    \th(38)  # a tab indent

    for i in h(39):
        h(40)
    else:
        h(41)

    while h(42):
        break

    data = request.form["x"]; req.json
    s = ("a" "b" f"{h(43)}")
    nested = h(h(h(44)))
    chain = a.b(c).d(e)(f)
    sub = x[h(45):h(46)]
    star = [*h(47), *h(48)]
    gen = h(x for x in h(49))
    async def co():
        await h(50)
        async for i in h(51):
            pass
        async with h(52):
            pass
    del a[h(53)]
    raise h(54) from h(55)
    if __name__ == "__main__":
        main()
    '''
).encode("utf-8")


def _requests(data: bytes) -> tuple[cst.Module, PositionRequests]:
    """The libcst module of ``data`` and the position requests its extraction makes."""
    module = cst.parse_module(data)
    probe = _Extractor(module, "m.py", is_package=False)
    probe.walk(module)
    return module, probe.positions


def _both_ways(data: bytes) -> tuple[PyFacts, PyFacts, bool]:
    """Facts with positions from the ast, from code generation, and whether the ast's
    positions were taken (no fallback)."""
    tree, error = _cpython_parse(data)
    assert error is None
    module, requests = _requests(data)
    fast = tree is not None and ast_positions.answers(requests, module, tree, data)
    return extract(module, "m.py", tree, data), extract(module, "m.py"), fast is not None


VARIANTS = {
    "lf": AWKWARD,
    "crlf": AWKWARD.replace(b"\n", b"\r\n"),
    "latin-1 cookie": AWKWARD.replace(b"utf-8 -*-", b"latin-1 -*-")
    .decode("utf-8")
    .encode("latin-1"),
    "form feeds": b"\x0c" + AWKWARD.replace(b"\nclass K", b"\n\x0cclass K"),
    "no final newline": AWKWARD.rstrip(b"\n"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_ast_positions_equal_code_generation_on_awkward_source(variant: str) -> None:
    from_ast, generated, fast = _both_ways(VARIANTS[variant])
    assert fast, "the trees should line up: this source is all modelled"
    assert from_ast == generated
    assert len(generated.calls) > 50 and generated.functions and generated.main_line


def test_a_function_ends_with_its_footer_comments() -> None:
    data = b"def f():\n    return 1\n        # footer, the function's\n\n# the module's\n"
    from_ast, generated, fast = _both_ways(data)
    assert fast and from_ast == generated
    assert [(f.line, f.end_line) for f in from_ast.functions] == [(1, 3)]


@pytest.mark.parametrize(
    "variant",
    ["lone CR line endings", "byte-order mark"],
)
def test_unmodelled_source_falls_back_to_code_generation(variant: str) -> None:
    data = {
        "lone CR line endings": AWKWARD.replace(b"\n", b"\r"),
        "byte-order mark": b"\xef\xbb\xbf" + AWKWARD,
    }[variant]
    from_ast, generated, fast = _both_ways(data)
    assert not fast
    assert from_ast == generated


@pytest.mark.parametrize(
    ("data", "other"),
    [
        # An ast of other code (one call fewer): the counts disagree.
        (
            b"import os\nx = os.path.join('a', 'b')\ny = f(g(1))\n",
            b"import os\nx = os.path.join('a', 'b')\ny = f(1)\n",
        ),
        # Same shape, other names: the counts agree, the pair check refuses the pairing.
        (b"a = first(1)\nb = second(2)\n", b"a = second(1)\nb = first(2)\n"),
    ],
    ids=["one call fewer", "swapped names"],
)
def test_trees_that_do_not_line_up_fall_back(data: bytes, other: bytes) -> None:
    tree, _ = _cpython_parse(other)
    module, requests = _requests(data)
    assert tree is not None
    assert ast_positions.answers(requests, module, tree, data) is None
    assert extract(module, "m.py", tree, data) == extract(module, "m.py")


# -- generated programs -----------------------------------------------------------------------
LEAVES = st.sampled_from(["a", "np", "request", "1", "0.5", "'é'", '"s"', "None", "x.y"])


def _expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        name = st.sampled_from(["f", "np.load", "obj.m", "g().h", "torch.nn.Linear"])
        gap = st.sampled_from(["", " ", "\n    ", "  # note\n    "])
        return st.one_of(
            st.builds(lambda f, args: f"{f}({', '.join(args)})", name, st.lists(inner, max_size=3)),
            st.builds(lambda f, k, v: f"{f}({k}={v})", name, st.sampled_from(["k", "lr"]), inner),
            st.builds(lambda e, g: f"({g}{e}{g})", inner, gap),
            st.builds(lambda e: f"{e}.attr", inner),
            st.builds(lambda k, v: f"{{'{k}': {v}, **d}}", st.sampled_from(["lr", "é"]), inner),
            st.builds(lambda a, b, c: f"({a} if {b} else {c})", inner, inner, inner),
            st.builds(lambda e: f"(lambda q, /, r={e}: q)", inner),
            st.builds(lambda e: f'f"{{{e}}}"', inner),
            st.builds(lambda e, s: f"[{e} for i in {s}]", inner, inner),
            st.builds(lambda e: f"{e}[1:2]", inner),
        )

    return st.recursive(LEAVES, extend, max_leaves=8)


EXPRESSIONS = _expressions()


@st.composite
def programs(draw: st.DrawFn) -> str:
    lines: list[str] = []

    def block(depth: int) -> None:
        pad = "    " * depth
        for _ in range(draw(st.integers(1, 4))):
            e = draw(EXPRESSIONS)
            kind = draw(st.integers(0, 9 if depth < 2 else 4))
            if kind == 0:
                lines.append(f"{pad}x = {e}")
            elif kind == 1:
                lines.append(f"{pad}{e}")
            elif kind == 2:
                lines.append(f"{pad}assert {e} < 1.0, {draw(EXPRESSIONS)}")
            elif kind == 3:
                lines.append(f"{pad}t[{e}] = {draw(EXPRESSIONS)}")
            elif kind == 4:
                lines.append(f"{pad}import os; y: int = {e}")
            else:
                header = {
                    5: f"if {e}:",
                    6: f"@{e}\n{pad}def fn(p={draw(EXPRESSIONS)}, *, q: {e} = 1):",
                    7: f"class C(Base, meta={e}):",
                    8: f"for i in {e}:",
                    9: f"try:\n{pad}    pass\n{pad}except {e}:",
                }[kind]
                lines.append(pad + header)
                block(depth + 1)
                if draw(st.booleans()):
                    lines.append(pad + "        # a footer comment")
                if kind == 5 and draw(st.booleans()):
                    lines.append(pad + "else:")
                    block(depth + 1)

    block(0)
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.sampled_from(["\n", "\r\n"]))
def test_generated_programs_get_the_same_positions_both_ways(source: str, newline: str) -> None:
    data = source.replace("\n", newline).encode("utf-8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "x is not subscriptable; missed a comma?"
            compile(data, "<generated>", "exec", dont_inherit=True)
        cst.parse_module(data)
    except (SyntaxError, cst.ParserSyntaxError):
        assume(False)
    from_ast, generated, fast = _both_ways(data)
    assert fast
    assert from_ast == generated


# -- what a user sees -------------------------------------------------------------------------
def test_finding_column_counts_characters_not_bytes(tmp_path: Path) -> None:
    # "è" is two bytes in UTF-8; CPython's ast counts bytes, the report counts characters.
    root = write_tree(tmp_path / "repo", {"serve.py": ""})
    (root / "serve.py").write_bytes(
        'import torch\r\nname = "modèle"; model = torch.load("m.pt")\r\n'.encode()
    )
    findings = check_of(scan_json(root), "ML302")["findings"]
    assert [(f["path"], f["line"], f["column"]) for f in findings] == [("serve.py", 2, 26)]
