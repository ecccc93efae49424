"""Serving side: ML307 (model loaded per request), ML304 (health endpoints), the SERVES trait
and the route table, through the real CLI and its JSON report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, check_of, scan_json

Report = dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------
def line_of(path: Path, needle: str) -> int:
    """1-based line of the only line of ``path`` containing ``needle``."""
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(hits) == 1, f"{needle!r} occurs {len(hits)} times in {path}"
    return hits[0]


def findings(report: Report, code: str) -> list[dict[str, Any]]:
    return check_of(report, code)["findings"]


def open_findings(report: Report, code: str) -> list[dict[str, Any]]:
    return [f for f in findings(report, code) if not f["suppressed"]]


def trait(report: Report, name: str) -> dict[str, Any]:
    return next(t for t in report["traits"] if t["name"] == name)


def route_table(report: Report) -> set[tuple[str, str, str]]:
    return {(r["method"], r["path"], r["handler"]) for r in report["routes"]}


MODEL_PY = """
    import joblib


    def load_model():
        return joblib.load("model.joblib")
"""

FASTAPI_MAIN = """
    from fastapi import FastAPI

    from app.routes import router

    app = FastAPI()
    app.include_router(router, prefix="/v1")
"""


# -- ML307 on the fixtures -------------------------------------------------------------------
def test_ml307_fastapi_bad_reports_the_load_two_modules_away(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("fastapi-bad")
    report = scan_json(root)
    check = check_of(report, "ML307")
    assert check["verdict"] == "fail"
    assert len(check["findings"]) == 1
    finding = check["findings"][0]
    assert finding["path"] == "app/model.py"
    assert finding["line"] == line_of(root / "app/model.py", "jl.load(MODEL_PATH)")
    assert finding["suppressed"] is False
    message = finding["message"]
    assert message.startswith("POST /v1/predict")
    # The whole chain, from the handler through the service into the loader.
    assert "predict() → predict_one() → load_model() → joblib.load()" in message


def test_ml307_fastapi_good_passes_with_cache_evidence(
    copy_fixture: Callable[[str], Path],
) -> None:
    report = scan_json(copy_fixture("fastapi-good"))
    check = check_of(report, "ML307")
    assert check["verdict"] == "pass", check
    assert check["findings"] == []
    evidence = " ".join(e["message"] for e in check["evidence"])
    assert "lru_cache" in evidence
    # The module-level singleton (/segment) and the lifespan model (/rank) are not findings
    # either: the SERVES trait still sees them as inference routes.
    serves = " ".join(e["message"] for e in trait(report, "SERVES")["evidence"])
    assert "/v1/segment" in serves
    assert "/v1/rank" in serves


def test_ml307_flask_bad_catches_from_torch_import_load(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("flask-bad")
    report = scan_json(root)
    check = check_of(report, "ML307")
    assert check["verdict"] == "fail"
    assert [(f["path"], f["line"]) for f in check["findings"]] == [
        ("service/inference.py", line_of(root / "service/inference.py", "= load("))
    ]
    message = check["findings"][0]["message"]
    assert message.startswith("POST /v1/predict")
    assert "classify() → torch.load()" in message


def test_ml307_flask_good_global_guard_passes(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("flask-good")
    report = scan_json(root)
    check = check_of(report, "ML307")
    assert check["verdict"] == "pass"
    assert check["findings"] == []
    guard = next(e for e in check["evidence"] if "_model" in e["message"])
    assert guard["path"] == "service/inference.py"
    assert guard["line"] == line_of(root / "service/inference.py", "_model = load(")


# -- ML307 on inline repositories ------------------------------------------------------------
@pytest.mark.parametrize(
    ("imports", "call", "reported"),
    [
        ("import joblib as jl", 'jl.load("m.joblib")', "joblib.load()"),
        ("from joblib import load as restore", 'restore("m.joblib")', "joblib.load()"),
        ("from torch import load", 'load("m.pt")', "torch.load()"),
        ("import torch.jit", 'torch.jit.load("m.pt")', "torch.jit.load()"),
        (
            "import onnxruntime as ort",
            'ort.InferenceSession("m.onnx")',
            "onnxruntime.InferenceSession()",
        ),
        (
            "from transformers import AutoModelForSequenceClassification as Auto",
            'Auto.from_pretrained("distilbert-base-uncased")',
            "transformers.AutoModelForSequenceClassification.from_pretrained()",
        ),
        (
            "from transformers import pipeline",
            'pipeline("sentiment-analysis")',
            "transformers.pipeline()",
        ),
        (
            "from sentence_transformers import SentenceTransformer",
            'SentenceTransformer("all-MiniLM-L6-v2")',
            "sentence_transformers.SentenceTransformer()",
        ),
        (
            "import mlflow",
            'mlflow.pyfunc.load_model("models:/churn/3")',
            "mlflow.pyfunc.load_model()",
        ),
        (
            "from tensorflow import keras",
            'keras.models.load_model("m.keras")',
            "tensorflow.keras.models.load_model()",
        ),
    ],
)
def test_ml307_loader_spellings_in_handler(
    make_repo: Callable[..., Path], imports: str, call: str, reported: str
) -> None:
    root = make_repo(
        {
            "serve.py": f"""
            from fastapi import FastAPI
            {imports}

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                model = {call}
                return {{"y": model.predict([[x]]).tolist()}}
        """,
        }
    )
    report = scan_json(root)
    found = findings(report, "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("serve.py", 9)]
    assert f"predict() → {reported}" in found[0]["message"]


def test_ml307_local_function_named_load_is_not_a_loader(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "serve.py": """
            import json

            import joblib
            from fastapi import FastAPI

            from helpers import load as load_settings

            app = FastAPI()
            MODEL = joblib.load("model.joblib")


            def load(path: str) -> dict:
                with open(path) as handle:
                    return json.load(handle)


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                thresholds = load("thresholds.json")
                settings = load_settings()
                score = MODEL.predict([[x]])[0]
                return {"y": score > thresholds["cut"], "env": settings["env"]}
        """,
            "helpers.py": """
            import os


            def load() -> dict:
                return {"env": os.environ.get("ENV", "dev")}
        """,
        }
    )
    report = scan_json(root)
    assert trait(report, "SERVES")["present"] is True
    check = check_of(report, "ML307")
    assert check["verdict"] == "pass", check["findings"]
    assert check["findings"] == []


def test_ml307_def_shadowing_an_imported_loader_is_not_a_loader(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "serve.py": """
            from fastapi import FastAPI
            from joblib import load

            app = FastAPI()
            CACHE = {"model": None}


            def load(name: str) -> dict:
                return {"name": name}


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"meta": load("churn"), "y": CACHE["model"].predict([[x]])}
        """,
        }
    )
    report = scan_json(root)
    assert findings(report, "ML307") == []


def test_ml307_helper_in_another_module_via_relative_import(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "svc/__init__.py": "",
            "svc/main.py": """
            from fastapi import FastAPI

            from .predictor import score

            app = FastAPI()


            @app.post("/v2/score")
            async def score_route(x: float) -> dict:
                return {"score": score(x)}
        """,
            "svc/predictor.py": """
            from .storage import fetch_model


            def score(x: float) -> float:
                return float(fetch_model().predict([[x]])[0])
        """,
            "svc/storage.py": """
            import pickle


            def fetch_model():
                with open("model.pkl", "rb") as handle:
                    return pickle.load(handle)
        """,
        }
    )
    report = scan_json(root)
    found = findings(report, "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("svc/storage.py", 6)]
    assert found[0]["message"].startswith(
        "POST /v2/score → score_route() → score() → fetch_model() → pickle.load()"
    )


PREDICTOR = """
    import joblib


    class Predictor:
        def __init__(self, path: str = "model.joblib") -> None:
            self.model = self._load(path)

        def _load(self, path: str):
            return joblib.load(path)

        def predict(self, x: float) -> float:
            return float(self.model.predict([[x]])[0])
