"""Shared test helpers: run the installed console script, build small repositories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "fixtures"
SHARED = REPO_ROOT.parent / "shared"


def mlaudit_executable() -> str:
    """The console script installed next to this interpreter (what a user runs)."""
    candidate = Path(sys.executable).parent / "mlaudit"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("mlaudit")
    if found is None:
        raise RuntimeError("the mlaudit console script is not installed; see README")
    return found


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    *args: str | os.PathLike[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> Run:
    """Run ``mlaudit ARGS`` as a subprocess and capture everything."""
    environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
    completed = subprocess.run(
        [mlaudit_executable(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=300,
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def scan_json(path: Path, *args: str) -> dict[str, Any]:
    """Scan ``path`` without cache and return the JSON report (asserting exit 0 or 1)."""
    result = run_cli("scan", path, "-f", "json", "--no-cache", *args)
    assert result.code in (0, 1), result.stderr
    return result.json()


def check_of(report: dict[str, Any], code: str) -> dict[str, Any]:
    """The entry of one check in a JSON report."""
    return next(c for c in report["checks"] if c["code"] == code)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` (dedented) under ``root``."""
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def git_init(root: Path, message: str = "initial") -> Any:
    """Make ``root`` a git repository with everything committed (gitpython)."""
    import git

    repo = git.Repo.init(root)
    with repo.config_writer() as writer:
        writer.set_value("user", "name", "mlaudit tests")
        writer.set_value("user", "email", "tests@mlaudit.invalid")
    repo.git.add(A=True)
    repo.index.commit(message)
    return repo


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """Build a small repository from a dict of files; ``git=True`` commits it."""

    def build(files: dict[str, str], git: bool = False, name: str = "repo") -> Path:
        root = write_tree(tmp_path / name, files)
        if git:
            git_init(root)
        return root

    return build


@pytest.fixture
def copy_fixture(tmp_path: Path) -> Callable[[str], Path]:
    """Copy ``fixtures/NAME`` into a temporary directory (so caches never touch the tree)."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy
