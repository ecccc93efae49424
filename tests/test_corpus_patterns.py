"""Cases met while labelling the accuracy corpus (benchmarks/accuracy): Lambda adapters,
platform metrics, smoke tests CI runs, safe loads, raw batch bodies, framework-validated
inputs, serving base images, seeded splits, Lightning validation steps, chained metric
assertions and verdicts that must be n/a when nothing is there to check.  Each runs the
installed CLI on a small repository and reads the JSON report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import check_of, scan_json

MakeRepo = Callable[..., Path]

LAMBDA_APP = """
    import joblib
    from fastapi import FastAPI
    from mangum import Mangum
    from pydantic import BaseModel

    app = FastAPI()
    model = joblib.load("model.joblib")


    class Query(BaseModel):
        text: str


    @app.post("/v1/predict")
    def predict(query: Query) -> dict:
        return {"label": model.predict([query.text])[0]}


    handler = Mangum(app)
"""

PLAIN_APP = """
    import joblib
    from fastapi import FastAPI
    from pydantic import BaseModel

    app = FastAPI()
    model = joblib.load("model.joblib")


    class Query(BaseModel):
        text: str


    @app.post("/v1/predict")
    def predict(query: Query) -> dict:
        return {"label": model.predict([query.text])[0]}
"""


def test_lambda_adapter_owns_shutdown_and_metrics(make_repo: MakeRepo) -> None:
    report = scan_json(make_repo({"app.py": LAMBDA_APP}))
    ml305 = check_of(report, "ML305")
    assert ml305["verdict"] == "n/a", ml305
    assert "Lambda" in ml305["reason"]
    ml401 = check_of(report, "ML401")
    assert ml401["verdict"] == "pass", ml401
    assert "CloudWatch" in ml401["reason"]


def test_without_the_adapter_shutdown_and_metrics_fail(make_repo: MakeRepo) -> None:
    report = scan_json(make_repo({"app.py": PLAIN_APP}))
    assert check_of(report, "ML305")["verdict"] == "fail"
    assert check_of(report, "ML401")["verdict"] == "fail"


def test_sync_handlers_leave_no_event_loop_to_block(make_repo: MakeRepo) -> None:
    report = scan_json(make_repo({"app.py": PLAIN_APP}))
    ml310 = check_of(report, "ML310")
    assert ml310["verdict"] == "n/a"
    assert "async" in ml310["reason"]
    blocking = PLAIN_APP.replace("def predict(", "async def predict(")
    report = scan_json(make_repo({"app.py": blocking}, name="async"))
    assert check_of(report, "ML310")["verdict"] == "fail"


def test_a_service_that_loads_no_model_is_na_for_ml307(make_repo: MakeRepo) -> None:
    # The web tier only queues requests; a worker process (no route) runs the model.
    web = """
        import json
        import uuid

        import redis
        from fastapi import FastAPI, File

        app = FastAPI()
        db = redis.Redis()


        @app.post("/v1/predict")
        def predict(image: bytes = File(...)) -> dict:
            key = str(uuid.uuid4())
            db.rpush("queue", json.dumps({"id": key, "image": image.hex()}))
            return {"predictions": json.loads(db.blpop(key)[1])}
    """
    worker = """
        import json

        import redis
        from tensorflow.keras.applications import ResNet50

        model = ResNet50(weights="imagenet")
        db = redis.Redis()
        while True:
            item = json.loads(db.lpop("queue"))
            db.rpush(item["id"], json.dumps(model.predict(item["image"]).tolist()))
    """
    report = scan_json(make_repo({"web/main.py": web, "worker/main.py": worker}))
    ml307 = check_of(report, "ML307")
    assert ml307["verdict"] == "n/a", ml307
    assert "loads no model" in ml307["reason"]


SMOKE_TEST = """
    import requests

    response = requests.post("http://localhost:8000/v1/predict", json={"text": "hi"})
    assert response.status_code == 200