"""


def test_ml307_self_method_loader_in_class_built_per_request(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "inference.py": PREDICTOR,
            "serve.py": """
            from fastapi import FastAPI

            from inference import Predictor

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": Predictor().predict(x)}
        """,
        }
    )
    report = scan_json(root)
    found = findings(report, "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("inference.py", 9)]
    assert "__init__() → _load() → joblib.load()" in found[0]["message"]


def test_ml307_self_method_loader_in_instance_built_once(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "inference.py": PREDICTOR,
            "serve.py": """
            from fastapi import FastAPI

            from inference import Predictor

            app = FastAPI()
            predictor = Predictor()


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": predictor.predict(x)}
        """,
        }
    )
    report = scan_json(root)
    assert trait(report, "SERVES")["present"] is True
    check = check_of(report, "ML307")
    assert check["verdict"] == "pass"
    assert check["findings"] == []


def test_ml307_self_method_loader_called_on_every_predict(
    make_repo: Callable[..., Path],
) -> None:
    """Built once, but ``predict`` itself reloads through a ``self.`` method: a finding."""
    root = make_repo(
        {
            "inference.py": """
            import joblib


            class Predictor:
                def __init__(self, path: str) -> None:
                    self.path = path

                def _model(self):
                    return joblib.load(self.path)

                def predict(self, x: float) -> float:
                    return float(self._model().predict([[x]])[0])
        """,
            "serve.py": """
            from fastapi import FastAPI

            from inference import Predictor

            app = FastAPI()
            predictor = Predictor("model.joblib")


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": predictor.predict(x)}
        """,
        }
    )
    found = findings(scan_json(root), "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("inference.py", 9)]


def test_ml307_instance_named_like_its_module(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "predictor.py": """
            import joblib


            class Predictor:
                def __init__(self, path: str) -> None:
                    self.path = path

                def _model(self):
                    return joblib.load(self.path)

                def predict(self, x: float) -> float:
                    return float(self._model().predict([[x]])[0])
        """,
            "serve.py": """
            from fastapi import FastAPI

            from predictor import Predictor

            app = FastAPI()
            predictor = Predictor("model.joblib")


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": predictor.predict(x)}
        """,
        }
    )
    found = findings(scan_json(root), "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("predictor.py", 9)]


DEPENDS_ROUTES = {
    "app/__init__.py": "",
    "app/main.py": FASTAPI_MAIN,
}


def _depends_repo(make_repo: Callable[..., Path], deps: str, handler: str) -> Path:
    return make_repo(
        {
            **DEPENDS_ROUTES,
            "app/deps.py": deps,
            "app/routes.py": f"""
            from typing import Annotated

            from fastapi import APIRouter, Depends

            from app.deps import get_model

            router = APIRouter(prefix="/models")


            {handler}
        """,
        }
    )


def test_ml307_depends_provider_that_loads(make_repo: Callable[..., Path]) -> None:
    root = _depends_repo(
        make_repo,
        MODEL_PY.replace("load_model", "get_model"),
        """@router.post("/predict")
            def predict(x: float, model=Depends(get_model)) -> dict:
                return {"y": model.predict([[x]]).tolist()}""",
    )
    report = scan_json(root)
    found = findings(report, "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("app/deps.py", 5)]
    assert found[0]["message"].startswith("POST /v1/models/predict → predict() → get_model()")


def test_ml307_annotated_depends_provider_that_loads(make_repo: Callable[..., Path]) -> None:
    root = _depends_repo(
        make_repo,
        MODEL_PY.replace("load_model", "get_model"),
        """@router.post("/predict")
            def predict(x: float, model: Annotated[object, Depends(get_model)]) -> dict:
                return {"y": model.predict([[x]]).tolist()}""",
    )
    found = findings(scan_json(root), "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("app/deps.py", 5)]


@pytest.mark.parametrize(
    ("imports", "decorator"),
    [
        ("import functools", "@functools.lru_cache(maxsize=1)"),
        ("import functools as ft", "@ft.lru_cache(maxsize=None)"),
        ("from functools import lru_cache", "@lru_cache"),
        ("from functools import lru_cache as memoize", "@memoize()"),
        ("from functools import cache", "@cache"),
    ],
)
def test_ml307_cached_depends_provider_passes(
    make_repo: Callable[..., Path], imports: str, decorator: str
) -> None:
    deps = f"""
        {imports}

        import joblib


        {decorator}
        def get_model():
            return joblib.load("model.joblib")
    """
    root = _depends_repo(
        make_repo,
        deps,
        """@router.post("/predict")
            def predict(x: float, model: Annotated[object, Depends(get_model)]) -> dict:
                return {"y": model.predict([[x]]).tolist()}""",
    )
    report = scan_json(root)
    check = check_of(report, "ML307")
    assert check["verdict"] == "pass", check["findings"]
    assert check["findings"] == []
    assert any("lru_cache" in e["message"] or "cache" in e["message"] for e in check["evidence"]), (
        check["evidence"]
    )


def test_ml307_depends_on_a_class_builds_it_per_request(make_repo: Callable[..., Path]) -> None:
    """FastAPI calls a class dependency for every request: its loading __init__ is a finding."""
    root = make_repo(
        {
            "inference.py": PREDICTOR,
            "serve.py": """
            from fastapi import Depends, FastAPI

            from inference import Predictor

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float, predictor: Predictor = Depends(Predictor)) -> dict:
                return {"y": predictor.predict(x)}
        """,
        }
    )
    found = findings(scan_json(root), "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("inference.py", 9)]


def test_ml307_bare_depends_uses_the_annotated_class(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "inference.py": PREDICTOR,
            "serve.py": """
            from typing import Annotated

            from fastapi import Depends, FastAPI

            from inference import Predictor

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float, predictor: Annotated[Predictor, Depends()]) -> dict:
                return {"y": predictor.predict(x)}
        """,
        }
    )
    found = findings(scan_json(root), "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("inference.py", 9)]


def test_ml307_startup_hook_and_lazy_dict_cache_pass(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "serve.py": """
            import joblib
            from fastapi import FastAPI, Request

            app = FastAPI()
            _models: dict = {}


            @app.on_event("startup")
            def load_models() -> None:
                app.state.model = joblib.load("model.joblib")


            def ranker():
                if "ranker" not in _models:
                    _models["ranker"] = joblib.load("ranker.joblib")
                return _models["ranker"]


            @app.post("/v1/predict")
            def predict(x: float, request: Request) -> dict:
                return {"y": request.app.state.model.predict([[x]]).tolist()}


            @app.post("/v1/rank")
            def rank(x: float) -> dict:
                return {"r": ranker().predict([[x]]).tolist()}
        """,
        }
    )
    report = scan_json(root)
    check = check_of(report, "ML307")
    assert check["verdict"] == "pass", check["findings"]
    # The startup hook is not a route.
    assert route_table(report) == {
        ("POST", "/v1/predict", "serve.predict"),
        ("POST", "/v1/rank", "serve.rank"),
    }
    assert any("_models" in e["message"] for e in check["evidence"])


def test_ml307_local_none_guard_is_not_a_singleton(make_repo: Callable[..., Path]) -> None:
    """``if model is None`` on a local variable still loads on every call."""
    root = make_repo(
        {
            "serve.py": """
            import joblib
            from fastapi import FastAPI

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float, path: str | None = None) -> dict:
                model = None
                if path is None:
                    model = joblib.load("model.joblib")
                return {"y": model.predict([[x]]).tolist()}
        """,
        }
    )
    found = findings(scan_json(root), "ML307")
    assert [(f["path"], f["line"]) for f in found] == [("serve.py", 11)]


def test_ml307_loader_reached_from_two_routes_is_reported_once(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "app/__init__.py": "",
            "app/main.py": FASTAPI_MAIN,
            "app/model.py": MODEL_PY,
            "app/routes.py": """
            from fastapi import APIRouter

            from app.model import load_model

            router = APIRouter()


            @router.post("/predict")
            def predict(x: float) -> dict:
                return {"y": load_model().predict([[x]]).tolist()}


            @router.post("/explain")
            def explain(x: float) -> dict:
                model = load_model()
                return {"importances": model.feature_importances_.tolist()}


            @router.api_route("/score", methods=["GET", "POST"])
            def score(x: float) -> dict:
                return {"y": load_model().predict_proba([[x]]).tolist()}
        """,
        }
    )
    report = scan_json(root)
    check = check_of(report, "ML307")
    assert check["verdict"] == "fail"
    assert [(f["path"], f["line"]) for f in check["findings"]] == [("app/model.py", 5)]
    assert check["reason"].startswith("1 model load")
    assert ("GET", "/v1/score", "app.routes.score") in route_table(report)
    assert ("POST", "/v1/score", "app.routes.score") in route_table(report)


def test_ml307_suppression_comment_on_the_line_above(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "serve.py": """
            import joblib
            from fastapi import FastAPI

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                # mlaudit: ignore[ML307] tiny model, loading takes 2 ms
                model = joblib.load("model.joblib")
                return {"y": model.predict([[x]]).tolist()}
        """,
        }
    )
    report = scan_json(root)
    check = check_of(report, "ML307")
    assert check["verdict"] == "pass"
    assert len(check["findings"]) == 1
    finding = check["findings"][0]
    assert (finding["path"], finding["line"]) == ("serve.py", 10)
    assert finding["suppressed"] is True
    assert finding["suppression_reason"] == "tiny model, loading takes 2 ms"
    ml902 = [c for c in report["checks"] if c["code"] == "ML902"]
    assert all(c["findings"] == [] for c in ml902)  # the suppression was used


def test_ml307_suppression_for_another_code_does_not_apply(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "serve.py": """
            import joblib
            from fastapi import FastAPI

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                # mlaudit: ignore[ML302] trusted artefact
                model = joblib.load("model.joblib")
                return {"y": model.predict([[x]]).tolist()}
        """,
        }
    )
    check = check_of(scan_json(root), "ML307")
    assert check["verdict"] == "fail"
    assert [f["suppressed"] for f in check["findings"]] == [False]


def test_ml307_test_code_yields_no_findings(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "serve.py": """
            import joblib
            from fastapi import FastAPI

            app = FastAPI()
            MODEL = joblib.load("model.joblib")


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": MODEL.predict([[x]]).tolist()}
        """,
            "tests/test_api.py": """
            import joblib
            from fastapi import FastAPI

            app = FastAPI()


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": joblib.load("model.joblib").predict([[x]]).tolist()}
        """,
        }
    )
    report = scan_json(root)
    assert findings(report, "ML307") == []
    assert all(r["file"] == "serve.py" for r in report["routes"])


# -- the route table -------------------------------------------------------------------------
def test_routes_fastapi_fixtures(copy_fixture: Callable[[str], Path]) -> None:
    bad = scan_json(copy_fixture("fastapi-bad"))
    assert bad["routes"] == [
        {
            "method": "POST",
            "path": "/batch/score",
            "handler": "app.batch.score_batch",
            "file": "app/batch.py",
            "line": line_of(FIXTURES / "fastapi-bad/app/batch.py", '@batch_router.post("/score")'),
            "framework": "fastapi",
        },
        {
            "method": "POST",
            "path": "/v1/predict",
            "handler": "app.routes.predict",
            "file": "app/routes.py",
            "line": line_of(FIXTURES / "fastapi-bad/app/routes.py", '@router.post("/predict")'),
            "framework": "fastapi",
        },
    ]
    good = scan_json(copy_fixture("fastapi-good"))
    assert route_table(good) == {
        ("GET", "/v1/health", "app.routes.health"),
        ("GET", "/v1/ready", "app.routes.ready"),
        ("POST", "/v1/predict", "app.routes.predict"),
        ("POST", "/v1/segment", "app.routes.segment"),
        ("POST", "/v1/rank", "app.routes.rank"),
        ("POST", "/v1/segment/batch", "app.routes.segment_batch"),
    }


def test_routes_flask_fixtures(copy_fixture: Callable[[str], Path]) -> None:
    bad = scan_json(copy_fixture("flask-bad"))
    # register_blueprint(url_prefix="/v1") replaces the blueprint's own "/api".
    assert [(r["method"], r["path"], r["handler"], r["framework"]) for r in bad["routes"]] == [
        ("POST", "/v1/predict", "service.api.predict", "flask")
    ]
    good = scan_json(copy_fixture("flask-good"))
    assert route_table(good) == {
        ("GET", "/healthz", "service.probes.healthz"),
        ("GET", "/readyz", "service.probes.readyz"),
        ("POST", "/v1/predict", "service.api.predict"),
    }


def test_routes_nested_routers_and_call_registration(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "api/__init__.py": "",
            "api/main.py": """
            from fastapi import FastAPI

            from api import v1

            app = FastAPI(root_path="/proxy")
            app.include_router(v1.api_router, prefix="/v1")
        """,
            "api/v1.py": """
            from fastapi import APIRouter

            from api.models import router as models_router

            api_router = APIRouter()
            api_router.include_router(models_router, prefix="/models")
        """,
            "api/models.py": """
            from fastapi import APIRouter

            router = APIRouter(prefix="/churn", tags=["churn"])


            def predict(x: float) -> dict:
                return {"y": x}


            @router.get("/{model_id}/info")
            def info(model_id: str) -> dict:
                return {"id": model_id}


            router.add_api_route("/predict", predict, methods=["POST"])
        """,
            "web/__init__.py": "",
            "web/app.py": """
            from flask import Flask

            from web.views import bp, score

            app = Flask(__name__)
            app.register_blueprint(bp)
            app.add_url_rule("/score", view_func=score, methods=["POST", "PUT"])
        """,
            "web/views.py": """
            from flask import Blueprint

            bp = Blueprint("views", __name__, url_prefix="/api/v2")


            def score():
                return "0"


            @bp.route("/items/<int:item_id>")
            def item(item_id: int):
                return str(item_id)
        """,
        }
    )
    report = scan_json(root)
    assert route_table(report) == {
        ("GET", "/v1/models/churn/{model_id}/info", "api.models.info"),
        ("POST", "/v1/models/churn/predict", "api.models.predict"),
        ("GET", "/api/v2/items/<int:item_id>", "web.views.item"),
        ("POST", "/score", "web.views.score"),
        ("PUT", "/score", "web.views.score"),
    }
    frameworks = {r["path"]: r["framework"] for r in report["routes"]}
    assert frameworks["/v1/models/churn/predict"] == "fastapi"
    assert frameworks["/score"] == "flask"


def test_routes_flask_app_factory_registers_blueprint(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "svc/__init__.py": "",
            "svc/factory.py": """
            from flask import Flask

            from svc.api import bp


            def create_app() -> Flask:
                app = Flask(__name__)
                app.register_blueprint(bp, url_prefix="/v1")

                @app.get("/ping")
                def ping():
                    return "pong"

                return app
        """,
            "svc/api.py": """
            from flask import Blueprint

            bp = Blueprint("api", __name__, url_prefix="/api")


            @bp.post("/predict")
            def predict():
                return "0"
        """,
        }
    )
    report = scan_json(root)
    assert route_table(report) == {
        ("POST", "/v1/predict", "svc.api.predict"),
        ("GET", "/ping", "svc.factory.create_app.ping"),
    }


# -- ML304 -----------------------------------------------------------------------------------
def test_ml304_fails_without_health_route_and_points_at_the_app(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("fastapi-bad")
    check = check_of(scan_json(root), "ML304")
    assert check["verdict"] == "fail"
    app_line = line_of(root / "app/main.py", "app = FastAPI(")
    assert check["location"]["path"] == "app/main.py"
    assert check["location"]["line"] == app_line
    assert [(e["path"], e["line"]) for e in check["evidence"]] == [("app/main.py", app_line)]


def test_ml304_flask_bad_fails(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("flask-bad")
    check = check_of(scan_json(root), "ML304")
    assert check["verdict"] == "fail"
    assert check["location"]["path"] == "service/app.py"


@pytest.mark.parametrize("fixture", ["fastapi-good", "flask-good"])
def test_ml304_passes_on_good_fixtures(copy_fixture: Callable[[str], Path], fixture: str) -> None:
    check = check_of(scan_json(copy_fixture(fixture)), "ML304")
    assert check["verdict"] == "pass", check
    messages = [e["message"] for e in check["evidence"]]
    assert any(m.startswith("liveness route GET") for m in messages)
    assert any(m.startswith("readiness route GET") for m in messages)
    assert any("checks that the model is loaded" in m for m in messages)


SERVE_WITH = """
    import joblib
    from fastapi import FastAPI, HTTPException

    app = FastAPI()
    MODEL = joblib.load("model.joblib")


    @app.post("/v1/predict")
    def predict(x: float) -> dict:
        return {{"y": MODEL.predict([[x]]).tolist()}}
    {extra}
