"""benchmarks/accuracy/score.py: labels against a real scan of a local checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import FIXTURES, REPO_ROOT, git_init

SCRIPT = REPO_ROOT / "benchmarks" / "accuracy" / "score.py"


def _label(commit: str) -> dict:
    return {
        "repo": "fixtures/onnx-cached-readiness",
        "commit": commit,
        "summary": "FastAPI + ONNX session behind an lru_cache loader.",
        "traits": {
            "SERVES": {"present": True, "evidence": "app/main.py:29", "why": "POST /v1/predict"},
            "TRAINS": {"present": False, "why": "no training"},
            "CI": {"present": True, "why": "deliberately wrong, to be counted as a miss"},
        },
        "checks": {
            "ML304": {"verdict": "pass", "evidence": "app/main.py:22", "why": "ready calls it"},
            "ML307": {"verdict": "pass", "evidence": "app/model.py:8", "why": "lru_cache"},
            "ML406": {"verdict": "fail", "evidence": "app/main.py:29", "why": "nothing logged"},
            # mlaudit says fail (no version exposed); this label says pass: a false positive.
            "ML502": {"verdict": "pass", "evidence": "", "why": "deliberately wrong"},
            # mlaudit says pass; this label says fail: a false negative, explained in known.
            "ML303": {"verdict": "fail", "evidence": "", "why": "deliberately wrong"},
        },
    }


def test_score_counts_agreement_precision_and_recall(tmp_path: Path) -> None:
    checkouts = tmp_path / "corpus"
    target = checkouts / "fixtures+onnx-cached-readiness"
    shutil.copytree(FIXTURES / "onnx-cached-readiness", target)
    commit = git_init(target).head.commit.hexsha
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "fixtures+onnx-cached-readiness.yaml").write_text(yaml.safe_dump(_label(commit)))
    known = tmp_path / "known.yaml"
    known.write_text(
        yaml.safe_dump(
            [{"repo": "fixtures/onnx-cached-readiness", "code": "ML303", "why": "test case"}]
        )
    )
    out = tmp_path / "score.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--checkouts",
            str(checkouts),
            "--labels",
            str(labels),
            "--known",
            str(known),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(out.read_text())["summary"]
    overall = summary["overall"]
    assert (overall["tp"], overall["fp"], overall["fn"], overall["tn"]) == (1, 1, 1, 2)
    assert overall["precision"] == 0.5 and overall["recall"] == 0.5
    assert overall["agreement"] == 0.6
    assert summary["disagreements"] == 2 and summary["unexplained"] == 1
    assert summary["trait_misses"] == 1
    assert "[UNEXPLAINED] fixtures+onnx-cached-readiness ML502: reviewer pass, mlaudit fail" in (
        done.stdout
    )
    assert "ML303" not in done.stdout.split("[UNEXPLAINED]", 1)[1]


def test_a_broken_label_file_names_the_file_and_key(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a+b.yaml").write_text(
        yaml.safe_dump({"repo": "a/b", "commit": "0" * 40, "traits": {}, "checks": {"ML101": {}}})
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--checkouts", str(tmp_path), "--labels", str(labels)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "a+b.yaml: checks.ML101: verdict must be one of" in done.stderr
