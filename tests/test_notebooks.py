"""Notebooks are indexed like modules: findings name the cell and the line in it (JSON) and
point at the .ipynb line itself (SARIF); broken notebooks are ML901 findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlaudit.index.notebook import neutralise, neutralise_lines, notebook_code
from tests.conftest import check_of, run_cli, scan_json


def notebook(*cells: tuple[str, str | list[str]]) -> str:
    """An nbformat-4 notebook as Jupyter writes it (indent 1, sources as line lists)."""
    return (
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": kind,
                        "metadata": {},
                        "source": source,
                        **({"execution_count": None, "outputs": []} if kind == "code" else {}),
                    }
                    for kind, source in cells
                ],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            },
            indent=1,
        )
        + "\n"
    )


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


TRAIN_NB = notebook(
    ("markdown", ["# Training\n", "Fit a classifier.\n"]),
    (
        "code",
        lines(
            "%matplotlib inline\n!pip install scikit-learn\nimport numpy as np\n"
            "from sklearn.linear_model import LogisticRegression\n"
        ),
    ),
    (
        "code",
        lines("X = np.random.rand(200, 3)\ny = X[:, 0] > 0.5\nclf = LogisticRegression()\n"),
    ),
    ("code", lines("for step in range(2):\n    !echo step\n    out = !ls\nclf.fit(X, y)\n")),
)


def ipynb_line(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_neutralise_keeps_indentation_and_code():
    assert neutralise("%matplotlib inline") == "pass"
    assert neutralise("    !ls -la") == "    pass"
    assert neutralise("files = !ls") == "pass"
    assert neutralise("df.describe?") == "pass"
    assert neutralise("x = 100 % 7") == "x = 100 % 7"
    assert neutralise("print('!')") == "print('!')"


def test_a_shell_escape_goes_on_after_a_backslash():
    cell = [
        "!python prep.py --in a \\",
        "        --out b \\",
        "        --n 3",
        "    x = 1",
        "y = 2",
    ]
    assert neutralise_lines(cell) == ["pass", "", "", "    x = 1", "y = 2"]
    # Python's own continuation lines are code, and stay.
    assert neutralise_lines(["z = 1 + \\", "    2"]) == ["z = 1 + \\", "    2"]


def test_a_continued_shell_escape_is_no_syntax_error(make_repo):
    cell = lines(
        "!python prep.py --data_dir data \\\n"
        "                --split train\n"
        "import numpy as np\n"
        "from sklearn.linear_model import Ridge\n"
        "X = np.random.rand(5, 2)\n"
        "Ridge().fit(X, X[:, 0])\n"
    )
    report = scan_json(make_repo({"prep.ipynb": notebook(("code", cell))}))
    assert ml901(report) == []
    ml102 = check_of(report, "ML102")
    assert [(f["path"], f["cell"], f["cell_line"]) for f in ml102["findings"]] == [
        ("prep.ipynb", 0, 5)  # np.random.rand(), on the fifth line of the cell
    ]


def test_notebook_code_aligns_lines_with_the_ipynb_text():
    code = notebook_code(TRAIN_NB)
    assert code.errors == []
    joined = code.code.splitlines()
    assert joined[0] == "pass" and joined[1] == "pass"
    assert joined[2] == "import numpy as np"
    assert [c.index for c in code.map.cells] == [1, 2, 3]
    text_lines = TRAIN_NB.splitlines()
    for cell in code.map.cells:
        for offset, ipynb in enumerate(cell.lines):
            source = joined[cell.start - 1 + offset]
            if source != "pass":
                # the line of the .ipynb holds that code, starting at the recorded column
                column = cell.cols[offset]
                assert text_lines[ipynb - 1][column - 1 :].startswith(source.strip()[:5]) or (
                    source.startswith("    ")
                )


def test_notebook_finding_reports_cell_and_ipynb_line(make_repo):
    repo = make_repo({"notebooks/train.ipynb": TRAIN_NB})
    report = scan_json(repo)
    trains = next(t for t in report["traits"] if t["name"] == "TRAINS")
    assert trains["present"]
    check = check_of(report, "ML102")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert finding["path"] == "notebooks/train.ipynb"
    assert finding["cell"] == 2 and finding["cell_line"] == 1
    path = repo / "notebooks/train.ipynb"
    assert finding["line"] == ipynb_line(path, "X = np.random.rand(200, 3)")
    row = path.read_text(encoding="utf-8").splitlines()[finding["line"] - 1]
    assert row[finding["column"] - 1 :].startswith("np.random.rand")
    assert "numpy.random.rand" in finding["message"]

    sarif = run_cli("scan", repo, "-f", "sarif", "--no-cache").json()
    results = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "ML102"]
    (result,) = results
    region = result["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "notebooks/train.ipynb"
    assert region["region"]["startLine"] == finding["line"]
    assert result["properties"] == {"cell": 2, "cellLine": 1}


def test_notebook_seeded_passes_with_evidence_in_the_notebook(make_repo):
    nb = notebook(
        ("code", lines("import numpy as np\nfrom sklearn.linear_model import Ridge\n")),
        ("code", lines("np.random.seed(0)\nX = np.random.rand(20, 2)\nRidge().fit(X, X[:, 0])\n")),
    )
    repo = make_repo({"explore.ipynb": nb})
    check = check_of(scan_json(repo), "ML102")
    assert check["verdict"] == "pass"
    assert {
        "path": "explore.ipynb",
        "line": ipynb_line(repo / "explore.ipynb", "np.random.seed"),
    } == {k: check["evidence"][0][k] for k in ("path", "line")}


def test_suppression_comment_in_a_cell(make_repo):
    nb = notebook(
        ("code", lines("import numpy as np\nfrom sklearn.linear_model import Ridge\n")),
        (
            "code",
            lines(
                "# mlaudit: ignore[ML102] exploratory only\nX = np.random.rand(20, 2)\n"
                "Ridge().fit(X, X[:, 0])\n"
            ),
        ),
    )
    check = check_of(scan_json(make_repo({"explore.ipynb": nb})), "ML102")
    assert check["verdict"] == "pass"
    assert check["findings"][0]["suppressed"] is True
    assert check["findings"][0]["suppression_reason"] == "exploratory only"


def ml901(report: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [(f["path"], f["line"], f["message"]) for f in check_of(report, "ML901")["findings"]]


def test_broken_notebooks_are_ml901_and_the_scan_goes_on(make_repo):
    good_cell = ("code", lines("import numpy as np\nfrom sklearn.linear_model import Ridge\n"))
    repo = make_repo(
        {
            "truncated.ipynb": '{"cells": [\n  {"cell_type": "code",\n',
            "nocells.ipynb": '{"nbformat": 4, "metadata": {}}\n',
            "numbers.ipynb": '{"cells": [{"cell_type": "code", "source": [1, 2]}]}\n',
            "onebad.ipynb": notebook(
                good_cell,
                ("code", ["def broken(:\n", "    pass\n"]),
                ("code", lines("X = np.random.rand(5, 2)\nRidge().fit(X, X[:, 0])\n")),
            ),
        }
    )
    report = scan_json(repo)
    errors = ml901(report)
    by_path = {path: (line, message) for path, line, message in errors}
    assert "invalid JSON" in by_path["truncated.ipynb"][1]
    assert by_path["truncated.ipynb"][0] == 2
    assert "no `cells` list" in by_path["nocells.ipynb"][1]
    assert "non-string source" in by_path["numbers.ipynb"][1]
    line, message = by_path["onebad.ipynb"]
    assert "cell 1" in message and "syntax error" in message
    assert line == ipynb_line(repo / "onebad.ipynb", "def broken(:")
    # the other cells of that notebook are still read
    ml102 = check_of(report, "ML102")
    assert [(f["path"], f["cell"]) for f in ml102["findings"]] == [("onebad.ipynb", 2)]


def test_notebook_in_tests_dir_yields_no_production_findings(make_repo):
    repo = make_repo({"tests/scratch.ipynb": TRAIN_NB, "train.py": "print('hi')\n"})
    assert check_of(scan_json(repo), "ML102")["findings"] == []


def test_warm_cache_gives_the_same_report(make_repo, tmp_path):
    plain = notebook(("code", lines("import helpers\n%time helpers.report()\nprint(1)\n")))
    repo = make_repo({"train.ipynb": TRAIN_NB, "notes.ipynb": plain, "helpers.py": "x = 1\n"})
    cache = tmp_path / "cache"
    args = ("scan", repo, "-f", "json", "--cache-dir", cache)
    cold, warm = run_cli(*args), run_cli(*args)
    assert cold.code == warm.code
    assert cold.stdout == warm.stdout
    full = run_cli(*args, env={"MLAUDIT_FULL_PASS": "1"})
    assert full.stdout == cold.stdout


def test_a_broken_cell_before_a_long_one_keeps_its_ipynb_line(make_repo):
    """A read error is located in the .ipynb text already: it is not mapped again as if it
    were a line of the joined cells (which once sent it to another cell's line)."""
    long_cell = ("code", lines("".join(f"x{i} = {i}\n" for i in range(60))))
    nb = notebook(("code", ["def broken(:\n", "    pass\n"]), long_cell)
    repo = make_repo({"long.ipynb": nb})
    ((path, line, message),) = ml901(scan_json(repo))
    assert path == "long.ipynb" and "cell 0" in message and "syntax error" in message
    assert line == ipynb_line(repo / "long.ipynb", "def broken(:")
