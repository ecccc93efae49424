"""Model-development and CI checks (ML101, ML102, ML104, ML603) and the tool's own ML901,
asserted on the JSON report of the installed CLI."""

from __future__ import annotations

from typing import Any

from tests.conftest import check_of, run_cli, scan_json

# A minimal training module: TRAINS needs an estimator fit in a file importing an ML library.
FIT = """
from sklearn.linear_model import LogisticRegression


def fit(X, y):
    return LogisticRegression(max_iter=200).fit(X, y)
"""


def findings(report: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return check_of(report, code)["findings"]


def lines_of(report: dict[str, Any], code: str, path: str | None = None) -> list[int]:
    return sorted(f["line"] for f in findings(report, code) if path is None or f["path"] == path)


def evidence_at(check: dict[str, Any]) -> set[tuple[str | None, int | None]]:
    return {(e["path"], e["line"]) for e in check["evidence"]}


# -- fixtures ------------------------------------------------------------------------------
def test_training_bad_fixture(copy_fixture):
    report = scan_json(copy_fixture("training-bad"))
    assert {t["name"] for t in report["traits"] if t["present"]} >= {"TRAINS", "CI"}

    ml101 = check_of(report, "ML101")
    assert ml101["verdict"] == "fail"
    assert ml101["location"]["path"] == "train.py"

    ml102 = check_of(report, "ML102")
    assert ml102["verdict"] == "fail"
    by_line = {f["line"]: f for f in ml102["findings"]}
    # np.random.rand (via the helper load_snapshot), train_test_split, RandomForestClassifier()
    assert sorted(by_line) == [14, 20, 23]
    assert all(f["path"] == "train.py" for f in ml102["findings"])
    assert "numpy.random.rand" in by_line[14]["message"]
    assert "train_test_split" in by_line[20]["message"]
    assert "RandomForestClassifier" in by_line[23]["message"]
    # The estimator's own methods are not "calls without random_state".
    assert not any(".fit" in f["message"] or ".predict" in f["message"] for f in ml102["findings"])

    ml104 = check_of(report, "ML104")
    assert ml104["verdict"] == "fail"
    assert [(f["path"], f["line"]) for f in ml104["findings"]] == [
        ("requirements.txt", 1),
        ("requirements.txt", 2),
        ("requirements.txt", 3),
    ]
    messages = " ".join(f["message"] for f in ml104["findings"])
    assert "pandas" in messages and "scikit-learn" in messages and "numpy" in messages

    ml603 = check_of(report, "ML603")
    assert ml603["verdict"] == "fail"
    assert "no test asserts" in ml603["reason"]
    # The install line mentions pytest but does not run it.
    assert evidence_at(ml603) == {(".github/workflows/ci.yml", 12)}
    assert ml603["location"]["path"] == ".github/workflows/ci.yml"


def test_training_good_fixture(copy_fixture):
    report = scan_json(copy_fixture("training-good"))
    ml101 = check_of(report, "ML101")
    assert ml101["verdict"] == "pass"
    assert ("train.py", 32) in evidence_at(ml101)  # mlflow.log_metric
    assert any("mlflow.log_metric" in e["message"] for e in ml101["evidence"])

    ml102 = check_of(report, "ML102")
    assert ml102["verdict"] == "pass"
    assert ml102["findings"] == []
    # The seeds are set in src/utils.py, reached through utils.set_seeds() from train.py.
    assert {("src/utils.py", 11), ("src/utils.py", 12), ("src/utils.py", 13)} <= evidence_at(ml102)

    ml104 = check_of(report, "ML104")
    assert ml104["verdict"] == "pass"
    assert ml104["findings"] == []

    ml603 = check_of(report, "ML603")
    assert ml603["verdict"] == "pass"
    assert ml603["evidence"][0]["path"] == ".github/workflows/ci.yml"
    assert ml603["evidence"][0]["line"] == 21
    assert "--threshold 0.85" in ml603["evidence"][0]["message"]
    assert report["score"] == 100


# -- ML101 ---------------------------------------------------------------------------------
def test_ml101_import_only_is_partial(make_repo):
    repo = make_repo(
        {
            "train.py": FIT + "\nimport mlflow\n\nmlflow.set_tracking_uri('http://mlflow:5000')\n",
        }
    )
    check = check_of(scan_json(repo), "ML101")
    assert check["verdict"] == "partial"
    assert "imported" in check["reason"]
    assert ("train.py", 7) in evidence_at(check)


def test_ml101_tensorboard_only_is_partial(make_repo):
    repo = make_repo(
        {
            "train.py": FIT
            + """
from torch.utils.tensorboard import SummaryWriter


def log(step, loss):
    writer = SummaryWriter("runs/exp1")
    writer.add_scalar("loss", loss, step)
""",
        }
    )
    check = check_of(scan_json(repo), "ML101")
    assert check["verdict"] == "partial"
    assert "TensorBoard" in check["reason"]
    assert ("train.py", 11) in evidence_at(check)


def test_ml101_wandb_log_is_pass_and_alias_resolved(make_repo):
    repo = make_repo(
        {
            "train.py": FIT
            + "\nimport wandb as wb\n\n\ndef report(acc):\n    wb.log({'acc': acc})\n",
        }
    )
    check = check_of(scan_json(repo), "ML101")
    assert check["verdict"] == "pass"
    assert ("train.py", 11) in evidence_at(check)


def test_ml101_no_tracker_fails_at_training_call(make_repo):
    repo = make_repo({"model/train.py": FIT})
    check = check_of(scan_json(repo), "ML101")
    assert check["verdict"] == "fail"
    assert evidence_at(check) == {("model/train.py", 5)}


def test_ml101_not_applicable_without_training(make_repo):
    repo = make_repo({"app.py": "import mlflow\n\nprint(mlflow.__version__)\n"})
    assert check_of(scan_json(repo), "ML101")["verdict"] == "n/a"


# -- ML102 ---------------------------------------------------------------------------------
ML102_BAD = """
import numpy as np
from sklearn.linear_model import LogisticRegression


def main():
    X = np.random.randn(100, 3)
    y = (X[:, 0] > 0).astype(int)
    LogisticRegression().fit(X, y)


if __name__ == "__main__":
    main()
"""


def test_ml102_unseeded_numpy_through_alias(make_repo):
    repo = make_repo({"train.py": ML102_BAD})
    check = check_of(scan_json(repo), "ML102")
    assert check["verdict"] == "fail"
    assert [(f["path"], f["line"]) for f in check["findings"]] == [("train.py", 6)]
    assert "numpy.random.randn" in check["findings"][0]["message"]
    assert check["findings"][0]["symbol"] == "main"


def test_ml102_seed_in_helper_module_passes(make_repo):
    repo = make_repo(
        {
            "project/__init__.py": "",
            "project/seeding.py": """
            import random

            import numpy as np


            def seed_all(seed):
                random.seed(seed)
                np.random.seed(seed)
        """,
            "train.py": """
            import numpy as np
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.model_selection import train_test_split

            from project.seeding import seed_all


            def main():
                seed_all(7)
                X = np.random.rand(50, 2)
                y = X[:, 0] > 0.5
                X_tr, X_te, y_tr, y_te = train_test_split(X, y)
                RandomForestClassifier().fit(X_tr, y_tr)


            if __name__ == "__main__":
                main()
        """,
        }
    )
    check = check_of(scan_json(repo), "ML102")
    assert check["verdict"] == "pass", check
    assert check["findings"] == []
    assert {("project/seeding.py", 7), ("project/seeding.py", 8)} <= evidence_at(check)


def test_ml102_conditional_seed_counts_and_says_so(make_repo):
    repo = make_repo(
        {
            "train.py": """
            import argparse

            import torch
            from torch import nn


            def main():
                parser = argparse.ArgumentParser()
                parser.add_argument("--seed", type=int, default=None)
                args = parser.parse_args()
                if args.seed is not None:
                    torch.manual_seed(args.seed)
                model = nn.Linear(4, 1)
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                x = torch.randn(8, 4)
                loss = model(x).pow(2).mean()
                loss.backward()
                optimizer.step()


            if __name__ == "__main__":
                main()
        """,
        }
    )
    check = check_of(scan_json(repo), "ML102")
    assert check["verdict"] == "pass", check
    assert check["findings"] == []
    seed = next(e for e in check["evidence"] if e["line"] == 12)
    assert seed["path"] == "train.py"
    assert "conditional" in seed["message"]


def test_ml102_global_seed_covers_sklearn_calls(make_repo):
    repo = make_repo(
        {
            "train.py": """
            import numpy as np
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.model_selection import train_test_split


            def main(X, y):
                np.random.seed(0)
                X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2)
                RandomForestClassifier(n_estimators=10).fit(X_tr, y_tr)


            if __name__ == "__main__":
                main(np.zeros((10, 2)), np.zeros(10))
        """,
        }
    )
    check = check_of(scan_json(repo), "ML102")
    assert check["verdict"] == "pass", check
    assert check["findings"] == []
    assert ("train.py", 7) in evidence_at(check)


def test_ml102_sklearn_call_before_the_seed_is_a_finding(make_repo):
    repo = make_repo(
        {
            "train.py": """
            import numpy as np
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.model_selection import train_test_split


            def main(X, y):
                X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2)
                np.random.seed(0)
                RandomForestClassifier(n_estimators=10).fit(X_tr, y_tr)


            if __name__ == "__main__":
                main(np.zeros((10, 2)), np.zeros(10))
        """,
        }
    )
    check = check_of(scan_json(repo), "ML102")
    assert check["verdict"] == "fail"
    assert lines_of(scan_json(repo), "ML102") == [7]


def test_ml102_kfold_without_shuffle_is_fine(make_repo):
    repo = make_repo(
        {
            "cv.py": """
            from sklearn.linear_model import Ridge
            from sklearn.model_selection import KFold


            def main(X, y):
                for train_idx, test_idx in KFold(n_splits=5, shuffle=False).split(X):
                    Ridge().fit(X[train_idx], y[train_idx])


            if __name__ == "__main__":
                main([], [])
        """,
        }
    )
    assert findings(scan_json(repo), "ML102") == []


def test_ml102_kfold_with_shuffle_needs_random_state(make_repo):
    repo = make_repo(
        {
            "cv.py": """
            from sklearn.linear_model import Ridge
            from sklearn.model_selection import KFold


            def main(X, y):
                for train_idx, test_idx in KFold(n_splits=5, shuffle=True).split(X):
                    Ridge().fit(X[train_idx], y[train_idx])


            if __name__ == "__main__":
                main([], [])
        """,
        }
    )
    report = scan_json(repo)
    assert check_of(report, "ML102")["verdict"] == "fail"
    assert lines_of(report, "ML102") == [6]
    assert "KFold" in findings(report, "ML102")[0]["message"]


def test_ml102_random_state_given_is_fine(make_repo):
    repo = make_repo(
        {
            "train.py": """
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.model_selection import train_test_split


            def main(X, y):
                X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=1)
                RandomForestClassifier(random_state=1).fit(X_tr, y_tr)


            if __name__ == "__main__":
                main([], [])
        """,
        }
    )
    report = scan_json(repo)
    assert findings(report, "ML102") == []
    assert check_of(report, "ML102")["verdict"] in ("pass", "n/a")


# -- ML104 ---------------------------------------------------------------------------------
def test_ml104_pinned_hashes_and_pip_compile(make_repo):
    repo = make_repo(
        {
            "requirements.txt": """
            numpy==1.26.4
            scipy===1.13.1
            pandas==2.2.3 \\
                --hash=sha256:0cace394b6ea70c01ca1595f839cf193df35d1575986e484ad35c4aeae7266c1
        """,
            "tools/requirements.txt": """
            #
            # This file is autogenerated by pip-compile with Python 3.11
            # by the following command:
            #
            #    pip-compile requirements.in
            #
            black==24.8.0
        """,
        }
    )
    check = check_of(scan_json(repo), "ML104")
    assert check["verdict"] == "pass", check
    assert check["findings"] == []


def test_ml104_hash_alone_pins(make_repo):
    repo = make_repo(
        {
            "requirements.txt": "torch>=2.0 --hash=sha256:" + "a" * 64 + "\n",
        }
    )
    check = check_of(scan_json(repo), "ML104")
    assert check["verdict"] == "pass"


def test_ml104_pyproject_ranges_with_poetry_lock_pass(make_repo):
    repo = make_repo(
        {
            "pyproject.toml": """
            [tool.poetry]
            name = "churn"
            version = "0.1.0"

            [tool.poetry.dependencies]
            python = "^3.11"
            pandas = "^2.2"
            scikit-learn = ">=1.4"
        """,
            "poetry.lock": "# This file is automatically @generated by Poetry\n",
        }
    )
    check = check_of(scan_json(repo), "ML104")
    assert check["verdict"] == "pass", check
    assert check["findings"] == []
    assert ("poetry.lock", 1) in evidence_at(check)


def test_ml104_pyproject_ranges_alone_are_findings(make_repo):
    repo = make_repo(
        {
            "pyproject.toml": """
            [project]
            name = "churn"
            version = "0.1.0"
            dependencies = [
                "pandas>=2.0",
                "scikit-learn",
                "numpy==1.26.4",
            ]
        """,
        }
    )
    report = scan_json(repo)
    check = check_of(report, "ML104")
    assert check["verdict"] == "fail"
    assert [(f["path"], f["line"]) for f in check["findings"]] == [
        ("pyproject.toml", 5),
        ("pyproject.toml", 6),
    ]


def test_ml104_uv_lock_in_another_directory_does_not_cover(make_repo):
    repo = make_repo(
        {
            "pyproject.toml": (
                '[project]\nname = "a"\nversion = "1"\ndependencies = ["pandas>=2"]\n'
            ),
            "other/uv.lock": "version = 1\n",
        }
    )
    check = check_of(scan_json(repo), "ML104")
    assert check["verdict"] == "fail"
    assert lines_of(scan_json(repo), "ML104") == [4]


def test_ml104_partial_when_most_are_pinned(make_repo):
    repo = make_repo(
        {
            "requirements.txt": """
            numpy==1.26.4
            pandas==2.2.3
            scikit-learn==1.5.2
            # plotting only
            matplotlib>=3.8
        """,
        }
    )
    check = check_of(scan_json(repo), "ML104")
    assert check["verdict"] == "partial"
    assert [(f["path"], f["line"]) for f in check["findings"]] == [("requirements.txt", 5)]
    assert "3 of 4" in check["reason"]


def test_ml104_each_unpinned_operator(make_repo):
    repo = make_repo(
        {
            "requirements.txt": "a-pkg>=1\nb-pkg~=1.2\nc-pkg\nd-pkg==1.*\ne-pkg<2\nf-pkg==1.0\n",
        }
    )
    check = check_of(scan_json(repo), "ML104")
    assert check["verdict"] == "fail"
    assert [f["line"] for f in check["findings"]] == [1, 2, 3, 4, 5]


# -- ML603 ---------------------------------------------------------------------------------
def workflow(*steps: str) -> str:
    body = "".join(f"      - run: {step}\n" for step in steps)
    return (
        "name: ci\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n" + body
    )


def test_ml603_threshold_passes_with_step_line(make_repo):
    repo = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ml.yml": workflow(
                "pip install -r requirements.txt",
                "python train.py",
                "python evaluate.py --threshold 0.85",
            ),
        }
    )
    check = check_of(scan_json(repo), "ML603")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {(".github/workflows/ml.yml", 10)}


