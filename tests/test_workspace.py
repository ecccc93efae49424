"""Workspace discovery: git-aware, plain walk otherwise, never out of the root."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mlaudit.workspace import classify, discover
from tests.conftest import git_init, scan_json, write_tree


def test_scanning_a_subdirectory_of_a_git_work_tree(tmp_path: Path) -> None:
    """`mlaudit scan services/api` inside a monorepo lists that directory's files only."""
    write_tree(
        tmp_path,
        {
            "README.md": "monorepo\n",
            "services/api/requirements.txt": "fastapi\n",
            "services/api/app.py": "import fastapi\n",
            "services/api/.gitignore": "secret.py\n",
            "services/web/requirements.txt": "flask\n",
        },
    )
    git_init(tmp_path)
    (tmp_path / "services/api/new_untracked.py").write_text("x = 1\n")
    (tmp_path / "services/api/secret.py").write_text("x = 1\n")
    workspace = discover(tmp_path / "services/api")
    assert workspace.is_git
    assert [f.path for f in workspace.files] == [
        ".gitignore",
        "app.py",
        "new_untracked.py",
        "requirements.txt",
    ]
    report = scan_json(tmp_path / "services/api")
    ml104 = next(c for c in report["checks"] if c["code"] == "ML104")
    assert [(f["path"], f["line"]) for f in ml104["findings"]] == [("requirements.txt", 1)]


def test_plain_walk_skips_default_excludes_and_links_out_of_the_root(
    tmp_path: Path, make_repo: Callable[..., Path]
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("import os\n")
    root = make_repo(
        {
            "train.py": "x = 1\n",
            ".venv/lib/site.py": "x = 1\n",
            "node_modules/pkg/index.py": "x = 1\n",
            "pkg/__pycache__/m.py": "x = 1\n",
        }
    )
    os.symlink(outside, root / "escape.py")
    os.symlink(root / "train.py", root / "alias.py")
    workspace = discover(root)
    assert not workspace.is_git
    assert [f.path for f in workspace.files] == ["alias.py", "train.py"]
    assert any("escape.py" in note for note in workspace.notes)


def test_classify_kinds() -> None:
    assert classify("app/main.py") == "python"
    assert classify("notebooks/eda.ipynb") == "notebook"
    assert classify("requirements/dev.txt") == "requirements"
    assert classify("requirements-dev.txt") == "requirements"
    assert classify("docker/Dockerfile.gpu") == "dockerfile"
    assert classify(".github/workflows/ci.yml") == "github-workflow"
    assert classify("docker-compose.prod.yml") == "compose"
    assert classify("poetry.lock") == "lockfile"
    assert classify("data/train.csv") == "data"
    assert classify("models/model.onnx") == "model"


def test_scanning_a_committed_fixture_in_place() -> None:
    """What the README promises: `mlaudit scan fixtures/fastapi-bad` from this repository."""
    from tests.conftest import FIXTURES

    report = scan_json(FIXTURES / "fastapi-bad")
    assert report["summary"]["files"] >= 5
    ml307 = next(c for c in report["checks"] if c["code"] == "ML307")
    assert ml307["verdict"] == "fail"
    assert [f["path"] for f in ml307["findings"]] == ["app/model.py"]
    assert ml307["findings"][0]["message"].startswith("POST /v1/predict")


def test_a_trailing_suppression_covers_its_own_line_only(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "requirements.txt": (
                "pandas  # mlaudit: ignore[ML104] pinned by the platform image\n"
                "numpy\n"
                "# mlaudit: ignore[unpinned-dependencies] vendored wheel\n"
                "scipy\n"
            )
        }
    )
    ml104 = next(c for c in scan_json(root)["checks"] if c["code"] == "ML104")
    state = {f["line"]: (f["suppressed"], f["suppression_reason"]) for f in ml104["findings"]}
    assert state == {
        1: (True, "pinned by the platform image"),
        2: (False, None),
        4: (True, "vendored wheel"),
    }