"""


def workflow(step: str) -> str:
    return f"""
        on: [push]
        jobs:
          smoke:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: {step}
    """


def test_ci_running_a_smoke_script_is_an_integration_test(make_repo: MakeRepo) -> None:
    files = {
        "app.py": PLAIN_APP,
        "scripts/smoke.py": SMOKE_TEST,
        ".github/workflows/ci.yml": workflow("python scripts/smoke.py"),
    }
    ml606 = check_of(scan_json(make_repo(files)), "ML606")
    assert ml606["verdict"] == "pass", ml606
    assert any(e["path"] == "scripts/smoke.py" for e in ml606["evidence"]), ml606
    files[".github/workflows/ci.yml"] = workflow("python -m compileall .")
    assert check_of(scan_json(make_repo(files, name="no-smoke")), "ML606")["verdict"] == "fail"


def test_ci_followed_through_mise_tasks(make_repo: MakeRepo) -> None:
    files = {
        "app.py": PLAIN_APP,
        "scripts/smoke.py": SMOKE_TEST,
        "mise.toml": '[tasks.smoke]\nrun = "python scripts/smoke.py"\n',
        ".github/workflows/ci.yml": workflow("mise run smoke"),
    }
    ml606 = check_of(scan_json(make_repo(files)), "ML606")
    assert ml606["verdict"] == "pass", ml606


TORCH_TRAIN = """
    import torch
    from torch import nn

    net = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    torch.manual_seed(0)
    for _ in range(3):
        optimizer.zero_grad()
        net(torch.ones(1, 3)).sum().backward()
        optimizer.step()
    torch.save(net.state_dict(), "weights.pt")
"""


def test_weights_only_loads_are_safe(make_repo: MakeRepo) -> None:
    serve = """
        import torch

        state = torch.load("weights.pt", weights_only=True)
    """
    report = scan_json(make_repo({"train.py": TORCH_TRAIN, "load.py": serve}))
    ml302 = check_of(report, "ML302")
    assert ml302["verdict"] == "pass", ml302
    assert ml302["findings"] == []
    unsafe = serve.replace(", weights_only=True", "")
    report = scan_json(make_repo({"train.py": TORCH_TRAIN, "load.py": unsafe}, name="unsafe"))
    assert check_of(report, "ML302")["verdict"] == "fail"


def test_nothing_deserialised_is_na_for_ml302(make_repo: MakeRepo) -> None:
    report = scan_json(make_repo({"util.py": "import json\n\nCONFIG = json.loads('{}')\n"}))
    assert check_of(report, "ML302")["verdict"] == "n/a"


def test_raw_body_turned_into_a_frame_is_an_unbounded_batch(make_repo: MakeRepo) -> None:
    app = """
        import joblib
        import pandas as pd
        from flask import Flask, request

        app = Flask(__name__)
        model = joblib.load("model.joblib")


        @app.route("/v1/predict", methods=["POST"])
        def predict():
            frame = pd.DataFrame(request.get_json())
            return {"predictions": model.predict(frame).tolist()}
    """
    ml309 = check_of(scan_json(make_repo({"app.py": app})), "ML309")
    assert ml309["verdict"] == "fail", ml309
    assert ml309["findings"][0]["path"] == "app.py"
    # One scalar query parameter is no batch at all.
    report = scan_json(make_repo({"app.py": PLAIN_APP}, name="single"))
    assert check_of(report, "ML309")["verdict"] == "n/a"


def test_reqparse_arguments_are_validated_inputs(make_repo: MakeRepo) -> None:
    app = """
        import joblib
        from flask import Flask
        from flask_restful import Api, Resource, reqparse

        app = Flask(__name__)
        api = Api(app)
        model = joblib.load("model.joblib")
        parser = reqparse.RequestParser()
        parser.add_argument("x", type=float, required=True)


        class Predict(Resource):
            def post(self):
                args = parser.parse_args()
                return {"y": float(model.predict([[args["x"]]])[0])}


        api.add_resource(Predict, "/v1/predict")
    """
    ml306 = check_of(scan_json(make_repo({"app.py": app})), "ML306")
    assert ml306["verdict"] == "pass", ml306


def test_serving_base_image_starts_a_draining_server(make_repo: MakeRepo) -> None:
    files = {
        "app/main.py": PLAIN_APP,
        "Dockerfile": ("FROM tiangolo/uvicorn-gunicorn-fastapi:python3.11\nCOPY ./app /app\n"),
    }
    report = scan_json(make_repo(files))
    ml305 = check_of(report, "ML305")
    assert ml305["verdict"] == "pass", ml305
    assert "gunicorn" in ml305["reason"]


def test_a_dockerfile_without_from_is_no_container(make_repo: MakeRepo) -> None:
    report = scan_json(make_repo({"app.py": PLAIN_APP, "Dockerfile": "# placeholder\n"}))
    container = next(t for t in report["traits"] if t["name"] == "CONTAINER")
    assert not container["present"]


SPLIT_TRAIN = """
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv("data/train.csv")
    train, test = train_test_split(frame, test_size=0.2, random_state={seed})
    model = LogisticRegression().fit(train[["x"]], train["y"])
    print(model.score(test[["x"]], test["y"]))
