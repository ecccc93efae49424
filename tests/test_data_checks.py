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
