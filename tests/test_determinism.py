"""The same repository gives byte-identical JSON and SARIF: across runs, with one job or two
(the process pool), with and without the cache, whatever order the file system lists the
files in, and from a git work tree or a plain copy of it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, git_init, run_cli
from tests.test_robustness import hostile_files

FORMATS = ("json", "sarif")


def repository_files() -> dict[str, bytes]:
    """Fixtures with findings of every kind, hostile files (ML901) and enough generated source
    that two jobs extract in the process pool."""
    files: dict[str, bytes] = {}
    for fixture in ("fastapi-bad", "training-bad", "flask-bad"):
        for path in sorted((FIXTURES / fixture).rglob("*")):
            if path.is_file():
                files[f"{fixture}/{path.relative_to(FIXTURES / fixture).as_posix()}"] = (
                    path.read_bytes()
                )
    for rel, data in hostile_files().items():
        if len(data) < 1_000_000:  # keep the scans quick; size limits are tested elsewhere
            files[f"hostile/{rel}"] = data
    for n in range(4):
        body = "".join(
            f"def step_{i}(model, x):\n    return model.predict(x, seed={i})\n\n"
            for i in range(1200)
        )
        files[f"generated/module_{n}.py"] = body.encode()
    return files


def materialise(root: Path, files: dict[str, bytes], reverse: bool) -> Path:
    """Write the files in one order or the other (directory listings follow creation order
    on many file systems), with different modification times."""
    order = sorted(files, reverse=reverse)
    for index, rel in enumerate(order):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[rel])
        stamp = 1_600_000_000 + (index if reverse else -index) * 60
        os.utime(target, (stamp, stamp))
    return root


def report_bytes(root: Path, fmt: str, *args: str) -> bytes:
    out = root.parent / f"report-{root.name}-{fmt}-{len(list(root.parent.glob('report-*')))}"
    result = run_cli("scan", root, "-f", fmt, "-o", out, *args)
    assert result.code in (0, 1), result.stderr
    return out.read_bytes()


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("determinism")
    files = repository_files()
    forward = materialise(base / "a" / "repo", files, reverse=False)
    backward = materialise(base / "b" / "repo", files, reverse=True)
    return forward, backward


@pytest.mark.parametrize("fmt", FORMATS)
def test_identical_reports_across_runs_jobs_caches_and_listing_order(
    trees: tuple[Path, Path], fmt: str
) -> None:
    forward, backward = trees
    cache = forward.parent / f"cache-{fmt}"
    reference = report_bytes(forward, fmt, "--no-cache", "-j", "1")
    variants = {
        "again": report_bytes(forward, fmt, "--no-cache", "-j", "1"),
        "two jobs": report_bytes(forward, fmt, "--no-cache", "-j", "2"),
        "cold cache": report_bytes(forward, fmt, "--cache-dir", str(cache), "-j", "2"),
        "warm cache": report_bytes(forward, fmt, "--cache-dir", str(cache), "-j", "2"),
        "warm cache, one job": report_bytes(forward, fmt, "--cache-dir", str(cache), "-j", "1"),
        "other listing order": report_bytes(backward, fmt, "--no-cache", "-j", "2"),
    }
    for name, data in variants.items():
        assert data == reference, f"{fmt} report differs: {name}"
    # the report is not trivially empty: findings of several checks, ML901 among them
    text = reference.decode()
    for code in ("ML901", "ML307", "ML102"):
        assert code in text


def test_git_work_tree_and_plain_copy_give_the_same_results(
    trees: tuple[Path, Path], tmp_path: Path
) -> None:
    forward, _ = trees
    work_tree = tmp_path / "work"
    shutil.copytree(forward, work_tree, symlinks=True)
    git_init(work_tree)
    plain = json.loads(report_bytes(forward, "json", "--no-cache"))
    tracked = json.loads(report_bytes(work_tree, "json", "--no-cache"))
    # the walk says it walked (and that git history could not be read); all else is the same
    plain_notes = [
        n for n in plain.pop("notes") if "not a git work tree" not in n and "git history" not in n
    ]
    assert plain_notes == tracked.pop("notes")
    # ML204 reads git history, which only the work tree has; every other check must agree.
    for report in (plain, tracked):
        report["checks"] = [c for c in report["checks"] if c["code"] != "ML204"]
        report.pop("sections")
        report.pop("score")
    assert plain == tracked


def test_listing_order_of_the_file_system_does_not_matter(
    trees: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many file systems list a directory in hash order, not creation order: reverse every
    listing the walk sees and compare the reports, rendered in this process."""
    from mlaudit.config import load_config
    from mlaudit.report import json_report, sarif
    from mlaudit.scan import ScanOptions, run_scan

    forward, _ = trees
    options = ScanOptions(jobs=1, use_cache=False)

    def rendered() -> tuple[str, str]:
        result = run_scan(forward, load_config(None), options)
        return json_report.render(result), sarif.render(result)

    reference = rendered()
    real_walk = os.walk

    def reversed_walk(top: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for dirpath, dirnames, filenames in real_walk(top, *args, **kwargs):  # type: ignore[arg-type]
            dirnames.reverse()
            filenames.reverse()
            yield dirpath, dirnames, filenames

    monkeypatch.setattr("mlaudit.workspace.os.walk", reversed_walk)
    assert rendered() == reference