"""


def test_random_state_arguments_are_seeds(make_repo: MakeRepo) -> None:
    seeded = SPLIT_TRAIN.format(seed="42").replace("LogisticRegression()", "LogisticRegression()")
    ml102 = check_of(scan_json(make_repo({"train.py": seeded})), "ML102")
    assert ml102["verdict"] == "pass", ml102
    assert "random_state" in ml102["evidence"][0]["message"]
    unseeded = SPLIT_TRAIN.replace(", random_state={seed}", "")
    report = scan_json(make_repo({"train.py": unseeded}, name="unseeded"))
    assert check_of(report, "ML102")["verdict"] == "fail"


def test_lightning_validation_step_is_held_out_evaluation(make_repo: MakeRepo) -> None:
    module = """
        import lightning as L
        import torch
        from torch import nn


        class Classifier(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.net = nn.Linear(3, 2)

            def training_step(self, batch, batch_idx):
                x, y = batch
                return nn.functional.cross_entropy(self.net(x), y)

            def validation_step(self, batch, batch_idx):
                x, y = batch
                self.log("val_loss", nn.functional.cross_entropy(self.net(x), y))

            def configure_optimizers(self):
                return torch.optim.Adam(self.parameters())


        trainer = L.Trainer(max_epochs=1)
        trainer.fit(Classifier())
    """
    ml107 = check_of(scan_json(make_repo({"train.py": module})), "ML107")
    assert ml107["verdict"] == "pass", ml107
    without = module.replace("validation_step", "other_step")
    report = scan_json(make_repo({"train.py": without}, name="no-val"))
    assert check_of(report, "ML107")["verdict"] != "pass"


def test_chained_metric_assertion_is_a_gate(make_repo: MakeRepo) -> None:
    test = """
        from train import evaluate


        def test_model_quality():
            metrics = evaluate()
            assert 0.8 < metrics["roc_auc"] <= 1.0
    """
    train = """
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score


        def evaluate():
            model = LogisticRegression(random_state=0).fit([[0], [1]], [0, 1])
            return {"roc_auc": roc_auc_score([0, 1], model.predict_proba([[0], [1]])[:, 1])}
    """
    files = {
        "train.py": train,
        "tests/test_quality.py": test,
        ".github/workflows/ci.yml": workflow("pytest"),
    }
    ml603 = check_of(scan_json(make_repo(files)), "ML603")
    assert ml603["verdict"] == "pass", ml603
    assert "0.8 < metrics" in ml603["evidence"][0]["message"]
    # A bound that cannot fail, written with the number first, is weak: partial.
    files["tests/test_quality.py"] = test.replace(
        '0.8 < metrics["roc_auc"] <= 1.0', '0 < metrics["roc_auc"]'
    )
    report = scan_json(make_repo(files, name="weak"))
    assert check_of(report, "ML603")["verdict"] == "partial"


def test_skew_without_training_feature_code_is_na(make_repo: MakeRepo) -> None:
    train = """
        import joblib
        import pandas as pd
        from sklearn.linear_model import LogisticRegression


        def split_data(frame):
            return frame[["x"]], frame["y"]


        def main():
            x, y = split_data(pd.read_csv("data.csv"))
            joblib.dump(LogisticRegression(random_state=0).fit(x, y), "model.joblib")
    """
    files = {"train.py": train, "app.py": PLAIN_APP}
    ml202 = check_of(scan_json(make_repo(files)), "ML202")
    assert ml202["verdict"] == "n/a", ml202
    named = train.replace("split_data", "build_features")
    ml202 = check_of(
        scan_json(make_repo({"train.py": named, "app.py": PLAIN_APP}, name="f")), "ML202"
    )
    assert ml202["verdict"] == "pass", ml202
    assert "build_features" in ml202["evidence"][0]["message"]