def test_ml603_only_pytest_without_metric_assertion_fails(make_repo):
    repo = make_repo(
        {
            "train.py": FIT,
            "tests/test_train.py": "def test_shapes():\n    assert 1 + 1 == 2\n",
            ".github/workflows/ml.yml": workflow("pip install pytest", "pytest -q"),
        }
    )
    check = check_of(scan_json(repo), "ML603")
    assert check["verdict"] == "fail"
    assert evidence_at(check) == {(".github/workflows/ml.yml", 9)}


def test_ml603_zero_threshold_is_partial(make_repo):
    repo = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ml.yml": workflow("python evaluate.py --threshold 0"),
        }
    )
    check = check_of(scan_json(repo), "ML603")
    assert check["verdict"] == "partial"
    assert evidence_at(check) == {(".github/workflows/ml.yml", 8)}
    assert "cannot fail" in check["evidence"][0]["message"]


def test_ml603_pytest_with_metric_assertion_passes(make_repo):
    repo = make_repo(
        {
            "train.py": FIT,
            "tests/test_quality.py": """
            from sklearn.metrics import accuracy_score


            def test_holdout_accuracy(model, holdout):
                X, y = holdout
                accuracy = accuracy_score(y, model.predict(X))
                assert accuracy >= 0.8
        """,
            ".github/workflows/ml.yml": workflow("pip install -r requirements.txt", "pytest"),
        }
    )
    check = check_of(scan_json(repo), "ML603")
    assert check["verdict"] == "pass", check
    assert ("tests/test_quality.py", 7) in evidence_at(check)


