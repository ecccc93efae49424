"""Reuse between scans: the last results when nothing changed, the git-history facts while
HEAD and the refs stay put, and never a stale answer when a file, a setting, an option or a
ref changed. Reports are compared byte for byte with a scan that reuses nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlaudit.config import Config
from mlaudit.index.build import IndexBuilder
from mlaudit.scan import ScanOptions, run_scan
from tests.conftest import check_of, run_cli

MakeRepo = Callable[..., Path]

TRAIN = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression

frame = pd.read_csv("data/train.csv")
model = LogisticRegression().fit(frame[["x"]], frame["y"])
"""


def scan(root: Path, cache: Path, *args: str) -> str:
    result = run_cli("scan", root, "-f", "json", "--cache-dir", cache, "--exit-zero", *args)
    assert result.code == 0, result.stderr
    return result.stdout


def fresh(root: Path, *args: str) -> str:
    result = run_cli("scan", root, "-f", "json", "--no-cache", "--exit-zero", *args)
    assert result.code == 0, result.stderr
    return result.stdout


def test_an_unchanged_repository_reuses_its_results(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo({"train.py": TRAIN}, git=True)
    cache = tmp_path / "cache"
    first = run_scan(root, Config(), ScanOptions(cache_dir=str(cache)))
    assert (cache / "results.msgpack").is_file()

    def no_index(self: IndexBuilder) -> None:
        raise AssertionError("an unchanged repository was indexed again")

    monkeypatch.setattr(IndexBuilder, "first_round", no_index)
    second = run_scan(root, Config(), ScanOptions(cache_dir=str(cache)))
    assert [(c.rule.code, c.verdict, c.reason) for c in second.checks] == [
        (c.rule.code, c.verdict, c.reason) for c in first.checks
    ]
    # A different selection is a different question: it is answered, not reused.
    with pytest.raises(AssertionError, match="indexed again"):
        run_scan(root, Config(), ScanOptions(cache_dir=str(cache), select=["ML102"]))


def test_reused_reports_are_byte_identical(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo({"train.py": TRAIN}, git=True)
    cache = tmp_path / "cache"
    cold, warm = scan(root, cache), scan(root, cache)
    assert cold == warm == fresh(root)
    for fmt in ("sarif", "terminal", "markdown"):
        args = ("-f", fmt, "--cache-dir", cache, "--exit-zero", "--no-color")
        assert run_cli("scan", root, *args).stdout == run_cli("scan", root, *args).stdout


def test_an_edit_a_setting_or_an_option_is_never_answered_from_the_last_scan(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    root = make_repo({"train.py": TRAIN}, git=True)
    cache = tmp_path / "cache"
    before = scan(root, cache)
    assert '"verdict": "fail"' in before
    # An absolute path to the data (ML205): the edited file is read again.
    (root / "train.py").write_text(TRAIN.replace("data/train.csv", "/home/me/train.csv"))
    edited = scan(root, cache)
    assert edited != before
    assert "/home/me/train.csv" in edited
    assert edited == fresh(root)
    # A setting that ignores a check.
    (root / "pyproject.toml").write_text('[tool.mlaudit]\nignore = ["ML101"]\n')
    assert scan(root, cache) == fresh(root)
    # An option.
    assert scan(root, cache, "--select", "ML1") == fresh(root, "--select", "ML1")
    # A file that is not parsed (a model card) still counts: its size and time.
    (root / "MODEL_CARD.md").write_text("# Model card\n\n## Intended use\n\nDemos.\n")
    assert scan(root, cache) == fresh(root)


def test_a_large_data_file_committed_on_another_branch_is_seen(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # The working tree ends as it was: only the refs tell that history changed.
    root = make_repo({"train.py": TRAIN}, git=True)
    cache = tmp_path / "cache"
    clean = scan(root, cache, "--select", "ML204")
    assert "history.msgpack" in {p.name for p in cache.iterdir()}
    import git

    repo = git.Repo(root)
    main = repo.active_branch
    repo.git.checkout("-b", "data")
    data = root / "data" / "train.csv"
    data.parent.mkdir(exist_ok=True)
    data.write_text("x,y\n" + "1,0\n" * 400_000)
    repo.git.add(A=True)
    repo.index.commit("add the training data")
    main.checkout()
    assert not data.exists()
    grown = scan(root, cache, "--select", "ML204")
    assert grown != clean
    assert grown == fresh(root, "--select", "ML204")
    assert "data/train.csv" in grown


def test_baseline_is_applied_to_reused_results(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo({"train.py": TRAIN}, git=True)
    cache = tmp_path / "cache"
    baseline = tmp_path / "baseline.json"
    made = run_cli("baseline", root, "-o", baseline, "--no-cache")
    assert made.code == 0, made.stderr
    scan(root, cache)  # stores the results without the baseline
    report = run_cli("scan", root, "-f", "json", "--cache-dir", cache, "--baseline", baseline)
    assert report.code == 0, report.stderr
    assert all(f["baselined"] for f in check_of(report.json(), "ML102")["findings"])


def test_a_foreign_results_file_is_ignored(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo({"train.py": TRAIN}, git=True)
    cache = tmp_path / "cache"
    scan(root, cache)
    results = cache / "results.msgpack"
    body = bytearray(results.read_bytes())
    body[-1] ^= 0xFF  # no longer what this machine signed
    results.write_bytes(bytes(body))
    assert scan(root, cache) == fresh(root)


def test_history_is_not_walked_again_while_the_refs_stay_put(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlaudit.index.history as history

    root = make_repo({"train.py": TRAIN}, git=True)
    cache = tmp_path / "cache"
    options = ScanOptions(cache_dir=str(cache), select=["ML204"])
    first = run_scan(root, Config(), options)

    def no_walk(root: Path, prefix: str) -> None:
        raise AssertionError("history walked again")

    monkeypatch.setattr(history, "_large_files", no_walk)
    (root / "train.py").write_text(TRAIN + "\n# edited\n")  # results change, refs do not
    second = run_scan(root, Config(), options)
    assert [c.verdict for c in second.checks] == [c.verdict for c in first.checks]