"""

HEALTH = """
    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}
"""

READY_CHECKS_MODEL = """
    @app.get("/ready")
    def ready() -> dict:
        if MODEL is None:
            raise HTTPException(status_code=503)
        return {"status": "ready"}
"""

READY_BLIND = """
    @app.get("/readyz")
    def readyz() -> dict:
        return {"status": "ready"}
"""


def _serve(make_repo: Callable[..., Path], extra: str, **more: str) -> Path:
    return make_repo({"serve.py": SERVE_WITH.format(extra=extra), **more})


def test_ml304_partial_with_only_health(make_repo: Callable[..., Path]) -> None:
    check = check_of(scan_json(_serve(make_repo, HEALTH)), "ML304")
    assert check["verdict"] == "partial"
    assert "no readiness route" in check["reason"]
    assert check["location"]["path"] == "serve.py"


def test_ml304_partial_when_readiness_ignores_the_model(make_repo: Callable[..., Path]) -> None:
    check = check_of(scan_json(_serve(make_repo, HEALTH + READY_BLIND)), "ML304")
    assert check["verdict"] == "partial"
    assert "checks that the model is loaded" in check["reason"]


def test_ml304_passes_with_health_and_model_aware_ready(make_repo: Callable[..., Path]) -> None:
    root = _serve(make_repo, HEALTH + READY_CHECKS_MODEL)
    check = check_of(scan_json(root), "ML304")
    assert check["verdict"] == "pass"
    evidence = {(e["path"], e["line"], e["message"]) for e in check["evidence"]}
    health_line = line_of(root / "serve.py", '@app.get("/health")')
    ready_line = line_of(root / "serve.py", '@app.get("/ready")')
    assert ("serve.py", health_line, "liveness route GET /health") in evidence
    assert ("serve.py", ready_line, "GET /ready checks that the model is loaded") in evidence


def test_ml304_passes_with_dockerfile_healthcheck_and_ready(
    make_repo: Callable[..., Path],
) -> None:
    root = _serve(
        make_repo,
        READY_CHECKS_MODEL,
        Dockerfile="""
            FROM python:3.12-slim
            COPY . /app
            WORKDIR /app
            HEALTHCHECK --interval=30s CMD curl -f http://localhost:8000/ready || exit 1
            CMD ["uvicorn", "serve:app", "--host", "0.0.0.0"]
        """,
    )
    check = check_of(scan_json(root), "ML304")
    assert check["verdict"] == "pass", check
    assert any(
        e["message"] == "Dockerfile HEALTHCHECK" and e["path"] == "Dockerfile" and e["line"] == 4
        for e in check["evidence"]
    )


def test_ml304_kubernetes_probes_are_evidence(make_repo: Callable[..., Path]) -> None:
    manifest = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: scorer
        spec:
          selector:
            matchLabels: {app: scorer}
          template:
            metadata:
              labels: {app: scorer}
            spec:
              containers:
                - name: scorer
                  image: registry.example.com/scorer:1.4.2
                  livenessProbe:
                    tcpSocket: {port: 8000}
                  readinessProbe:
                    httpGet: {path: /ready, port: 8000}
    """
    root = _serve(make_repo, READY_CHECKS_MODEL, **{"k8s/deployment.yaml": manifest})
    check = check_of(scan_json(root), "ML304")
    assert check["verdict"] == "pass"
    assert any(e["path"] == "k8s/deployment.yaml" for e in check["evidence"])