def test_ml603_trivial_test_assertion_is_partial(make_repo):
    repo = make_repo(
        {
            "train.py": FIT,
            "tests/test_quality.py": "def test_acc(acc):\n    assert acc > 0.0\n",
            ".github/workflows/ml.yml": workflow("python -m pytest"),
        }
    )
    check = check_of(scan_json(repo), "ML603")
    assert check["verdict"] == "partial"


def test_ml603_metric_report_without_threshold_fails(make_repo):
    repo = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ml.yml": workflow("python evaluate.py --out metrics.json"),
        }
    )
    check = check_of(scan_json(repo), "ML603")
    assert check["verdict"] == "fail"
    assert "no step fails" in check["reason"]


def test_ml603_not_applicable_without_ci(make_repo):
    repo = make_repo({"train.py": FIT})
    assert check_of(scan_json(repo), "ML603")["verdict"] == "n/a"


# -- ML901 ---------------------------------------------------------------------------------
def test_ml901_broken_fixture_scan_goes_on(copy_fixture):
    repo = copy_fixture("broken-syntax")
    result = run_cli("scan", repo, "-f", "json", "--no-cache")
    assert result.code in (0, 1), result.stderr
    assert "internal error" not in result.stderr
    report = result.json()
    ml901 = check_of(report, "ML901")
    assert ml901["verdict"] == "fail"
    by_path = {f["path"]: f for f in ml901["findings"]}
    assert {".github/workflows/ci.yml", "requirements.txt"} <= set(by_path)
    assert by_path["requirements.txt"]["line"] == 3
    assert "scikit-learn ==>> 1.5" in by_path["requirements.txt"]["message"]
    assert "YAML" in by_path[".github/workflows/ci.yml"]["message"]
    assert 8 <= by_path[".github/workflows/ci.yml"]["line"] <= 9  # within the file
    # Every other check still ran and decided something.
    verdicts = {c["code"]: c["verdict"] for c in report["checks"]}
    assert set(verdicts) >= {"ML101", "ML102", "ML104", "ML603", "ML901"}
    assert verdicts["ML104"] == "pass"  # the two good requirement lines are pinned
    assert report["summary"]["files"] >= 4


