"""2xx data checks (ML201, ML204, ML205) asserted on the JSON report of the installed CLI;
ML204 against real git repositories built in the test."""

from __future__ import annotations

from typing import Any

from tests.conftest import check_of, scan_json


def found(report: dict[str, Any], code: str) -> list[tuple[str, int]]:
    return sorted((f["path"], f["line"]) for f in check_of(report, code)["findings"])


READS = """
import os
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

DATA = "/home/anna/data/train.csv"


def main():
    df = pd.read_csv(DATA)
    extra = pd.read_parquet(os.path.join("/Users/anna/x", "y.parquet"))
    win = pd.read_csv(Path("C:\\\\data\\\\z.csv"))
    colab = pd.read_csv(f"/content/drive/MyDrive/{extra.shape[0]}.csv")
    image = pd.read_csv("/app/data/train.csv")
    df = df.dropna()
    df.to_csv("/home/anna/out.csv")
    LogisticRegression().fit(df[["a"]], df["y"])


if __name__ == "__main__":
    main()
"""


# -- ML201 ---------------------------------------------------------------------------------
def test_ml201_reads_without_validation_fail_dropna_is_not_validation(make_repo):
    report = scan_json(make_repo({"train.py": READS}))
    check = check_of(report, "ML201")
    assert check["verdict"] == "fail"
    assert check["location"] == {
        "path": "train.py",
        "line": 11,
        "message": "pandas.read_csv() reads data with no validation",
    }


def test_ml201_pandera_schema_passes(make_repo):
    code = """
    import pandas as pd
    import pandera.pandas as pa

    SCHEMA = pa.DataFrameSchema({"amount": pa.Column(float, pa.Check.ge(0))})


    def load(path):
        return SCHEMA.validate(pd.read_csv(path))
    """
    check = check_of(scan_json(make_repo({"data.py": code})), "ML201")
    assert check["verdict"] == "pass"
    assert ("data.py", 2) in {(e["path"], e["line"]) for e in check["evidence"]}


def test_ml201_explicit_null_and_range_checks_pass(make_repo):
    code = """
    import pandas as pd


    def load(path):
        frame = pd.read_csv(path)
        if frame["amount"].isna().any():
            raise ValueError("missing amounts")
        assert frame["amount"].min() >= 0
        return frame
    """
    check = check_of(scan_json(make_repo({"data.py": code})), "ML201")
    assert check["verdict"] == "pass"
    lines = {e["line"] for e in check["evidence"]}
    assert {6, 8} <= lines


def test_ml201_serving_request_schema_does_not_count(make_repo):
    repo = make_repo(
        {
            "app.py": """
            from fastapi import FastAPI
            from pydantic import BaseModel

            app = FastAPI()


            class Features(BaseModel):
                amount: float


            @app.post("/v1/predict")
            def predict(features: Features):
                return {"ok": True}
            """,
            "prepare.py": """
            import pandas as pd


            def prepare(path):
                return pd.read_csv(path).dropna()
            """,
        }
    )
    check = check_of(scan_json(repo), "ML201")
    assert check["verdict"] == "fail"
    assert check["location"]["path"] == "prepare.py"


def test_ml201_pydantic_records_in_ingestion_pass(make_repo):
    repo = make_repo(
        {
            "records.py": """
            from pydantic import BaseModel


            class Row(BaseModel):
                amount: float
            """,
            "ingest.py": """
            import pandas as pd

            from records import Row


            def rows(path):
                return [Row(**r) for r in pd.read_csv(path).to_dict("records")]
            """,
        }
    )
    check = check_of(scan_json(repo), "ML201")
    assert check["verdict"] == "pass"
    assert ("records.py", 4) in {(e["path"], e["line"]) for e in check["evidence"]}


def test_ml201_toy_loaders_are_not_ingestion(make_repo):
    code = "from sklearn.datasets import load_iris\nX, y = load_iris(return_X_y=True)\n"
    check = check_of(scan_json(make_repo({"demo.py": code})), "ML201")
    assert check["verdict"] == "n/a"


# -- ML205 ---------------------------------------------------------------------------------
def test_ml205_developer_machine_paths(make_repo):
    report = scan_json(make_repo({"train.py": READS}))
    check = check_of(report, "ML205")
    assert check["verdict"] == "fail"
    # the module constant, os.path.join, a Windows path, a Colab drive; not /app/data nor
    # the write to /home
    assert found(report, "ML205") == [
        ("train.py", 11),
        ("train.py", 12),
        ("train.py", 13),
        ("train.py", 14),
    ]
    messages = " ".join(f["message"] for f in check["findings"])
    assert "'/home/anna/data/train.csv'" in messages and "/content/drive/" in messages


