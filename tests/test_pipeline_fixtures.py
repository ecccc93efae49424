"""The notebook and serving-skew fixtures, end to end through the CLI: every 1xx/2xx check
this work added fails on the bad fixture and passes on the good one, at the right places."""

from __future__ import annotations

from typing import Any

from tests.conftest import check_of, run_cli, scan_json


def verdicts(report: dict[str, Any], *codes: str) -> dict[str, str]:
    return {code: check_of(report, code)["verdict"] for code in codes}


def places(report: dict[str, Any], code: str) -> list[tuple[str, int, int | None, int | None]]:
    return [
        (f["path"], f["line"], f.get("cell"), f.get("cell_line"))
        for f in check_of(report, code)["findings"]
    ]


def ipynb_line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_notebook_training_bad(copy_fixture):
    repo = copy_fixture("notebook-training-bad")
    nb = (repo / "train.ipynb").read_text(encoding="utf-8")
    report = scan_json(repo)
    assert verdicts(
        report,
        "ML101", "ML102", "ML104", "ML105", "ML106", "ML107", "ML108", "ML109", "ML110",
        "ML201", "ML204", "ML205",
    ) == dict.fromkeys(
        ["ML101", "ML102", "ML104", "ML105", "ML106", "ML107", "ML108", "ML109", "ML110",
         "ML201", "ML204", "ML205"],
        "fail",
    )  # fmt: skip
    assert check_of(report, "ML202")["verdict"] == "n/a"
    assert places(report, "ML102") == [
        ("train.ipynb", ipynb_line(nb, "np.random.normal"), 3, 3),
        ("train.ipynb", ipynb_line(nb, "clf = RandomForestClassifier"), 5, 1),
    ]
    assert places(report, "ML108") == [
        ("train.ipynb", ipynb_line(nb, "accuracy_score(y, clf.predict(X))"), 5, 3)
    ]
    assert "clf was fit on at cell 5, line 2" in check_of(report, "ML108")["findings"][0]["message"]
    assert places(report, "ML205") == [
        ("train.ipynb", ipynb_line(nb, "/Users/dana/Downloads/churn.csv"), 2, 1)
    ]
    assert places(report, "ML105") == [("Dockerfile", 1, None, None)]
    assert [f["symbol"] for f in check_of(report, "ML106")["findings"]] == [
        "xgboost",
        "scikit-learn",
    ]
    assert [f["line"] for f in check_of(report, "ML104")["findings"]] == [6, 7, 8]
    assert check_of(report, "ML201")["location"]["path"] == "train.ipynb"
    assert check_of(report, "ML110")["location"]["path"] == "README.md"

    sarif = run_cli("scan", repo, "-f", "sarif", "--no-cache").json()
    results = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "ML205"]
    (result,) = results
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == ipynb_line(nb, "/Users/dana/Downloads/churn.csv")
    row = nb.splitlines()[region["startLine"] - 1]
    assert row[region["startColumn"] - 1 :].startswith("pd.read_csv(")


def test_notebook_training_good(copy_fixture):
    report = scan_json(copy_fixture("notebook-training-good"))
    codes = ["ML101", "ML102", "ML104", "ML105", "ML106", "ML107", "ML108", "ML109", "ML110"]
    codes += ["ML201", "ML204", "ML205"]
    assert verdicts(report, *codes) == dict.fromkeys(codes, "pass")
    sections = {s["id"]: s["score"] for s in report["sections"]}
    assert sections["model-development"] == sections["data"] == sections["container"] == 100
    seed = check_of(report, "ML102")["evidence"][0]
    assert seed["path"] == "train.ipynb" and "numpy.random.seed" in seed["message"]
    baseline = check_of(report, "ML109")["evidence"][0]
    assert baseline["message"] == "sklearn.dummy.DummyClassifier() is a baseline model"
    assert any("pandera" in e["message"] for e in check_of(report, "ML201")["evidence"])
    assert check_of(report, "ML204")["evidence"][0]["path"] == "data/churn.csv.dvc"
    assert "python:3.11.9-slim" in check_of(report, "ML105")["evidence"][0]["message"]


def test_serving_skew_bad(copy_fixture):
    report = scan_json(copy_fixture("serving-skew-bad"))
    check = check_of(report, "ML202")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert (finding["path"], finding["line"], finding["symbol"]) == (
        "service/app.py",
        19,
        "to_features",
    )
    assert "build_features() of training/features.py (line 9)" in finding["message"]


def test_serving_skew_good(copy_fixture):
    report = scan_json(copy_fixture("serving-skew-good"))
    check = check_of(report, "ML202")
    assert check["verdict"] == "pass"
    assert check["evidence"][0]["path"] == "training/features.py"
    assert "POST /v1/score calls build_features()" in check["evidence"][0]["message"]