def test_ml304_healthcheck_none_is_not_evidence(make_repo: Callable[..., Path]) -> None:
    root = _serve(
        make_repo,
        READY_CHECKS_MODEL,
        Dockerfile="""
            FROM python:3.12-slim
            HEALTHCHECK NONE
            CMD ["uvicorn", "serve:app"]
        """,
    )
    check = check_of(scan_json(root), "ML304")
    assert check["verdict"] == "partial"
    assert "no liveness route" in check["reason"]


def test_ml304_post_health_route_does_not_count(make_repo: Callable[..., Path]) -> None:
    extra = """
    @app.post("/health")
    def health() -> dict:
        return {"status": "ok"}
    """
    check = check_of(scan_json(_serve(make_repo, extra)), "ML304")
    assert check["verdict"] == "fail"


# -- SERVES and applicability ----------------------------------------------------------------
def test_no_web_app_means_not_applicable(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "train.py": """
            from sklearn.datasets import load_iris
            from sklearn.tree import DecisionTreeClassifier

            X, y = load_iris(return_X_y=True)
            DecisionTreeClassifier(random_state=0).fit(X, y)
        """,
        }
    )
    report = scan_json(root)
    assert report["routes"] == []
    assert trait(report, "SERVES")["present"] is False
    for code in ("ML304", "ML307"):
        check = check_of(report, code)
        assert check["verdict"] == "n/a"
        assert "SERVES" in check["reason"]
        assert check["findings"] == []


def test_app_whose_routes_call_no_model_does_not_serve(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "app.py": """
            import json

            from fastapi import FastAPI

            app = FastAPI()
            TODOS: list[dict] = []


            def load(path: str) -> list:
                with open(path) as handle:
                    return json.load(handle)


            @app.get("/v1/todos")
            def todos() -> list:
                return TODOS + load("seed.json")


            @app.post("/v1/todos")
            def add(item: dict) -> dict:
                TODOS.append(item)
                return item
        """,
        }
    )
    report = scan_json(root)
    assert len(report["routes"]) == 2
    serves = trait(report, "SERVES")
    assert serves["present"] is False
    assert any("calls no model" in e["message"] for e in serves["evidence"])
    for code in ("ML304", "ML307"):
        assert check_of(report, code)["verdict"] == "n/a"