def test_ml205_container_and_relative_paths_pass(make_repo):
    code = """
    import pandas as pd
    from sklearn.linear_model import Ridge

    frame = pd.read_csv("/opt/ml/input/data/train/train.csv")
    other = pd.read_parquet("data/extra.parquet")
    Ridge().fit(frame[["a"]], frame["y"])
    """
    check = check_of(scan_json(make_repo({"train.py": code})), "ML205")
    assert check["verdict"] == "pass"
    assert [e["line"] for e in check["evidence"]] == [4, 5]


def test_ml205_in_a_notebook_reports_the_cell(make_repo):
    from tests.test_notebooks import lines, notebook

    nb = notebook(
        ("code", lines("import pandas as pd\n")),
        ("code", lines("df = pd.read_csv('/Users/anna/Desktop/churn.csv')\n")),
    )
    check = check_of(scan_json(make_repo({"eda.ipynb": nb})), "ML205")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert (finding["path"], finding["cell"], finding["cell_line"]) == ("eda.ipynb", 1, 1)


# -- ML204 ---------------------------------------------------------------------------------
TRAIN = """
import pandas as pd
from sklearn.linear_model import LogisticRegression

frame = pd.read_csv("data/train.csv")
LogisticRegression().fit(frame[["a"]], frame["y"])
"""


