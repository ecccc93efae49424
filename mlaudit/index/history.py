"""Repository-level facts from git history: data files ever committed, and how big.

Fast on long histories: object sizes are read in bulk (``git cat-file --batch-all-objects
--batch-check``) without walking commits, and only when some blob is large enough to matter
does one ``git rev-list --objects`` over branches and tags (never pull-request refs) name
their paths, and one path-limited ``git log`` find the commits that added and deleted them.
No revision is ever checked out and no missing object is fetched: in a partial clone (or a
mirror without its largest blobs) what is on the machine is read, with a note saying how
much is not. Where the target is not a git repository, or is a shallow clone, the facts come
from the working tree, with a note saying so.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from mlaudit.index.cache import SignedStore

LARGE_BYTES = 1024 * 1024

DATA_EXTENSIONS = frozenset(
    {"csv", "tsv", "jsonl", "ndjson", "parquet", "feather", "arrow", "avro", "orc"}
    | {"npy", "npz", "h5", "hdf5", "xlsx", "xls", "db", "sqlite", "sqlite3", "tfrecord"}
)
PICKLE_EXTENSIONS = frozenset({"pkl", "pickle"})
ARCHIVE_EXTENSIONS = ("zip", "gz", "tgz", "bz2", "xz", "tar", "7z", "zst")
DATA_DIRS = frozenset({"data", "datasets", "dataset", "raw", "processed", "interim"})
# Refs under these prefixes are pull-request heads and merges, not branches.
_PULL_EXCLUDES = ("pull/*", "pull/*/*", "*/pull/*", "*/pull/*/*", "pr/*", "*/pr/*")
TIMEOUT = 120


def is_data_path(path: str) -> bool:
    """A data file by name: data extensions, pickles and archives under a data directory,
    compressed data files (``train.csv.gz``)."""
    lower = path.lower()
    name = lower.rsplit("/", 1)[-1]
    parts = name.split(".")
    if len(parts) < 2:
        return False
    in_data_dir = any(p in DATA_DIRS for p in lower.split("/")[:-1])
    ext = parts[-1]
    if ext in DATA_EXTENSIONS:
        return True
    if ext in PICKLE_EXTENSIONS:
        return in_data_dir
    if ext in ARCHIVE_EXTENSIONS:
        inner = [p for p in parts[1:-1] if p not in ARCHIVE_EXTENSIONS]
        return (bool(inner) and inner[-1] in DATA_EXTENSIONS) or in_data_dir
    return False


@dataclass
class DataFile:
    """A data file committed to the repository (or, without git, present in the tree)."""

    path: str  # repo-relative, relative to the scanned root when inside it
    size: int
    added_in: str | None = None  # commit that first added it (full sha)
    deleted_in: str | None = None  # commit that last deleted it, if it is gone
    in_tree: bool = True  # present in the working tree


@dataclass
class History:
    source: str  # "git" | "working-tree"
    note: str | None = None
    large: list[DataFile] = field(default_factory=list)  # >= LARGE_BYTES
    small: list[DataFile] = field(default_factory=list)  # data files under LARGE_BYTES


# Never let git fetch a missing object from a promisor remote (git 2.44 and later honour
# this; rev-list is also told --missing, which turns lazy fetching off on any version).
_GIT_ENV = {**os.environ, "GIT_NO_LAZY_FETCH": "1"}


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    completed = subprocess.run(
        ["git", "-c", "core.quotepath=off", *args],
        cwd=root,
        env=_GIT_ENV,
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        check=True,
    )
    return completed.stdout


def _refs() -> list[str]:
    args = [f"--exclude={p}" for p in _PULL_EXCLUDES]
    return [*args, "--remotes", "--branches", "--tags", "HEAD"]


def git_state(root: Path) -> str:
    """HEAD and every ref with its commit: what the history facts depend on ("" outside a
    repository). One cheap ``git show-ref``; no history is walked."""
    try:
        return _git(root, "show-ref", "--head").decode("utf-8", errors="replace")
    except (OSError, subprocess.SubprocessError):
        return ""


class _LargeFiles(msgspec.Struct, array_like=True):
    """The expensive part of the history facts, stored by refs: large data blobs on
    branches and tags, by path, with the commits that added and deleted them."""

    rows: list[tuple[str, int, str | None, str | None]]
    missing: int = 0  # objects on branches and tags that are not on this machine


def read_history(root: Path, paths: list[str], store: SignedStore | None = None) -> History:
    """Data files committed under ``root`` (all history), or in the working tree. With a
    ``store``, the walk over branches and tags is reused while HEAD and the refs stay put."""
    try:
        top = _git(root, "rev-parse", "--show-toplevel").decode().strip()
        shallow = _git(root, "rev-parse", "--is-shallow-repository").decode().strip()
        _git(root, "rev-parse", "--verify", "-q", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return _working_tree(root, paths, "not a git repository (or no commits)")
    if shallow == "true":
        return _working_tree(root, paths, "a shallow clone: history not complete")
    try:
        return _from_git(root, Path(top), paths, store)
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError) as exc:
        return _working_tree(root, paths, f"git history could not be read ({type(exc).__name__})")


def _working_tree(root: Path, paths: list[str], why: str) -> History:
    history = History("working-tree", f"{why}: data files checked in the working tree only")
    for path in paths:
        if not is_data_path(path):
            continue
        try:
            size = os.stat(root / path).st_size
        except OSError:
            continue
        target = history.large if size >= LARGE_BYTES else history.small
        target.append(DataFile(path, size))
    return history


def _from_git(root: Path, top: Path, paths: list[str], store: SignedStore | None) -> History:
    history = History("git")
    prefix = ""
    resolved_root = root.resolve()
    if resolved_root != top.resolve():
        prefix = resolved_root.relative_to(top.resolve()).as_posix() + "/"
    state = git_state(root)
    store = store if state else None
    key = f"{prefix}\0{LARGE_BYTES}\0{state}"
    known = store.get(key, _LargeFiles) if store is not None else None
    if known is None:
        known = _large_files(root, prefix)
        if store is not None:
            store.put(key, known)
    listed = _git(root, "ls-files", "-z", "--cached", "--", ".").decode("utf-8", "replace")
    tracked = {p for p in listed.split("\0") if p} & set(paths)
    if known.missing:
        count = known.missing
        objects = f"{count:,} object{'s' if count != 1 else ''} of the history"
        history.note = (
            f"{objects} {'are' if count != 1 else 'is'} not on this machine (a partial clone "
            "or an incomplete copy): data files among them are not seen"
        )
    for path, size, added, deleted in known.rows:
        rel = path[len(prefix) :]
        in_tree = rel in tracked and (root / rel).is_file()
        history.large.append(DataFile(rel, size, added, deleted if not in_tree else None, in_tree))
    for rel in sorted(tracked):
        if not is_data_path(rel) or any(d.path == rel for d in history.large):
            continue
        try:
            size = os.stat(root / rel).st_size
        except OSError:
            continue
        if size < LARGE_BYTES:
            history.small.append(DataFile(rel, size))
    return history


def _large_files(root: Path, prefix: str) -> _LargeFiles:
    """Large data blobs on branches and tags under ``prefix``: (path, size, added, deleted),
    and how many objects the walk found missing."""
    # 1. Every object's size, with no history walk: is anything large at all?
    listing = _git(
        root,
        "cat-file",
        "--batch-all-objects",
        "--batch-check=%(objectname) %(objecttype) %(objectsize)",
    )
    large_blobs: dict[str, int] = {}
    for row in listing.splitlines():
        sha, kind, count = row.split(b" ", 2)
        if kind == b"blob" and int(count) >= LARGE_BYTES:
            large_blobs[sha.decode()] = int(count)
    by_path: dict[str, int] = {}
    missing = 0
    if large_blobs or _is_partial_clone(root):
        # 2. Which paths on branches and tags hold them (missing objects are listed, not
        # fetched: their size is unknown).
        objects = _git(root, "rev-list", "--objects", "--missing=print", *_refs(), "--")
        for row in objects.splitlines():
            if row.startswith(b"?"):
                missing += 1
                continue
            sha, _, name = row.partition(b" ")
            blob_size = large_blobs.get(sha.decode())
            if blob_size is None or not name:
                continue
            path = name.decode("utf-8", errors="replace")
            if not path.startswith(prefix) or not is_data_path(path):
                continue
            by_path[path] = max(blob_size, by_path.get(path, 0))
    if not by_path:
        return _LargeFiles([], missing)
    # 3. When they were added and deleted: one path-limited log.
    events = _events(root, sorted(by_path))
    rows = [(path, size, *events.get(path, (None, None))) for path, size in sorted(by_path.items())]
    return _LargeFiles(rows, missing)


def _is_partial_clone(root: Path) -> bool:
    """A clone made with ``--filter``: its large blobs may be exactly the ones not here."""
    try:
        found = _git(
            root, "config", "--get-regexp", r"^(extensions\.partialclone|remote\..*\.promisor)$"
        )
    except subprocess.CalledProcessError:  # exit code 1: no such setting
        return False
    return bool(found.strip())


def _events(root: Path, paths: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """(first commit adding, latest commit deleting) per path, over branches and tags."""
    found: dict[str, tuple[str | None, str | None]] = {}
    chunk = 200  # keep command lines short
    for start in range(0, len(paths), chunk):
        out = _git(
            root,
            "log",
            *_refs(),
            "--format=%x00%H",
            "--name-status",
            "--no-renames",
            "--diff-filter=AD",
            "--",
            *(f":(top,literal){p}" for p in paths[start : start + chunk]),
        ).decode("utf-8", errors="replace")
        commit = None
        for line in out.splitlines():
            if line.startswith("\0"):
                commit = line[1:].strip()
                continue
            status, _, path = line.partition("\t")
            if not path or commit is None:
                continue
            added, deleted = found.get(path, (None, None))
            # git log lists newest first: the last "A" seen is the first addition, the
            # first "D" seen is the latest deletion.
            if status == "A":
                added = commit
            elif status == "D" and deleted is None:
                deleted = commit
            found[path] = (added, deleted)
    return found
