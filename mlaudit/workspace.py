"""Find the files of a target repository and say what kind each one is.

Git-aware when the target is a git work tree (tracked plus untracked-not-ignored files, so
.gitignore is respected); a plain walk with default excludes otherwise. Links that lead out
of the scanned root are never followed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlaudit.paths import any_matches

# Directories nobody wants audited: environments, caches, build output, vendored code.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    ".venv/",
    "venv/",
    ".env/",
    "env/",
    "node_modules/",
    "__pycache__/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".mlaudit_cache/",
    ".ipynb_checkpoints/",
    "site-packages/",
    ".eggs/",
    "*.egg-info/",
    "build/",
    "dist/",
    "vendor/",
    "_vendor/",
    "third_party/",
    "third-party/",
)

DATA_EXTENSIONS = frozenset(
    {"csv", "tsv", "jsonl", "parquet", "feather", "arrow", "avro", "orc"}
    | {"npy", "npz", "h5", "hdf5", "xlsx", "db", "sqlite"}
)
MODEL_EXTENSIONS = frozenset(
    {"pkl", "pickle", "joblib", "pt", "pth", "ckpt", "onnx", "safetensors", "pb", "tflite"}
)

_REQUIREMENTS = re.compile(r"(^|[-_.])(requirements|constraints)([-_.].*)?\.(txt|in)$")
# Conda environment specs under other names: `conda_dependencies.yml`, `environment-gpu.yml`.
_CONDA_SPEC = re.compile(r"^(?:.*conda.*|environment[-_.].*|.*[-_]dependencies)\.ya?ml$")
# Folders that hold Azure Pipelines definitions by convention (`.pipelines/ci.yml`).
_AZURE_DIRS = re.compile(r"/(?:\.pipelines|\.azure-pipelines|azure-pipelines|\.azuredevops)/$")
_COMPOSE = re.compile(r"^(docker-)?compose([-.].*)?\.ya?ml$")


def classify(path: str) -> str:
    """Return the kind of a repo-relative posix path (``other`` when nothing applies)."""
    name = path.rsplit("/", 1)[-1]
    lower = name.lower()
    parent = path[: -len(name)]
    ext = lower.rsplit(".", 1)[-1] if "." in lower else ""
    if ext == "py":
        return "python"
    if ext == "ipynb":
        return "notebook"
    if _REQUIREMENTS.search(lower) or (parent.endswith("requirements/") and ext in ("txt", "in")):
        return "requirements"
    if lower == "pyproject.toml":
        return "pyproject"
    if lower in ("poetry.lock", "uv.lock", "pdm.lock", "pipfile.lock", "conda-lock.yml") or (
        lower.endswith(".conda-lock.yml")
    ):
        return "lockfile"
    if name == "Pipfile":
        return "pipfile"
    if lower in ("environment.yml", "environment.yaml", "conda.yml", "conda.yaml") or (
        _CONDA_SPEC.match(lower)
    ):
        return "environment"
    if lower.endswith(".dockerignore"):  # also BuildKit's per-Dockerfile X.dockerignore
        return "dockerignore"
    if (
        lower in ("dockerfile", "containerfile")
        or lower.startswith(("dockerfile.", "containerfile."))
        or lower.endswith(".dockerfile")
    ):
        return "dockerfile"
    if lower == ".dockerignore":
        return "dockerignore"
    if _COMPOSE.match(lower):
        return "compose"
    if ext in ("yml", "yaml"):
        if parent.endswith(".github/workflows/"):
            return "github-workflow"
        if lower in ("action.yml", "action.yaml"):
            return "github-action"
        if lower == ".gitlab-ci.yml":
            return "gitlab-ci"
        if lower.startswith("azure-pipelines") or _AZURE_DIRS.search("/" + parent):
            return "azure-pipelines"
        if parent.endswith(".circleci/") and lower.startswith("config"):
            return "circleci"
        if lower == "bitbucket-pipelines.yml":
            return "bitbucket"
        if lower in ("dvc.yaml", "dvc.lock"):
            return "dvc"
        return "yaml"
    if name == "Jenkinsfile":
        return "jenkinsfile"
    if ext == "dvc":
        return "dvc"
    if lower == ".gitattributes":
        return "gitattributes"
    if ext in ("md", "markdown", "rst"):
        return "markdown"
    if ext in DATA_EXTENSIONS:
        return "data"
    if ext in MODEL_EXTENSIONS:
        return "model"
    if ext == "toml":
        return "toml"
    if ext == "cfg" or lower == "tox.ini":
        return "config"
    if lower in ("makefile", "gnumakefile") or ext == "mk":
        return "makefile"
    if lower == "procfile":
        return "procfile"
    if ext in ("sh", "bash") or (not ext and parent.endswith(("bin/", "scripts/", "script/"))):
        return "shell"  # `bin/start_server`: an extensionless script
    return "other"


def is_test_path(path: str) -> bool:
    """Test code: evidence for test checks, never a source of production findings."""
    parts = path.split("/")
    name = parts[-1]
    return (
        any(p in ("tests", "test", "testing") for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


@dataclass(frozen=True)
class SourceFile:
    """One file of the target: its repo-relative posix path and its kind."""

    path: str
    kind: str

    @property
    def is_test(self) -> bool:
        return is_test_path(self.path)


@dataclass
class Workspace:
    """The files of one scan, in a stable order."""

    root: Path
    files: list[SourceFile]
    is_git: bool
    notes: list[str] = field(default_factory=list)

    def abspath(self, rel: str) -> Path:
        return self.root / rel


def _inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def _git_files(root: Path) -> list[str] | None:
    """Tracked and untracked-not-ignored files under ``root``; None when not a git work tree."""
    try:
        import git  # gitpython; imported lazily because `mlaudit --version` must start fast
    except ImportError:  # pragma: no cover - a dependency, but stay usable without git
        return None
    try:
        repo = git.Repo(root, search_parent_directories=True)
        if repo.bare:
            return None
        # Run in the scanned directory itself (which may be below the work tree's top), so
        # git lists just its files, relative to it.
        out = git.Git(str(root)).execute(
            [
                "git",
                # from the scanned root itself: when it is a folder inside a work tree,
                # ls-files then lists that folder's files, relative to it
                "-C",
                str(root),
                "-c",
                "core.quotepath=off",
                # a repository's own config may name a command to run (fsmonitor): never
                "-c",
                "core.fsmonitor=false",
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            with_extended_output=False,
            as_process=False,
            stdout_as_string=True,
        )
    except Exception:  # any git trouble means: fall back to walking
        return None
    assert isinstance(out, str)
    return sorted({p for p in out.split("\0") if p})


def _walk_files(root: Path) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames if not any_matches(prefix + d + "/x", DEFAULT_EXCLUDES)
        )
        found.extend(prefix + f for f in filenames)
    return sorted(found)


def discover(root: Path, exclude: list[str] | tuple[str, ...] = ()) -> Workspace:
    """List and classify the files to audit under ``root``."""
    root = root.resolve()
    notes: list[str] = []
    rel_paths = _git_files(root)
    is_git = rel_paths is not None
    if rel_paths is None:
        rel_paths = _walk_files(root)
    files: list[SourceFile] = []
    patterns = (*DEFAULT_EXCLUDES, *exclude)
    for rel in rel_paths:
        if any_matches(rel, patterns):
            continue
        full = root / rel
        if full.is_symlink():
            if not _inside(root, full):
                notes.append(f"{rel}: link out of the scanned root, not followed")
                continue
            if full.resolve().is_dir():
                continue
        if not full.is_file():
            continue
        files.append(SourceFile(rel, classify(rel)))
    return Workspace(root=root, files=files, is_git=is_git, notes=notes)