def big_csv(size: int) -> str:
    row = "1.25,3.5,0.75,label_a\n"
    return "a,b,c,y\n" + row * (size // len(row) + 1)


def commit(repo: Any, message: str) -> str:
    repo.git.add(A=True)
    return repo.index.commit(message).hexsha


def test_ml204_large_csv_deleted_three_commits_ago_fails(make_repo):
    from tests.conftest import git_init

    root = make_repo({"train.py": TRAIN, "README.md": "# churn\n"})
    repo = git_init(root)
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text(big_csv(5 * 1024 * 1024), encoding="utf-8")
    added = commit(repo, "add training data")
    repo.index.remove(["data/train.csv"], working_tree=True)
    deleted = repo.index.commit("remove training data").hexsha
    for number in range(3):
        (root / f"notes{number}.md").write_text(f"note {number}\n", encoding="utf-8")
        commit(repo, f"note {number}")
    assert repo.git.rev_parse("HEAD~3") == deleted

    report = scan_json(root)
    check = check_of(report, "ML204")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert "data/train.csv (5.0 MB)" in finding["message"]
    assert f"committed in commit {added[:12]}" in finding["message"]
    assert f"deleted in {deleted[:12]}" in finding["message"]
    # the file is gone: the finding sits where data versioning would be set up
    assert finding["path"] == "README.md" and finding["symbol"] == "data/train.csv"
    assert "git history" in check["reason"]
    assert not any("git history:" in n for n in report["notes"])


def test_ml204_file_in_tree_is_its_own_finding_and_pull_refs_are_ignored(make_repo):
    from tests.conftest import git_init

    root = make_repo({"train.py": TRAIN})
    repo = git_init(root)
    (root / "data").mkdir()
    (root / "data" / "features.parquet").write_bytes(b"PAR1" + b"\1" * (2 * 1024 * 1024))
    commit(repo, "features")
    # a pull-request head with another big file, on no branch or tag
    repo.git.checkout("-b", "pr-work")
    (root / "data" / "pr_only.csv").write_text(big_csv(3 * 1024 * 1024), encoding="utf-8")
    pr_commit = commit(repo, "pr data")
    repo.git.update_ref("refs/pull/7/head", pr_commit)
    repo.git.checkout("master" if "master" in repo.heads else "main")
    repo.git.branch("-D", "pr-work")
    report = scan_json(root)
    check = check_of(report, "ML204")
    assert [(f["path"], f["line"]) for f in check["findings"]] == [("data/features.parquet", 1)]
    assert "pr_only" not in check["findings"][0]["message"]


def test_ml204_dvc_and_lfs_pass(make_repo):
    dvc = make_repo(
        {"train.py": TRAIN, "data/train.csv.dvc": "outs:\n- md5: 0f\n  path: train.csv\n"},
        git=True,
    )
    check = check_of(scan_json(dvc), "ML204")
    assert check["verdict"] == "pass"
    assert check["evidence"][0]["path"] == "data/train.csv.dvc"

    lfs = make_repo(
        {"train.py": TRAIN, ".gitattributes": "*.png binary\n*.parquet filter=lfs diff=lfs\n"},
        git=True,
        name="lfs",
    )
    check = check_of(scan_json(lfs), "ML204")
    assert check["verdict"] == "pass"
    assert (check["evidence"][0]["path"], check["evidence"][0]["line"]) == (".gitattributes", 2)


def test_ml204_small_data_only_is_partial(make_repo):
    root = make_repo({"train.py": TRAIN, "data/train.csv": big_csv(20_000)}, git=True)
    check = check_of(scan_json(root), "ML204")
    assert check["verdict"] == "partial"
    assert check["location"]["path"] == "data/train.csv"


def test_ml204_unversioned_reads_fail(make_repo):
    check = check_of(scan_json(make_repo({"train.py": TRAIN}, git=True)), "ML204")
    assert check["verdict"] == "fail"
    assert check["findings"] == []
    assert (check["location"]["path"], check["location"]["line"]) == ("train.py", 4)


def test_ml204_without_git_reads_the_working_tree_with_a_note(make_repo):
    root = make_repo({"train.py": TRAIN})
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text(big_csv(1024 * 1024 + 10), encoding="utf-8")
    report = scan_json(root)
    check = check_of(report, "ML204")
    assert check["verdict"] == "fail"
    assert [f["path"] for f in check["findings"]] == ["data/train.csv"]
    assert "not a git repository" in check["reason"]
    assert any(n.startswith("git history: not a git repository") for n in report["notes"])


def test_ml204_shallow_clone_degrades_with_a_note(make_repo, tmp_path):
    import git

    from tests.conftest import git_init

    origin = make_repo({"train.py": TRAIN}, name="origin")
    repo = git_init(origin)
    (origin / "old.csv").write_text(big_csv(2 * 1024 * 1024), encoding="utf-8")
    commit(repo, "data")
    repo.index.remove(["old.csv"], working_tree=True)
    repo.index.commit("drop data")
    clone = tmp_path / "clone"
    git.Repo.clone_from(f"file://{origin}", clone, depth=1)
    report = scan_json(clone)
    check = check_of(report, "ML204")
    assert "shallow clone" in check["reason"]
    assert check["findings"] == []  # the deleted file is not in a depth-1 clone's tree
    assert any("shallow clone" in n for n in report["notes"])


def test_ml205_config_path_passed_to_a_reader(make_repo):
    repo = make_repo(
        {
            "config.yaml": """
            data:
              train_path: /home/anna/data/train.csv
              report_path: /home/anna/reports
            """,
            "train.py": """
            import pandas as pd
            from sklearn.linear_model import Ridge


            def main(cfg):
                frame = pd.read_csv(cfg.data.train_path)
                frame.to_csv(cfg.data.report_path)
                Ridge().fit(frame[["a"]], frame["y"])
            """,
        }
    )
    report = scan_json(repo)
    check = check_of(report, "ML205")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert (finding["path"], finding["line"]) == ("train.py", 6)
    assert "'/home/anna/data/train.csv' (from config.yaml:2)" in finding["message"]


def test_ml204_partial_clone_reads_what_is_here_and_fetches_nothing(make_repo, tmp_path):
    import git

    from tests.conftest import git_init

    origin = make_repo({"train.py": TRAIN, "README.md": "# churn\n"}, name="origin")
    repo = git_init(origin)
    repo.git.config("uploadpack.allowFilter", "true")
    (origin / "data").mkdir()
    (origin / "data" / "kept.csv").write_text(big_csv(2 * 1024 * 1024), encoding="utf-8")
    (origin / "data" / "old.csv").write_text(big_csv(3 * 1024 * 1024), encoding="utf-8")
    commit(repo, "data")
    repo.index.remove(["data/old.csv"], working_tree=True)
    repo.index.commit("drop old data")
    # Large blobs stay on the server: the checkout fetches kept.csv, old.csv is never here.
    clone = tmp_path / "partial"
    git.Repo.clone_from(f"file://{origin}", clone, multi_options=["--filter=blob:limit=1m"])
    partial = git.Repo(clone)

    def missing() -> int:
        listing = partial.git.rev_list("--objects", "--missing=print", "--all")
        return sum(line.startswith("?") for line in listing.splitlines())

    before = missing()
    assert before >= 1
    report = scan_json(clone)
    check = check_of(report, "ML204")
    assert check["verdict"] == "fail"
    assert [f["symbol"] for f in check["findings"]] == ["data/kept.csv"]
    assert "of the history" in check["reason"]
    assert "not on this machine (a partial clone" in check["reason"]
    assert any("partial clone" in n for n in report["notes"])
    assert missing() == before  # nothing was fetched from the promisor remote
