"""ML107-ML110: held-out evaluation, training-set scores, baselines and model cards,
asserted on the JSON report of the installed CLI."""

from __future__ import annotations

from typing import Any

from tests.conftest import check_of, scan_json


def found(report: dict[str, Any], code: str) -> list[tuple[str, int]]:
    return sorted((f["path"], f["line"]) for f in check_of(report, code)["findings"])


TRAIN_ON_ALL = """
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score


def main():
    df = pd.read_csv("data.csv")
    X, y = df[["a", "b"]], df["y"]
    clf = LogisticRegression(max_iter=200).fit(X, y)
    print("train accuracy", clf.score(X, y))
    other = LogisticRegression()
    other.fit(X, y)
    preds = other.predict(X)
    print(accuracy_score(y, preds))


if __name__ == "__main__":
    main()
"""


def test_ml107_fails_without_any_held_out_evaluation(make_repo):
    report = scan_json(make_repo({"train.py": TRAIN_ON_ALL}))
    check = check_of(report, "ML107")
    assert check["verdict"] == "fail"
    assert check["location"]["path"] == "train.py"
    assert check["location"]["line"] == 9


def test_ml107_passes_on_split_validation_kwargs_or_test_metric(make_repo):
    cases = {
        "split": "from sklearn.model_selection import train_test_split\n"
        "X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)\n",
        "keras": "model.fit(X, y, validation_split=0.2)\n",
        "metric": "from sklearn.metrics import f1_score\nprint(f1_score(y_test, preds))\n",
    }
    for name, extra in cases.items():
        repo = make_repo(
            {"train.py": "from sklearn.svm import SVC\nSVC().fit(X, y)\n" + extra}, name=name
        )
        check = check_of(scan_json(repo), "ML107")
        assert check["verdict"] == "pass", (name, check)
        assert check["evidence"][0]["path"] == "train.py"
        assert check["evidence"][0]["line"] >= 2


def test_ml108_training_set_scores_are_findings(make_repo):
    report = scan_json(make_repo({"train.py": TRAIN_ON_ALL}))
    check = check_of(report, "ML108")
    assert check["verdict"] == "fail"
    assert found(report, "ML108") == [("train.py", 10), ("train.py", 14)]
    messages = [f["message"] for f in check["findings"]]
    assert "clf was fit on at line 9" in messages[0]
    assert "accuracy_score" in messages[1] and "other was fit on at line 12" in messages[1]


def test_ml108_training_metric_beside_held_out_metric_is_a_diagnostic(make_repo):
    code = """
    from sklearn.linear_model import LogisticRegression


    def fit_and_report(X, y, X_test, y_test):
        clf = LogisticRegression()
        clf.fit(X, y)
        print("train", clf.score(X, y), "test", clf.score(X_test, y_test))
    """
    report = scan_json(make_repo({"model.py": code}))
    check = check_of(report, "ML108")
    assert check["verdict"] == "pass"
    assert check["findings"] == []


def test_ml108_reassigned_between_fit_and_score_is_not_training_data(make_repo):
    code = """
    from sklearn.linear_model import Ridge


    def run(X, y, load):
        model = Ridge().fit(X, y)
        X, y = load("holdout")
        return model.score(X, y)
    """
    check = check_of(scan_json(make_repo({"model.py": code})), "ML108")
    assert check["findings"] == []


def test_ml108_in_a_notebook_reports_the_cell(make_repo):
    from tests.test_notebooks import lines, notebook

    nb = notebook(
        ("code", lines("from sklearn.tree import DecisionTreeClassifier\n")),
        ("code", lines("clf = DecisionTreeClassifier(random_state=0)\nclf.fit(X, y)\n")),
        ("markdown", ["## Score\n"]),
        ("code", lines("clf.score(X, y)\n")),
    )
    check = check_of(scan_json(make_repo({"explore.ipynb": nb})), "ML108")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert (finding["cell"], finding["cell_line"]) == (3, 1)
    assert "clf was fit on at cell 1, line 2" in finding["message"]


def test_ml109_baseline_in_code_or_docs(make_repo):
    fit = "from sklearn.svm import SVC\nSVC().fit(X, y)\n"
    report = scan_json(make_repo({"train.py": fit}))
    assert check_of(report, "ML109")["verdict"] == "fail"
    assert check_of(report, "ML109")["location"]["path"] == "train.py"

    dummy = fit + "from sklearn.dummy import DummyClassifier\nDummyClassifier().fit(X, y)\n"
    check = check_of(scan_json(make_repo({"train.py": dummy}, name="dummy")), "ML109")
    assert check["verdict"] == "pass"
    assert ("train.py", 4) in {(e["path"], e["line"]) for e in check["evidence"]}

    docs = {"train.py": fit, "docs/results.md": "# Results\n\nThe majority baseline scores 0.61.\n"}
    check = check_of(scan_json(make_repo(docs, name="docs")), "ML109")
    assert check["verdict"] == "pass"
    assert check["evidence"][0] == {
        "path": "docs/results.md",
        "line": 3,
        "message": "docs/results.md mentions a baseline",
    }

    prose = {"train.py": fit, "README.md": "# Credits\n\nThanks for the baseline model.\n"}
    check = check_of(scan_json(make_repo(prose, name="prose")), "ML109")
    assert check["verdict"] == "fail", "prose that names a baseline records no baseline"

    config = {"train.py": fit, "promote.yaml": "gate:\n  champion_metric: f1\n"}
    check = check_of(scan_json(make_repo(config, name="config")), "ML109")
    assert check["verdict"] == "pass"
    assert check["evidence"][0]["path"] == "promote.yaml"


