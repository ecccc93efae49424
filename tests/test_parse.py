"""The libcst parse the full pass runs: same trees without per-node validation, and
validation back in force for everyone else afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import libcst as cst
import pytest

from mlaudit.index.python import parse_python

SOURCE = Path(__file__).resolve().parents[1] / "mlaudit" / "index" / "python.py"


def _validations_during(
    parse: Callable[[bytes], cst.Module], data: bytes, monkeypatch: pytest.MonkeyPatch
) -> int:
    calls = 0
    original = cst.Name._validate

    def counting(node: cst.Name) -> None:
        nonlocal calls
        calls += 1
        original(node)

    monkeypatch.setattr(cst.Name, "_validate", counting)
    parse(data)
    monkeypatch.undo()
    return calls


def test_parser_nodes_are_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    data = SOURCE.read_bytes()
    assert _validations_during(cst.parse_module, data, monkeypatch) > 100
    assert _validations_during(parse_python, data, monkeypatch) == 0


def test_trees_are_the_same_as_libcsts_own_parse() -> None:
    data = SOURCE.read_bytes()
    ours, theirs = parse_python(data), cst.parse_module(data)
    assert ours.deep_equals(theirs)
    assert ours.code == theirs.code == data.decode("utf-8")


def test_validation_is_restored_after_a_parse_and_after_a_failed_one() -> None:
    parse_python(b"x = 1\n")
    with pytest.raises(cst.ParserSyntaxError):
        parse_python(b"def (:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not an identifier")