def test_ml901_broken_fixture_reports_the_syntax_error(copy_fixture):
    report = scan_json(copy_fixture("broken-syntax"))
    by_path = {f["path"]: f for f in findings(report, "ML901")}
    assert "pkg/legacy_report.py" in by_path
    assert by_path["pkg/legacy_report.py"]["line"] == 5
    assert "syntax" in by_path["pkg/legacy_report.py"]["message"].lower()


def test_ml901_syntax_error_in_full_pass_file_with_scan_going_on(make_repo):
    # The broken file mentions a training call, so it gets the full parse today.
    repo = make_repo(
        {
            "broken_train.py": "from sklearn.svm import SVC\n\nif True\n    SVC().fit(X, y)\n",
            "train.py": ML102_BAD,
        }
    )
    result = run_cli("scan", repo, "-f", "json", "--no-cache")
    assert result.code in (0, 1), result.stderr
    report = result.json()
    assert [f["path"] for f in findings(report, "ML901")] == ["broken_train.py"]
    assert check_of(report, "ML901")["verdict"] == "fail"
    # train.py was indexed: it trains, and its unseeded randomness is found.
    assert lines_of(report, "ML102") == [6]


def test_ml901_syntax_error_in_a_plain_module(make_repo):
    repo = make_repo({"broken.py": "def f(:\n    pass\n", "train.py": ML102_BAD})
    assert [f["path"] for f in findings(scan_json(repo), "ML901")] == ["broken.py"]