CARD = """
# Model card: churn v3

## Training data
Twelve months of subscriptions.

## Intended use
Ranking accounts for retention calls.

## Limitations
Not calibrated for new markets.

## Evaluation
F1 0.81 on the 2024 hold-out.
"""


def test_ml110_card_with_all_sections_passes(make_repo):
    fit = "from sklearn.svm import SVC\nSVC().fit(X, y)\n"
    check = check_of(scan_json(make_repo({"train.py": fit, "MODEL_CARD.md": CARD})), "ML110")
    assert check["verdict"] == "pass"
    assert [e["line"] for e in check["evidence"]] == [3, 6, 9, 12]


def test_ml110_partial_names_missing_sections_and_fail_without_card(make_repo):
    fit = "from sklearn.svm import SVC\nSVC().fit(X, y)\n"
    partial = CARD.split("## Limitations")[0]
    check = check_of(
        scan_json(make_repo({"train.py": fit, "docs/model_card.md": partial})), "ML110"
    )
    assert check["verdict"] == "partial"
    assert check["reason"] == "docs/model_card.md lacks sections: limitations, evaluation"
    assert check["location"]["path"] == "docs/model_card.md"

    missing = scan_json(make_repo({"train.py": fit, "README.md": "# x\n"}, name="none"))
    check = check_of(missing, "ML110")
    assert check["verdict"] == "fail"
    assert check["location"]["path"] == "README.md"


def test_ml110_hugging_face_card(make_repo):
    readme = (
        "---\nlicense: apache-2.0\ndatasets:\n- imdb\n---\n\n# distil-sentiment\n\n"
        "## Training data\nIMDB.\n\n## Intended uses & limitations\nReviews only.\n\n"
        "## Evaluation results\nAccuracy 0.93.\n"
    )
    fit = "from sklearn.svm import SVC\nSVC().fit(X, y)\n"
    check = check_of(scan_json(make_repo({"train.py": fit, "README.md": readme})), "ML110")
    assert check["verdict"] == "pass", check
    assert all(e["path"] == "README.md" for e in check["evidence"])


def test_ml110_not_applicable_without_training_or_serving(make_repo):
    check = check_of(scan_json(make_repo({"lib.py": "x = 1\n"})), "ML110")
    assert check["verdict"] == "n/a"


def test_ml108_cross_validation_folds_are_not_training_data(make_repo):
    code = """
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold


    def cv(X, y):
        model = Ridge()
        for train_idx, test_idx in KFold(n_splits=5).split(X):
            model.fit(X[train_idx], y[train_idx])
            print(model.score(X[test_idx], y[test_idx]))
    """
    check = check_of(scan_json(make_repo({"cv.py": code})), "ML108")
    assert check["findings"] == []


def test_ml109_previous_model_comparisons_pass_and_model_names_do_not(make_repo):
    fit = "from sklearn.svm import SVC\nSVC().fit(X, y)\n"
    named = {
        "train.py": "from sklearn.svm import SVC\n\n\n"
        "class BaselineModel:\n"
        "    kind = 'baseline'\n\n"
        "    def fit(self, X, y):\n"
        "        return SVC().fit(X, y)\n",
    }
    check = check_of(scan_json(make_repo(named, name="named")), "ML109")
    assert check["verdict"] == "fail", "a production model named Baseline is no baseline"

    champion = {
        "train.py": fit,
        "evaluate.py": "def gate(new_mse, registry):\n"
        "    production_model_mse = registry.metric('mse')\n"
        "    return new_mse < production_model_mse\n",
    }
    check = check_of(scan_json(make_repo(champion, name="champion")), "ML109")
    assert check["verdict"] == "pass"
    assert check["evidence"][0]["path"] == "evaluate.py"
    assert check["evidence"][0]["line"] == 2

    diff = {
        "train.py": fit,
        ".github/workflows/report.yml": "on: pull_request\njobs:\n  report:\n"
        "    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: dvc metrics diff main --md >> report.md\n",
    }
    check = check_of(scan_json(make_repo(diff, name="diff")), "ML109")
    assert check["verdict"] == "pass"
    assert "CI compares metrics with a previous version" in check["evidence"][0]["message"]
