"""Patterns met on real repositories: managed-platform inference scripts (SageMaker, Azure
ML), fastai training, scalers fitted in handlers, Azure Pipelines folders and deploy tasks,
vendored joblib, services held in ``app.state`` or typed locals, tracker callbacks. Each
runs the installed CLI on a small repository and reads the JSON report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import check_of, scan_json

Report = dict[str, Any]


def trait(report: Report, name: str) -> dict[str, Any]:
    return next(t for t in report["traits"] if t["name"] == name)


def text(items: list[dict[str, Any]]) -> str:
    return "\n".join(i["message"] for i in items)


SAGEMAKER = """
    import os

    import torch


    def model_fn(model_dir):
        return torch.jit.load(os.path.join(model_dir, "model.pt"))


    def input_fn(request_body, content_type):
        return torch.tensor(request_body)


    def predict_fn(data, model):
        with torch.no_grad():
            return model(data)
"""


def test_sagemaker_inference_script_serves(make_repo: Callable[..., Path]) -> None:
    report = scan_json(make_repo({"code/inference.py": SAGEMAKER}))
    serves = trait(report, "SERVES")
    assert serves["present"]
    assert "POST /invocations -> model() at code/inference.py:16" in text(serves["evidence"])
    rows = {(r["method"], r["path"], r["framework"]) for r in report["routes"]}
    assert rows == {("POST", "/invocations", "sagemaker")}
    # The platform owns the path, the health probes and the process.
    assert check_of(report, "ML303")["verdict"] == "n/a"
    assert check_of(report, "ML304")["verdict"] == "n/a"
    assert check_of(report, "ML307")["verdict"] == "pass"  # model_fn runs once per container


def test_azure_ml_scoring_script_serves(make_repo: Callable[..., Path]) -> None:
    score = """
        import json

        import joblib


        def init():
            global model
            model = joblib.load("model.pkl")


        def run(raw_data):
            data = json.loads(raw_data)["data"]
            return model.predict(data).tolist()
    """
    report = scan_json(make_repo({"scoring/score.py": score}))
    assert trait(report, "SERVES")["present"]
    assert {(r["method"], r["path"]) for r in report["routes"]} == {("POST", "/score")}
    assert check_of(report, "ML307")["verdict"] == "pass"
    # A plain script with init() and run() and no global state is not a scoring script.
    plain = "def init():\n    pass\n\n\ndef run(args):\n    print(args)\n"
    assert not trait(scan_json(make_repo({"tool.py": plain}, name="plain")), "SERVES")["present"]


def test_fastai_training_and_loaders(make_repo: Callable[..., Path]) -> None:
    train = """
        from fastai.vision.all import SegmentationDataLoaders, unet_learner, resnet18

        dls = SegmentationDataLoaders.from_label_func("data", fnames=[], label_func=str,
                                                      valid_pct=0.2)
        learn = unet_learner(dls, resnet18)
        learn.fine_tune(3)
    """
    report = scan_json(make_repo({"train.py": train}))
    assert trait(report, "TRAINS")["present"]
    assert "fine_tune() trains a model" in text(trait(report, "TRAINS")["evidence"])
    assert trait(report, "INGESTS")["present"]
    ml107 = check_of(report, "ML107")
    assert ml107["verdict"] == "pass"
    assert "valid_pct=..." in text(ml107["evidence"])


def test_a_scaler_fitted_in_a_handler_is_not_training(make_repo: Callable[..., Path]) -> None:
    app = """
        import joblib
        from flask import Flask, jsonify, request
        from sklearn.preprocessing import StandardScaler

        app = Flask(__name__)


        @app.route("/predict", methods=["POST"])
        def predict():
            rows = request.get_json()["rows"]
            scaler = StandardScaler().fit(rows)
            model = joblib.load("model.joblib")
            return jsonify(model.predict(scaler.transform(rows)).tolist())
    """
    report = scan_json(make_repo({"app.py": app}))
    assert not trait(report, "TRAINS")["present"]
    assert check_of(report, "ML203")["verdict"] == "fail"  # the re-fit is ML203's finding


def test_vendored_joblib_is_joblib(make_repo: Callable[..., Path]) -> None:
    app = """
        from flask import Flask, jsonify
        from sklearn.externals import joblib

        app = Flask(__name__)


        @app.route("/v1/predict", methods=["POST"])
        def predict():
            model = joblib.load("model.joblib")
            return jsonify(model.predict([[1.0]]).tolist())
    """
    report = scan_json(make_repo({"app.py": app}))
    assert check_of(report, "ML302")["verdict"] == "fail"
    assert check_of(report, "ML307")["verdict"] == "fail"
    assert "joblib.load()" in check_of(report, "ML307")["findings"][0]["message"]


def test_azure_pipelines_folder_and_deploy_task(make_repo: Callable[..., Path]) -> None:
    pipeline = """
        trigger:
          - main
        pool:
          vmImage: ubuntu-latest
        steps:
          - script: python -m pytest tests
          - task: AzureWebApp@1
            inputs:
              appName: scorer
    """
    report = scan_json(make_repo({".pipelines/ci.yml": pipeline, "train.py": "print('hello')\n"}))
    assert trait(report, "CI")["present"]
    assert check_of(report, "ML601")["verdict"] == "pass"
    assert check_of(report, "ML602")["verdict"] == "pass"
    deploys = trait(report, "DEPLOYS")
    assert deploys["present"]
    assert {
        "path": ".pipelines/ci.yml",
        "line": 7,
        "message": "CI step deploys with AzureWebApp@1",
    } in deploys["evidence"]


def test_services_in_app_state_and_typed_locals_are_followed(
    make_repo: Callable[..., Path],
) -> None:
    files = {
        "svc/__init__.py": "",
        "svc/model.py": """
            import logging

            import joblib

            logger = logging.getLogger(__name__)


            class PriceModel:
                def __init__(self, path: str) -> None:
                    self.model = joblib.load(path)

                def predict(self, rows):
                    prediction = self.model.predict(rows)
                    logger.info("prediction=%s", prediction)
                    return prediction
        """,
        "svc/main.py": """
            from fastapi import FastAPI, Request

            from svc.model import PriceModel

            app = FastAPI()


            @app.on_event("startup")
            def startup() -> None:
                app.state.model = PriceModel("model.joblib")


            @app.post("/v1/predict")
            def predict(request: Request, x: float) -> dict:
                model: PriceModel = request.app.state.model
                return {"price": float(model.predict([[x]])[0])}


            @app.post("/v1/predict-again")
            def predict_again(request: Request, x: float) -> dict:
                return {"price": float(request.app.state.model.predict([[x]])[0])}
        """,
    }
    report = scan_json(make_repo(files))
    # Both handlers are followed into PriceModel.predict, where the prediction is logged.
    ml404 = check_of(report, "ML404")
    assert ml404["verdict"] == "pass"
    assert "logs the prediction" in text(ml404["evidence"])
    assert check_of(report, "ML307")["verdict"] == "pass"  # loaded at startup


def test_tracker_callbacks_and_azure_run_log(make_repo: Callable[..., Path]) -> None:
    dvclive = """
        from dvclive import Live
        from dvclive.fastai import DVCLiveCallback
        from fastai.vision.all import vision_learner, resnet18

        learn = vision_learner(None, resnet18)
        with Live() as live:
            learn.fine_tune(1, cbs=[DVCLiveCallback(live=live)])
    """
    ml101 = check_of(scan_json(make_repo({"train.py": dvclive})), "ML101")
    assert ml101["verdict"] == "pass"
    assert "DVCLiveCallback() logs to a tracker" in text(ml101["evidence"])
    azure = """
        from azureml.core import Run
        from sklearn.linear_model import Ridge

        run = Run.get_context()
        model = Ridge().fit([[0.0]], [0.0])
        run.log("mse", 0.1)
    """
    ml101 = check_of(scan_json(make_repo({"train.py": azure}, name="azure")), "ML101")
    assert ml101["verdict"] == "pass"
    assert "azureml.core.Run.get_context().log() logs to a tracker" in text(ml101["evidence"])