def test_ml901_syntax_error_points_at_the_bad_line(make_repo):
    # A training call in the file gets it the full parse, whatever the triage decides.
    source = "from sklearn.svm import SVC\ndef f(:\n    SVC().fit(X, y)\n"
    repo = make_repo({"broken.py": source, "ok.py": "x = 1\n"})
    found = findings(scan_json(repo), "ML901")
    assert [(f["path"], f["line"], f["column"]) for f in found] == [("broken.py", 2, 7)]


def test_ml901_undecodable_file(make_repo):
    repo = make_repo({"train.py": FIT})
    (repo / "latin.py").write_bytes(b"# caf\xe9\nx = 1\n")
    report = scan_json(repo)
    assert any(f["path"] == "latin.py" for f in findings(report, "ML901"))


def test_ml901_undecodable_training_file(make_repo):
    repo = make_repo({"ok.py": "x = 1\n"})
    (repo / "train.py").write_bytes(b"# caf\xe9\nfrom sklearn.svm import SVC\nSVC().fit(X, y)\n")
    result = run_cli("scan", repo, "-f", "json", "--no-cache")
    assert result.code in (0, 1), result.stderr
    (finding,) = findings(result.json(), "ML901")
    assert finding["path"] == "train.py"
    assert "encoding" in finding["message"]
