"""ML202 training-serving-skew on small repositories: a serving copy of a training
transformation fails; sharing the function, a persisted pipeline or a feature store pass."""

from __future__ import annotations

from tests.conftest import check_of, run_cli, scan_json

FEATURES = """
import numpy as np


def build_features(df):
    out = df.copy()
    out["log_amount"] = np.log1p(out["amount"])
    out["is_night"] = (out["hour"] < 6).astype(int)
    return out[["log_amount", "is_night"]]
"""

TRAIN = """
import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression

from training.features import build_features


def main():
    df = pd.read_csv("data/train.csv")
    model = LogisticRegression().fit(build_features(df), df["label"])
    joblib.dump(model, "model.joblib")


if __name__ == "__main__":
    main()
"""

APP_HEAD = """
import joblib
import numpy as np
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()
model = joblib.load("model.joblib")


class Tx(BaseModel):
    amount: float
    hour: int
"""

COPY = '''

def prepare(frame):
    """Same steps as training, renamed."""
    frame2 = frame.copy()
    frame2["log_amount"] = np.log1p(frame2["amount"])
    frame2["is_night"] = (frame2["hour"] < 6).astype(int)
    return frame2[["log_amount", "is_night"]]


@app.post("/v1/predict")
def predict(tx: Tx):
    X = prepare(pd.DataFrame([tx.model_dump()]))
    return {"label": int(model.predict(X)[0])}
'''


def base(app: str) -> dict[str, str]:
    return {
        "training/__init__.py": "",
        "training/features.py": FEATURES,
        "training/train.py": TRAIN,
        "app/__init__.py": "",
        "app/main.py": app,
    }


def test_ml202_serving_copy_of_training_transformation_fails(make_repo):
    report = scan_json(make_repo(base(APP_HEAD + COPY)))
    check = check_of(report, "ML202")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert (finding["path"], finding["line"]) == ("app/main.py", 16)
    assert "prepare() (reached from POST /v1/predict)" in finding["message"]
    assert "build_features() of training/features.py (line 4)" in finding["message"]


def test_ml202_triage_keeps_the_finding(make_repo):
    root = make_repo(base(APP_HEAD + COPY))
    triaged = run_cli("scan", root, "-f", "json", "--no-cache", "--select", "ML202")
    full = run_cli(
        "scan",
        root,
        "-f",
        "json",
        "--no-cache",
        "--select",
        "ML202",
        env={"MLAUDIT_FULL_PASS": "1"},
    )
    assert triaged.stdout == full.stdout


def test_ml202_serving_imports_the_training_function_passes(make_repo):
    app = (
        APP_HEAD
        + """
from training.features import build_features


@app.post("/v1/predict")
def predict(tx: Tx):
    X = build_features(pd.DataFrame([tx.model_dump()]))
    return {"label": int(model.predict(X)[0])}
"""
    )
    check = check_of(scan_json(make_repo(base(app))), "ML202")
    assert check["verdict"] == "pass"
    assert check["findings"] == []
    (evidence,) = [e for e in check["evidence"] if "the function training uses" in e["message"]]
    assert (evidence["path"], evidence["line"]) == ("training/features.py", 4)


def test_ml202_persisted_pipeline_passes(make_repo):
    train = """
    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = pd.read_csv("data/train.csv")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    pipeline.fit(df[["amount", "hour"]], df["label"])
    joblib.dump(pipeline, "pipeline.joblib")
    """
    app = """
    import joblib
    from fastapi import FastAPI

    app = FastAPI()
    pipeline = joblib.load("pipeline.joblib")


    @app.post("/v1/predict")
    def predict(amount: float, hour: int):
        return {"label": int(pipeline.predict([[amount, hour]])[0])}
    """
    check = check_of(scan_json(make_repo({"train.py": train, "app.py": app})), "ML202")
    assert check["verdict"] == "pass"
    places = {(e["path"], e["line"]) for e in check["evidence"]}
    assert {("train.py", 8), ("app.py", 5)} <= places


def test_ml202_feature_store_passes(make_repo):
    app = """
    import joblib
    from fastapi import FastAPI
    from feast import FeatureStore

    app = FastAPI()
    store = FeatureStore(repo_path="feature_repo")
    model = joblib.load("model.joblib")


    @app.get("/v1/predict/{user_id}")
    def predict(user_id: int):
        row = store.get_online_features(features=["u:spend"], entity_rows=[{"user_id": user_id}])
        return {"score": float(model.predict([list(row.to_dict().values())])[0])}
    """
    files = base(app)
    check = check_of(scan_json(make_repo(files)), "ML202")
    assert check["verdict"] == "pass"
    assert any("feast" in e["message"] for e in check["evidence"])


def test_ml202_own_feature_code_beside_unimported_training_module_fails(make_repo):
    app = (
        APP_HEAD
        + """

def preprocess(tx):
    hour_flag = 1 if tx.hour < 6 else 0
    scaled = np.log1p(tx.amount) * 1.0
    return [[scaled, hour_flag]]


@app.post("/v1/predict")
def predict(tx: Tx):
    return {"label": int(model.predict(preprocess(tx))[0])}
"""
    )
    check = check_of(scan_json(make_repo(base(app))), "ML202")
    assert check["verdict"] == "fail"
    (finding,) = check["findings"]
    assert finding["path"] == "app/main.py"
    assert "training/features.py" in finding["message"]


def test_ml202_not_applicable_without_serving(make_repo):
    files = base("x = 1\n")
    check = check_of(scan_json(make_repo(files)), "ML202")
    assert check["verdict"] == "n/a"
