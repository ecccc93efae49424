"""Hostile and broken repositories: the scan finishes (exit 0 or 1, never 3), every file it
cannot read is an ML901 finding with the parser's message and location, and every other
check still runs on the rest of the repository.

The corpus is generated here, byte by byte: nothing hostile is committed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import check_of, git_init, run_cli, write_tree

Report = dict[str, Any]

# -- healthy canaries: what other checks must still find beside the hostile files ----------
SERVE_PY = """\
from fastapi import FastAPI
import joblib

app = FastAPI()


@app.post("/predict")
def predict(x: float) -> float:
    model = joblib.load("model.joblib")
    return model.predict([[x]])[0]
"""
CANARY_LINE = 9  # the joblib.load inside the handler: ML307

REQUIREMENTS = """\
numpy
fastapi==0.110.0
foo==
bar>=1,<
baz[extra
qux @
==1.0
name with spaces==1
pkg ; python_version >>> "3"
pkg===
-r
--index-url https://example.invalid/simple
git+https://example.invalid/repo.git
./local/path
pkg==1.0 \\
    --hash=sha256:abc
"""
# (line, fragment of the message) of the lines pip rejects too
BAD_REQUIREMENT_LINES = {3: "foo==", 4: "bar>=1,<", 5: "baz[extra", 6: "qux @", 7: "==1.0"}

BAD_PYPROJECT = """\
[project]
name = "x"
dependencies = ["ok==1.0",
[tool.other]
"""
DUPLICATE_TOML = """\
[project]
name = "x"
name = "y"
"""

WORKFLOW_OK = """\
name: ci
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pytest
"""
BILLION_LAUGHS = """\
name: lol
on: push
x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
x1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
x2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
x3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
x4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
x5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
x6: &a6 [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]
x7: &a7 [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]
x8: &a8 [*a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7]
x9: &a9 [*a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]
jobs: &jobs
  build:
    runs-on: ubuntu-latest
    steps: &steps
      - run: echo *a9
      - uses: actions/setup-python@v5
  again:
    runs-on: ubuntu-latest
    steps: *steps
"""
DUPLICATE_KEYS = """\
name: dup
on: push
on: pull_request
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: one
  a:
    runs-on: ubuntu-latest
    steps:
      - run: two
"""
TABS = "name: tabs\non: push\njobs:\n\tbuild:\n\t\truns-on: ubuntu-latest\n"
MULTI_DOC = "name: first\non: push\njobs: {}\n---\nname: second\n---\n- just\n- a list\n"
CUSTOM_TAGS = """\
name: !!python/object/apply:os.system ["echo tagged"]
on: !custom push
jobs:
  build: !!map
    runs-on: !Ref ubuntu-latest
    steps:
      - run: !!binary aGVsbG8=
"""
UNDEFINED_ALIAS = "name: x\non: push\njobs: *nowhere\n"

DOCKERFILE_OK = """\
FROM python:3.11-slim
RUN apt-get update \\
 && apt-get install -y curl \\
 && rm -rf /var/lib/apt/lists/*
COPY <<EOF /app/hello.sh
echo hello
EOF
RUN <<EOT bash
set -e
echo heredoc
EOT
CMD ["python", "serve.py"]
"""
DOCKERFILE_BROKEN = 'FROM python:3.11\nRUN echo hi\nCMD ["unterminated\nHEALTHCHECK --interval=\n'
DOCKERFILE_EMPTY_CONTINUATION = "FROM python:3.11\nRUN echo a \\\n"

NOTEBOOK_OK = json.dumps(
    {
        "cells": [{"cell_type": "code", "source": ["import os\n"], "metadata": {}}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


def hostile_files() -> dict[str, bytes]:
    """Every hostile file of the corpus, by repo-relative path."""
    big_string = b'x = "' + b"a" * (2_000_000 - 10) + b'"\n'
    files: dict[str, bytes] = {
        # Python
        "src/syntax_error.py": b"def f(:\n    pass\n",
        "src/py2.py": b"import os\nprint 'hello'\n",
        "src/py2_exec.py": b"exec 'x = 1'\n",
        "src/nul.py": b"import os\n\0\0\0\0garbage\n",
        "src/latin1_declared.py": "# -*- coding: latin-1 -*-\nx = 'café'\n".encode("latin-1"),
        "src/latin1_undeclared.py": "import os\nx = 'café'\n".encode("latin-1"),
        "src/mixed_encoding.py": "a = 'é'\n".encode() + "b = 'é'\n".encode("latin-1"),
        "src/bad_cookie.py": b"# coding: no-such-codec\nx = 1\n",
        "src/bom.py": b"\xef\xbb\xbfimport os\nprint(os.sep)\n",
        "src/bom_with_latin1_cookie.py": b"\xef\xbb\xbf# coding: latin-1\nx = 1\n",
        "src/utf16.py": "import os\nprint(os.sep)\n".encode("utf-16"),
        "src/crlf.py": b"import os\r\n\r\ndef f():\r\n    return os.sep\r\n",
        "src/cr_only.py": b"import os\rx = 1\r",
        "src/empty.py": b"",
        "src/only_comment.py": b"# nothing here",
        "src/big_single_line.py": big_string,
        "src/over_budget.py": b"# " + b"x" * (2 * 1024 * 1024 + 10) + b"\n",
        "src/deep_unary.py": b"x = " + b"-" * 100_000 + b"1\n",
        "src/deep_not.py": b"x = " + b"not " * 50_000 + b"1\n",
        "src/deep_lambda.py": b"x = " + b"lambda: " * 20_000 + b"1\n",
        "src/deep_brackets.py": b"x = " + b"[" * 5_000 + b"]" * 5_000 + b"\n",
        "src/deep_parens_lines.py": b"x = " + b"-(\n" * 5_000 + b"1" + b")" * 5_000 + b"\n",
        "src/long_chain.py": b"x = " + b"+".join([b"a"] * 100_000) + b"\n",
        "src/deep_indent.py": b"".join(b" " * i + b"if x:\n" for i in range(150))
        + b" " * 150
        + b"pass\n",
        "src/binary.py": bytes(range(256)) * 40,
        "src/random_bytes.py": bytes((i * 37 + 11) % 256 for i in range(5000)),
        # Notebooks
        "nb/invalid.ipynb": b'{"cells": [',
        "nb/no_cells.ipynb": b'{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
        "nb/bad_source.ipynb": json.dumps(
            {"cells": [{"cell_type": "code", "source": 42}, {"cell_type": "code", "source": None}]}
        ).encode(),
        "nb/binary.ipynb": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(200),
        "nb/ok.ipynb": NOTEBOOK_OK.encode(),
        # YAML
        ".github/workflows/ci.yml": WORKFLOW_OK.encode(),
        ".github/workflows/lol.yml": BILLION_LAUGHS.encode(),
        ".github/workflows/dup.yml": DUPLICATE_KEYS.encode(),
        ".github/workflows/tabs.yml": TABS.encode(),
        ".github/workflows/multi.yml": MULTI_DOC.encode(),
        ".github/workflows/tags.yml": CUSTOM_TAGS.encode(),
        ".github/workflows/alias.yml": UNDEFINED_ALIAS.encode(),
        ".github/workflows/binary.yml": b"\0\1\2\3" * 100,
        ".github/workflows/empty.yml": b"",
        "config/params.yaml": BILLION_LAUGHS.encode(),
        "config/binary.yaml": b"\xff\xfe\0\0" * 50,
        # dependency files
        "requirements.txt": REQUIREMENTS.encode(),
        "requirements-binary.txt": b"numpy\0\0\0",
        "requirements-latin1.txt": "caf\xe9==1.0\n".encode("latin-1"),
        "pkg_a/pyproject.toml": BAD_PYPROJECT.encode(),
        "pkg_b/pyproject.toml": DUPLICATE_TOML.encode(),
        "pkg_c/pyproject.toml": b'[project]\ndependencies = "not a list"\n[tool]\npoetry = 3\n',
        "pkg_d/pyproject.toml": b'[project]\ndependencies = ["ok==1", "bad=="]\n',
        # Dockerfiles
        "Dockerfile": DOCKERFILE_OK.encode(),
        "docker/Dockerfile.broken": DOCKERFILE_BROKEN.encode(),
        "docker/Dockerfile.continuation": DOCKERFILE_EMPTY_CONTINUATION.encode(),
        "docker/Dockerfile.binary": b"\0FROM\0" * 30,
        # canary
        "serve.py": SERVE_PY.encode(),
    }
    return files


def build_corpus(root: Path) -> Path:
    for rel, data in hostile_files().items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def scan(path: Path, *args: str, env: dict[str, str] | None = None) -> Report:
    result = run_cli("scan", path, "-f", "json", "--no-cache", *args, env=env)
    assert result.code in (0, 1), f"exit {result.code}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.json()


def ml901(report: Report) -> dict[str, list[dict[str, Any]]]:
    by_path: dict[str, list[dict[str, Any]]] = {}
    for finding in check_of(report, "ML901")["findings"]:
        by_path.setdefault(finding["path"], []).append(finding)
    return by_path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("hostile") / "repo")


@pytest.fixture(scope="module")
def report(corpus: Path) -> Report:
    return scan(corpus)


# -- the corpus as a whole --------------------------------------------------------------------
def test_scan_of_the_hostile_corpus_finishes_with_a_gate_exit_code(report: Report) -> None:
    assert report["checks"], "no check ran"
    verdicts = {c["code"]: c["verdict"] for c in report["checks"]}
    assert verdicts["ML901"] == "fail"
    # every check reached a verdict: nothing was skipped because of the hostile files
    assert all(v in ("pass", "partial", "fail", "n/a") for v in verdicts.values()), verdicts


def test_other_checks_still_run_on_the_healthy_rest(report: Report) -> None:
    ml307 = [(f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]]
    assert ("serve.py", CANARY_LINE) in ml307
    unpinned = {(f["path"], f["line"]) for f in check_of(report, "ML104")["findings"]}
    assert ("requirements.txt", 1) in unpinned  # numpy, beside the malformed lines


UNREADABLE_PYTHON = {
    "src/syntax_error.py": (1, "syntax error"),
    "src/py2.py": (2, "print"),
    "src/py2_exec.py": (1, "syntax error"),
    "src/nul.py": (1, "binary content"),
    "src/latin1_undeclared.py": (1, "cannot decode"),
    "src/mixed_encoding.py": (1, "cannot decode"),
    "src/bad_cookie.py": (1, ""),
    "src/bom_with_latin1_cookie.py": (1, ""),
    "src/utf16.py": (1, ""),
    "src/over_budget.py": (1, "budget"),
    "src/deep_unary.py": (1, "nesting too deep"),
    "src/deep_not.py": (1, "nesting too deep"),
    "src/deep_lambda.py": (1, "nesting too deep"),
    "src/deep_brackets.py": (1, "too many nested parentheses"),
    "src/deep_parens_lines.py": (0, "too many nested parentheses"),
    "src/long_chain.py": (1, "nesting too deep"),
    "src/deep_indent.py": (0, "indentation"),
    "src/binary.py": (1, "binary content"),
}


@pytest.mark.parametrize("path", sorted(UNREADABLE_PYTHON))
def test_unreadable_python_is_ml901_with_message_and_location(report: Report, path: str) -> None:
    line, fragment = UNREADABLE_PYTHON[path]
    found = ml901(report).get(path)
    assert found, f"{path}: no ML901 in {sorted(ml901(report))}"
    finding = found[0]
    assert fragment.lower() in finding["message"].lower(), finding["message"]
    assert finding["line"] >= 1 and finding["column"] >= 1
    if line:
        assert finding["line"] == line, finding


def test_random_bytes_named_py_never_crash(report: Report) -> None:
    # whatever the parser makes of it, it reads the file or says why not
    found = ml901(report).get("src/random_bytes.py", [])
    assert all(f["message"] for f in found)


@pytest.mark.parametrize(
    "path",
    [
        "src/latin1_declared.py",
        "src/bom.py",
        "src/crlf.py",
        "src/cr_only.py",
        "src/empty.py",
        "src/only_comment.py",
        "src/big_single_line.py",
        "serve.py",
        ".github/workflows/ci.yml",
        "Dockerfile",
    ],
)
def test_valid_odd_files_are_read_without_ml901(report: Report, path: str) -> None:
    assert path not in ml901(report), ml901(report).get(path)


UNREADABLE_OTHER = {
    ".github/workflows/tabs.yml": (4, "invalid YAML"),
    ".github/workflows/alias.yml": (3, "invalid YAML"),
    ".github/workflows/binary.yml": (1, "binary content"),
    "requirements-binary.txt": (1, "binary content"),
    "pkg_a/pyproject.toml": (0, "invalid TOML"),
    "pkg_b/pyproject.toml": (3, "invalid TOML"),
    "pkg_d/pyproject.toml": (2, "bad=="),
    "docker/Dockerfile.binary": (1, "binary content"),
}


@pytest.mark.parametrize("path", sorted(UNREADABLE_OTHER))
def test_unreadable_config_files_are_ml901(report: Report, path: str) -> None:
    line, fragment = UNREADABLE_OTHER[path]
    found = ml901(report).get(path)
    assert found, f"{path}: no ML901 in {sorted(ml901(report))}"
    assert fragment.lower() in found[0]["message"].lower(), found[0]["message"]
    if line:
        assert found[0]["line"] == line, found[0]


def test_every_line_pip_rejects_is_its_own_ml901(report: Report) -> None:
    found = {f["line"]: f["message"] for f in ml901(report)["requirements.txt"]}
    for line, fragment in BAD_REQUIREMENT_LINES.items():
        assert line in found and fragment in found[line], (line, found)
    # pip options, includes, URLs, local paths and hashed continuations are not errors
    assert not set(found) & {1, 2, 11, 12, 13, 14, 15}, found


@pytest.mark.parametrize(
    "path",
    [
        ".github/workflows/lol.yml",
        ".github/workflows/dup.yml",
        ".github/workflows/multi.yml",
        ".github/workflows/tags.yml",
        ".github/workflows/empty.yml",
        "pkg_c/pyproject.toml",
        "docker/Dockerfile.continuation",
    ],
)
def test_odd_but_parseable_config_is_not_an_error(report: Report, path: str) -> None:
    assert path not in ml901(report), ml901(report)[path]


def test_dockerfile_parser_errors_never_crash(report: Report) -> None:
    found = ml901(report).get("docker/Dockerfile.broken", [])
    assert all(f["line"] >= 1 and f["message"] for f in found)


def test_billion_laughs_is_composed_not_expanded(corpus: Path) -> None:
    from mlaudit.index.workflows import parse_github_workflow

    facts, errors = parse_github_workflow((corpus / ".github/workflows/lol.yml").read_text())
    assert not errors
    assert facts.jobs == ["build", "again"]
    # the aliased step list is shared: both jobs see the two steps at their own lines
    assert [(s.job, s.line) for s in facts.steps] == [
        ("build", 17),
        ("build", 18),
        ("again", 17),
        ("again", 18),
    ]


# -- notebooks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["nb/invalid.ipynb", "nb/no_cells.ipynb", "nb/bad_source.ipynb", "nb/binary.ipynb"]
)
def test_invalid_notebook_is_ml901(report: Report, path: str) -> None:
    assert path in ml901(report)


def test_valid_notebook_is_not_ml901(report: Report) -> None:
    assert "nb/ok.ipynb" not in ml901(report)


def test_notebook_with_50_mb_outputs_is_reported_not_parsed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    blob = "A" * (50 * 1024 * 1024)
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": ["import os\n"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": [blob]}],
                "metadata": {},
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "big.ipynb").write_text(json.dumps(notebook))
    del blob
    report = scan(root)
    found = ml901(report).get("big.ipynb", [])
    assert found and "budget" in found[0]["message"]


# -- the shape of the repository --------------------------------------------------------------
def test_empty_directory(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    report = scan(root)
    assert check_of(report, "ML901")["verdict"] in ("pass", "n/a")
    assert not check_of(report, "ML901")["findings"]


def test_empty_git_repository_without_commits(tmp_path: Path) -> None:
    import git

    root = tmp_path / "fresh"
    git.Repo.init(root)
    report = scan(root)
    assert not check_of(report, "ML901")["findings"]


def test_plain_directory_is_walked_and_says_so(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "plain", {"serve.py": SERVE_PY})
    report = scan(root)
    assert any("not a git work tree" in n for n in report["notes"])
    assert ("serve.py", CANARY_LINE) in {
        (f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]
    }


def test_git_dir_inside_a_plain_directory_is_never_read_as_the_work_tree(tmp_path: Path) -> None:
    # a bare repository (no work tree) is the scan target
    origin = write_tree(tmp_path / "origin", {"serve.py": SERVE_PY})
    git_init(origin)
    bare = tmp_path / "bare.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(origin), str(bare)], check=True, capture_output=True
    )
    report = scan(bare)
    assert report["checks"]
    assert not check_of(report, "ML307")["findings"]  # no work tree, no source files


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        check=True,
        capture_output=True,
        cwd=cwd,
    )


def test_shallow_clone(tmp_path: Path) -> None:
    origin = write_tree(tmp_path / "origin", {"serve.py": SERVE_PY})
    repo = git_init(origin)
    (origin / "README.md").write_text("second commit\n")
    repo.git.add(A=True)
    repo.index.commit("second")
    shallow = tmp_path / "shallow"
    _git("clone", "-q", "--depth", "1", f"file://{origin}", str(shallow))
    assert (shallow / ".git" / "shallow").exists()
    report = scan(shallow)
    assert not any("not a git work tree" in n for n in report["notes"])
    assert ("serve.py", CANARY_LINE) in {
        (f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]
    }


def test_repository_with_submodules_initialised_or_not(tmp_path: Path) -> None:
    sub = write_tree(tmp_path / "sub", {"lib.py": "def f(:\n"})
    git_init(sub)
    main = write_tree(tmp_path / "main", {"serve.py": SERVE_PY})
    git_init(main)
    _git("submodule", "add", "-q", f"file://{sub}", "vendored", cwd=main)
    _git("commit", "-q", "-m", "submodule", cwd=main)
    report = scan(main)
    assert ("serve.py", CANARY_LINE) in {
        (f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]
    }
    # an uninitialised submodule (a fresh clone) is an empty directory entry: no crash
    clone = tmp_path / "clone"
    _git("clone", "-q", f"file://{main}", str(clone))
    report = scan(clone)
    assert "vendored" not in {f["path"] for f in check_of(report, "ML901")["findings"]}


def test_symlink_loops_and_links_out_of_the_root(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.py": "def f(:\n", "sub/x.py": "x = 1\n"})
    root = write_tree(tmp_path / "repo", {"serve.py": SERVE_PY})
    (root / "loop_a").symlink_to("loop_b")
    (root / "loop_b").symlink_to("loop_a")
    (root / "self_dir").symlink_to(".")
    (root / "pkg").mkdir()
    (root / "pkg" / "up").symlink_to("..")
    (root / "escape.py").symlink_to(outside / "secret.py")
    (root / "escape_dir").symlink_to(outside / "sub")
    (root / "dangling.py").symlink_to(tmp_path / "missing.py")
    (root / "inside.py").symlink_to("serve.py")
    for git in (False, True):
        if git:
            git_init(root)
        report = scan(root)
        paths = {f["path"] for c in report["checks"] for f in c["findings"]}
        assert not any(p.startswith(("escape", "loop_", "self_dir", "pkg/up")) for p in paths)
        assert "escape.py" not in ml901(report)
        assert any("escape.py" in n and "out of the scanned root" in n for n in report["notes"])
        assert ("serve.py", CANARY_LINE) in {
            (f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]
        }


def test_unreadable_file_is_ml901(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"serve.py": SERVE_PY, "locked.py": "x = 1\n"})
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # root reads through chmod 000; a FIFO with the name of a source file is unreadable
        # in another way (reading it would block) and must not hang the scan either.
        (root / "locked.py").unlink()
        os.mkfifo(root / "locked.py")
        report = scan(root)
        assert ("serve.py", CANARY_LINE) in {
            (f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]
        }
        return
    (root / "locked.py").chmod(0)
    try:
        report = scan(root)
    finally:
        (root / "locked.py").chmod(0o644)
    found = ml901(report)["locked.py"]
    assert "cannot read" in found[0]["message"]


def test_a_directory_named_like_a_source_file(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {"serve.py": SERVE_PY, "weird.py/inner.py": "x = 1\n"})
    (root / "requirements.txt").mkdir()
    report = scan(root)
    assert "requirements.txt" not in ml901(report)


# -- the per-file time budget -----------------------------------------------------------------
def slow_python(count: int) -> str:
    """Valid Python that the full pass takes a while over (many calls to record)."""
    body = "".join(
        f'    torch.load("m{i}.pt", map_location=device.get(name="{i}"))\n' for i in range(count)
    )
    return "import torch\n\n\ndef load(device):\n" + body


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_file_over_the_time_budget_is_ml901_serial_and_in_the_pool(
    tmp_path: Path, jobs: str
) -> None:
    # Four 110 kB files: over the serial threshold, so -j 2 extracts in the process pool.
    files = {f"slow_{n}.py": slow_python(1500) for n in range(4)}
    files["requirements.txt"] = "numpy\nfoo==\n"
    root = write_tree(tmp_path / "repo", files)
    # the full libcst pass for every file (triage would give these a quick light record)
    env = {"MLAUDIT_FILE_TIMEOUT": "0.05", "MLAUDIT_FULL_PASS": "1"}
    report = scan(root, "-j", jobs, env=env)
    found = ml901(report)
    for n in range(4):
        assert f"slow_{n}.py" in found, sorted(found)
        assert "0.05-second budget" in found[f"slow_{n}.py"][0]["message"]
    # the rest of the repository is still read and checked
    assert [f["line"] for f in found["requirements.txt"]] == [2]


def test_budget_interrupt_lost_inside_the_ast_parse_is_still_over_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression (a CI flake): an interrupt that lands while CPython builds the ast objects
    # of the guard parse can come out as "SystemError: AST constructor recursion depth
    # mismatch", without the interrupt attached. This parse waits for the real timer and
    # then fails the way CPython does.
    import time
    from types import SimpleNamespace

    from mlaudit.index import extract

    def parse_losing_the_interrupt(data: bytes) -> object:
        try:
            while True:
                time.sleep(0.001)
        except BaseException:
            pass  # the interrupt is lost: not even the new error's context
        raise SystemError("AST constructor recursion depth mismatch (before=135, after=153)")

    extract.preload_parsers()  # as the scan does: imports are not part of a file's budget
    # Only the extractor's parse: pytest parses with ast too.
    monkeypatch.setattr(extract, "ast", SimpleNamespace(parse=parse_losing_the_interrupt))
    monkeypatch.setenv("MLAUDIT_FILE_TIMEOUT", "0.02")
    facts = extract.extract_bytes("slow.py", "python", b"import os\n", "full")
    assert [e.message for e in facts.errors] == [f"{extract.OVER_BUDGET} the 0.02-second budget"]


def test_time_budget_restores_the_previous_timer_and_handler() -> None:
    import signal

    from mlaudit.index.extract import extract_bytes

    def mine(signum: int, frame: object) -> None:  # pragma: no cover - never fires
        raise AssertionError("the host's handler must not fire")

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        os.environ["MLAUDIT_FILE_TIMEOUT"] = "0.001"
        facts = extract_bytes("slow.py", "python", slow_python(300).encode(), "full")
        assert "budget" in facts.errors[0].message
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) is mine
        del os.environ["MLAUDIT_FILE_TIMEOUT"]
        facts = extract_bytes("ok.py", "python", b"import os\n", "full")
        assert not facts.errors and facts.python is not None
    finally:
        os.environ.pop("MLAUDIT_FILE_TIMEOUT", None)
        signal.signal(signal.SIGALRM, previous)


def test_deep_nesting_never_kills_the_process(tmp_path: Path) -> None:
    # libcst's native parser overflows its stack on these; the scan must survive in both
    # the serial path and the pool, and report each file.
    files = {f"deep_{n}.py": "x = " + "-" * 100_000 + "1\n" for n in range(5)}
    root = tmp_path / "repo"
    root.mkdir()
    for rel, text in files.items():
        (root / rel).write_text(text)
    for jobs in ("1", "2"):
        found = ml901(scan(root, "-j", jobs))
        assert sorted(found) == sorted(files)


def test_regression_unparsed_workflow_and_dockerfile_do_not_crash_traits_or_checks(
    tmp_path: Path,
) -> None:
    # Found by the corpus: a workflow or Dockerfile that is never parsed (binary, over the
    # size or time budget) has no facts, and the DEPLOYS trait, ML603 and ML304 asserted it had.
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_bytes(b"\0\0")
    (root / "Dockerfile").write_bytes(b"\0\0")
    (root / "serve.py").write_text(SERVE_PY)
    found = ml901(scan(root))
    assert sorted(found) == [".github/workflows/ci.yml", "Dockerfile"]


def test_regression_warm_cache_keeps_the_ml901_of_a_light_triaged_file(tmp_path: Path) -> None:
    # Found by the determinism test: a broken file that triage sent the light way was cached
    # with its error, and the warm scan rebuilt a light record from it without the error.
    root = write_tree(
        tmp_path / "repo", {"serve.py": SERVE_PY, "old.py": "print 'hello'\n", "bad.py": "x = (\n"}
    )
    cache = str(tmp_path / "cache")
    cold = ml901(scan_cached(root, cache))
    warm = ml901(scan_cached(root, cache))
    assert sorted(cold) == ["bad.py", "old.py"]
    assert warm == cold


def scan_cached(root: Path, cache: str, env: dict[str, str] | None = None) -> Report:
    result = run_cli("scan", root, "-f", "json", "--cache-dir", cache, env=env)
    assert result.code in (0, 1), result.stderr
    return result.json()


def test_a_file_over_the_time_budget_is_not_cached_as_broken(tmp_path: Path) -> None:
    # the budget depends on the machine's load: the next scan tries the file again
    root = write_tree(tmp_path / "repo", {"slow.py": slow_python(1500)})
    cache = str(tmp_path / "cache")
    full = {"MLAUDIT_FULL_PASS": "1"}
    first = ml901(scan_cached(root, cache, env={"MLAUDIT_FILE_TIMEOUT": "0.05", **full}))
    assert "budget" in first["slow.py"][0]["message"]
    assert "slow.py" not in ml901(scan_cached(root, cache, env=full))


def test_regression_reexport_cycle_between_modules_does_not_recurse_forever(
    tmp_path: Path,
) -> None:
    # Found on scikit-learn-contrib/imbalanced-learn: two modules re-exporting a name from
    # each other sent the route-object lookup into endless recursion (exit 3).
    root = write_tree(
        tmp_path / "repo",
        {
            "pkg/__init__.py": "from pkg.b import router\n",
            "pkg/b.py": "from pkg import router\n",
            "main.py": (
                "from fastapi import FastAPI\nfrom pkg import router\n\n"
                "app = FastAPI()\napp.include_router(router)\n\n\n"
                '@app.get("/health")\ndef health():\n    return "ok"\n'
            ),
        },
    )
    report = scan(root)
    assert [r["path"] for r in report["routes"]] == ["/health"]


# -- every malformed TOML and requirement line, in process ------------------------------------
MALFORMED_TOML = {
    "unterminated string": ('[project]\nname = "x\n', 2),
    "duplicate key": ('[project]\nname = "x"\nname = "y"\n', 3),
    "duplicate table": ("[project]\n[project]\n", 2),
    "bad escape": ('[project]\nname = "\\q"\n', 2),
    "missing value": ("[project]\nname =\n", 2),
    "bare key with space": ("[project]\nmy name = 1\n", 2),
    "unclosed array": ('[project]\ndependencies = ["a",\n', 2),
    "unclosed table header": ("[project\nname = 1\n", 1),
    "bad date": ("[x]\nd = 2024-13-45\n", 2),
    "inline table redefined": ("[x]\nt = {a = 1}\nt.b = 2\n", 3),
    "control character": ('[x]\ns = "a\x01b"\n', 2),
    "binary-ish": ("\ufeff\ufffe[x]\n", 1),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_TOML))
def test_every_malformed_toml_is_one_error_on_its_line(case: str) -> None:
    from mlaudit.index.requirements import parse_pyproject

    text, line = MALFORMED_TOML[case]
    facts, errors = parse_pyproject(text)
    assert len(errors) == 1 and errors[0].message.startswith("invalid TOML"), errors
    assert errors[0].line == line, (errors[0], line)
    assert facts.requirements == []


MALFORMED_REQUIREMENTS = [
    "foo==",
    "foo>=1,<",
    "foo[bar",
    "foo @",
    "==1.0",
    "foo==1.0 ; python_version >>> '3'",
    "foo bar==1",
    "foo===",
    "foo~=1",
    "foo (==1.0",
    "foo==1.0;",
    "foo==1.0 ; os_name ==",
    "-",
]


@pytest.mark.parametrize("line", MALFORMED_REQUIREMENTS)
def test_every_line_pip_rejects_is_an_error_on_its_line(line: str) -> None:
    from mlaudit.index.requirements import parse_requirements

    facts, errors = parse_requirements(f"numpy==1.0\n# comment\n{line}\nscipy==1.0\n")
    if line == "-":  # an option with no name: pip rejects it too, mlaudit skips options
        assert errors == []
    else:
        assert [e.line for e in errors] == [3], errors
        assert line.strip() in errors[0].message
    assert [r.name for r in facts.requirements] == ["numpy", "scipy"]


def test_a_file_that_cannot_be_read_is_ml901_even_as_root(tmp_path: Path) -> None:
    # chmod 000 does not stop root; a listed file that turns out to be unreadable (here a
    # directory where the listing saw a file: a race with a checkout) takes the same path.
    from mlaudit.index.build import IndexBuilder
    from mlaudit.workspace import SourceFile, Workspace

    root = write_tree(tmp_path / "repo", {"ok.py": "import os\n"})
    (root / "gone.py").mkdir()
    workspace = Workspace(
        root=root,
        files=[SourceFile("gone.py", "python"), SourceFile("ok.py", "python")],
        is_git=False,
    )
    facts = IndexBuilder(workspace, jobs=1, cache=None).first_round()
    assert facts["gone.py"].errors[0].message.startswith("cannot read:")
    assert not facts["ok.py"].errors and facts["ok.py"].python is not None


def test_tracked_files_missing_from_the_work_tree(tmp_path: Path) -> None:
    # a partial checkout (sparse, interrupted, large files left out) lists files that are
    # not there: they are skipped, the rest is scanned
    root = write_tree(tmp_path / "repo", {"serve.py": SERVE_PY, "lost.py": "x = 1\n"})
    git_init(root)
    (root / "lost.py").unlink()
    report = scan(root)
    assert "lost.py" not in ml901(report)
    assert ("serve.py", CANARY_LINE) in {
        (f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]
    }


def test_regression_lone_line_continuation_in_a_dockerfile() -> None:
    # Found by probing the Dockerfile parser: a line holding only a continuation parses as an
    # instruction with no command, and the extractor failed on it ("internal error").
    from mlaudit.index.dockerfile import parse_dockerfile

    facts, errors = parse_dockerfile("FROM python:3.11\n\\\n\\\nRUN pip install x\n")
    assert errors == []
    assert [i.cmd for i in facts.instructions] == ["FROM", "RUN"]
    facts, errors = parse_dockerfile("\\\n")
    assert facts.instructions == [] and errors == []


def test_a_worker_that_dies_costs_one_file_not_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A native parser that kills its process (as libcst's did on deep nesting) breaks the
    # whole pool; the files not done are extracted one process each and only the culprit
    # is lost, as ML901. (Workers are forked, so they inherit the patched extractor.)
    from mlaudit.index import build
    from mlaudit.workspace import SourceFile, Workspace

    if os.name != "posix":
        pytest.skip("the pool forks on POSIX only")
    body = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(3000))
    files = {f"m{n}.py": body for n in range(6)}
    files["die.py"] = body + "# die\n"
    root = write_tree(tmp_path / "repo", files)
    real = build.extract_bytes

    def fragile(path: str, kind: str, data: bytes, mode: str = "full"):  # type: ignore[no-untyped-def]
        if path == "die.py":
            os._exit(70)
        return real(path, kind, data, mode)

    monkeypatch.setattr(build, "extract_bytes", fragile)
    workspace = Workspace(
        root=root, files=[SourceFile(p, "python") for p in sorted(files)], is_git=False
    )
    facts = build.IndexBuilder(workspace, jobs=2, cache=None).first_round()
    assert sorted(facts) == sorted(files)
    assert [e.message for e in facts["die.py"].errors] == [build.PROCESS_DIED]
    for n in range(6):
        assert not facts[f"m{n}.py"].errors and facts[f"m{n}.py"].python is not None


def test_native_code_over_the_budget_is_stopped_in_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Native code (a parser in Rust or Go) does not see the budget's Python-level interrupt:
    # here the extractor blocks SIGALRM as native code in effect does, and spins. The pool
    # worker's CPU-time backstop ends it; the file is ML901, every other file is read.
    import signal

    from mlaudit.index import build
    from mlaudit.workspace import SourceFile, Workspace

    if not hasattr(signal, "ITIMER_VIRTUAL"):
        pytest.skip("no CPU-time interval timer on this platform")
    body = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(3000))
    files = {f"m{n}.py": body for n in range(5)}
    files["stuck.py"] = body + "# stuck\n"
    root = write_tree(tmp_path / "repo", files)
    real = build.extract_bytes

    def stuck(path: str, kind: str, data: bytes, mode: str = "full"):  # type: ignore[no-untyped-def]
        if path == "stuck.py":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            while True:
                pass
        return real(path, kind, data, mode)

    monkeypatch.setattr(build, "extract_bytes", stuck)
    monkeypatch.setenv("MLAUDIT_FILE_TIMEOUT", "0.5")  # backstop: 2 s of CPU
    workspace = Workspace(
        root=root, files=[SourceFile(p, "python") for p in sorted(files)], is_git=False
    )
    facts = build.IndexBuilder(workspace, jobs=2, cache=None).first_round()
    assert [e.message for e in facts["stuck.py"].errors] == [build.PROCESS_DIED]
    for n in range(5):
        assert not facts[f"m{n}.py"].errors, facts[f"m{n}.py"].errors


ODD_NAMES = [
    "odd name.py",
    "ünï.py",
    "100%.py",
    "a#b?c.py",
    "new\nline.py",
    "[x] {y}.py",
    "back\\slash.py",
]


@pytest.mark.parametrize("git", [False, True], ids=["plain", "git"])
def test_odd_file_names_keep_their_path_in_json_and_sarif(tmp_path: Path, git: bool) -> None:
    from urllib.parse import unquote

    root = tmp_path / "repo"
    root.mkdir()
    for name in ODD_NAMES:
        (root / name).write_text("def f(:\n")
    if git:
        git_init(root)
    assert sorted(ml901(scan(root))) == sorted(ODD_NAMES)
    sarif = run_cli("scan", root, "-f", "sarif", "--no-cache")
    assert sarif.code in (0, 1), sarif.stderr
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for result in json.loads(sarif.stdout)["runs"][0]["results"]
        for location in result["locations"]
    }
    assert all(" " not in uri and "\n" not in uri and "#" not in uri for uri in uris)
    assert {unquote(uri) for uri in uris} == set(ODD_NAMES)


def test_regression_a_folder_inside_a_work_tree_is_scanned(tmp_path: Path) -> None:
    # Found while running the crash check: scanning a sub-folder of a git work tree (a
    # service in a monorepo) listed the files of the whole work tree relative to its top,
    # none of which existed under the folder: zero files, every check n/a.
    root = write_tree(
        tmp_path / "mono",
        {"services/model/serve.py": SERVE_PY, "other/train.py": "import os\n", ".gitignore": ""},
    )
    (root / "services" / "model" / ".gitignore").write_text("ignored.py\n")
    (root / "services" / "model" / "ignored.py").write_text("def f(:\n")
    git_init(root)
    report = scan(root / "services" / "model")
    assert report["summary"]["files"] == 2  # serve.py and .gitignore; ignored.py is ignored
    assert ("serve.py", CANARY_LINE) in {
        (f["path"], f["line"]) for f in check_of(report, "ML307")["findings"]
    }
    assert not any("not a git work tree" in n for n in report["notes"])


def test_budget_interrupt_wrapped_by_class_creation_is_still_over_budget() -> None:
    # The timer can fire while a lazily imported module builds a class; Python then reports
    # a RuntimeError from __set_name__ whose cause is the interrupt. That is the budget, not
    # an internal error.
    from mlaudit.index.extract import _interrupted_by_budget, _OverBudget

    class Interrupting:
        def __set_name__(self, owner: type, name: str) -> None:
            raise _OverBudget

    # (Python 3.11 wraps it in RuntimeError; 3.12 and later let it through unwrapped.)
    caught: BaseException | None = None
    try:
        type("Node", (), {"field": Interrupting()})
    except BaseException as exc:
        caught = exc
    assert caught is not None
    assert _interrupted_by_budget(caught)
    assert not _interrupted_by_budget(RuntimeError("a real internal error"))
