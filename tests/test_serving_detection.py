"""Serving apps found as a reviewer finds them: models the vocabulary does not name, models
held in dicts, ``app.state`` and class attributes, routes named for prediction, cached
loaders behind readiness, application factories, Flask-RESTX/RESTful resources and
dependency-injected services. Every case runs the installed CLI and reads its JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import check_of, scan_json

Report = dict[str, Any]


def trait(report: Report, name: str) -> dict[str, Any]:
    return next(t for t in report["traits"] if t["name"] == name)


def messages(items: list[dict[str, Any]]) -> str:
    return "\n".join(str(i["message"]) for i in items)


def line_of(path: Path, needle: str) -> int:
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(hits) == 1, f"{needle!r} occurs {len(hits)} times in {path}"
    return hits[0]


def finding_places(report: Report, code: str) -> set[tuple[str, int]]:
    return {(f["path"], f["line"]) for f in check_of(report, code)["findings"]}


# -- SERVES from models the vocabulary does not name -------------------------------------------
def test_booster_and_queue_backed_routes_make_the_repository_serve(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("serving-unknown-model")
    report = scan_json(root)
    serves = trait(report, "SERVES")
    assert serves["present"]
    text = messages(serves["evidence"])
    # BOOSTER comes from xgboost.Booster() in another module: calling it is inference.
    assert "POST /v1/churn -> xgboost.Booster().inplace_predict()" in text
    # The queue-backed route runs no model itself, but it is named for prediction.
    assert "POST /predict: route named for prediction ('predict')" in text
    main = root / "app" / "main.py"
    assert finding_places(report, "ML303") == {("app/main.py", line_of(main, '"/predict"'))}
    assert finding_places(report, "ML406") == {
        ("app/main.py", line_of(main, '"/predict"')),
        ("app/main.py", line_of(main, '"/v1/churn"')),
    }
    assert check_of(report, "ML304")["verdict"] == "fail"


def test_a_web_app_without_ml_code_does_not_serve_even_with_a_score_route(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "app.py": """
                from fastapi import FastAPI

                app = FastAPI()
                SCORES = {}


                @app.post("/score")
                def score(player: str, points: int) -> dict:
                    SCORES[player] = SCORES.get(player, 0) + points
                    return {"total": SCORES[player]}


                @app.get("/login")
                def login() -> dict:
                    return {}
            """,
        }
    )
    report = scan_json(root)
    assert not trait(report, "SERVES")["present"]
    assert check_of(report, "ML303")["verdict"] == "n/a"


def test_strings_encoded_behind_an_injected_service_are_not_inference(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "app/__init__.py": "",
            "app/auth.py": """
                import hashlib


                class AuthService:
                    def login(self, password: str) -> str:
                        return hashlib.sha256(password.encode()).hexdigest()


                def get_auth() -> AuthService:
                    return AuthService()
            """,
            "app/main.py": """
                import joblib
                from fastapi import Depends, FastAPI

                from app.auth import AuthService, get_auth

                app = FastAPI()


                @app.post("/v1/login")
                def login(password: str, service: AuthService = Depends(get_auth)) -> dict:
                    return {"token": service.login(password)}
            """,
        }
    )
    assert not trait(scan_json(root), "SERVES")["present"]


def test_an_injected_service_is_followed_into_its_methods(
    make_repo: Callable[..., Path],
) -> None:
    root = make_repo(
        {
            "app/__init__.py": "",
            "app/service.py": """
                import joblib


                class ScoringService:
                    def score(self, rows: list[list[float]]) -> list[float]:
                        model = joblib.load("model.joblib")
                        return model.predict_proba(rows)[:, 1].tolist()


                def get_service() -> ScoringService:
                    return ScoringService()
            """,
            "app/main.py": """
                from fastapi import Depends, FastAPI
                from pydantic import BaseModel, Field

                from app.service import ScoringService, get_service

                app = FastAPI()


                class Rows(BaseModel):
                    rows: list[list[float]] = Field(max_length=100)


                @app.post("/v1/score")
                def score(body: Rows, service: ScoringService = Depends(get_service)) -> dict:
                    return {"scores": service.score(body.rows)}
            """,
        }
    )
    report = scan_json(root)
    assert "joblib.load().predict_proba() at app/service.py:7" in messages(
        trait(report, "SERVES")["evidence"]
    )
    ml307 = check_of(report, "ML307")
    assert ml307["verdict"] == "fail"
    (finding,) = ml307["findings"]
    assert finding["path"] == "app/service.py"
    assert "POST /v1/score → score() → score() → joblib.load()" in finding["message"]


# -- models held in dicts, app.state, class attributes ------------------------------------------
def test_models_in_holders_are_models_for_every_serving_check(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("model-holders")
    report = scan_json(root)
    text = messages(trait(report, "SERVES")["evidence"])
    assert "POST /v1/sentiment -> request.app.state.sentiment()" in text  # app.state
    assert "POST /v1/entities -> MODELS[]()" in text  # a dict filled in the lifespan hook
    main = root / "app" / "main.py"
    # All four routes predict (the tagger is a class attribute of another module's class),
    # so ML406 judges each; only /v1/sentiment logs its prediction with context.
    assert finding_places(report, "ML406") == {
        ("app/main.py", line_of(main, '"/v1/entities"')),
        ("app/main.py", line_of(main, '"/v1/tags"')),
        ("app/main.py", line_of(main, '"/v1/score"')),
    }
    assert "/v1/sentiment logs prediction" in messages(check_of(report, "ML406")["evidence"])
    assert check_of(report, "ML502")["verdict"] == "pass"
    assert check_of(report, "ML404")["verdict"] == "pass"
    assert check_of(report, "ML303")["evidence"]  # four versioned prediction routes
    assert "all 4 prediction route(s)" in check_of(report, "ML303")["reason"]


def test_non_model_objects_in_app_state_are_not_models(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "app.py": """
                from collections import Counter
                from contextlib import asynccontextmanager

                import joblib
                from fastapi import FastAPI, Request


                @asynccontextmanager
                async def lifespan(app: FastAPI):
                    app.state.hits = Counter()
                    yield


                app = FastAPI(lifespan=lifespan)


                @app.get("/v1/stats")
                def stats(request: Request) -> dict:
                    return dict(request.app.state.hits.most_common(5))
            """,
        }
    )
    assert not trait(scan_json(root), "SERVES")["present"]


# -- ML304: a readiness route that calls the cached loader --------------------------------------
def test_readiness_calling_the_cached_loader_checks_the_model(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("onnx-cached-readiness")
    report = scan_json(root)
    ml304 = check_of(report, "ML304")
    assert ml304["verdict"] == "pass", ml304["reason"]
    text = messages(ml304["evidence"])
    assert "liveness route GET /health/heartbeat" in text
    assert "readiness route GET /health/ready" in text
    assert "GET /health/ready checks that the model is loaded" in text
    assert "app.model.session().run()" in messages(trait(report, "SERVES")["evidence"])
    assert check_of(report, "ML307")["verdict"] == "pass"


def test_readiness_that_ignores_the_model_is_partial(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("onnx-cached-readiness")
    main = root / "app" / "main.py"
    main.write_text(
        main.read_text().replace(
            '    if session() is None:\n        raise HTTPException(status_code=503, detail="model'
            ' not loaded")\n',
            "",
        )
    )
    ml304 = check_of(scan_json(root), "ML304")
    assert ml304["verdict"] == "partial"
    assert ml304["reason"] == "no health route checks that the model is loaded"


# -- ML311: app.run(debug=True) on an app from a factory ----------------------------------------
def test_debug_run_of_a_factory_app_is_found(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("flask-factory-debug")
    report = scan_json(root)
    ml311 = check_of(report, "ML311")
    assert ml311["verdict"] == "fail"
    assert finding_places(report, "ML311") == {("run.py", line_of(root / "run.py", "debug=True"))}
    assert "the debugger" in ml311["findings"][0]["message"]


def test_factory_app_run_without_debug_passes(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("flask-factory-debug")
    run = root / "run.py"
    run.write_text(run.read_text().replace("debug=True", "debug=False"))
    ml311 = check_of(scan_json(root), "ML311")
    assert ml311["verdict"] == "pass"
    assert "app.run() without debug or reload" in messages(ml311["evidence"])


def test_debug_run_called_on_the_factory_directly(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("flask-factory-debug")
    (root / "run.py").write_text(
        "from service import create_app\n\n"
        'if __name__ == "__main__":\n'
        "    create_app().run(debug=True)\n"
    )
    assert finding_places(scan_json(root), "ML311") == {("run.py", 4)}


# -- Flask-RESTX / RESTPlus / RESTful ------------------------------------------------------------
RESTX_FILES = {
    "src/__init__.py": "",
    "src/api/__init__.py": "",
    "src/api/schemas.py": """
        from flask_restx import Namespace


        class Models:
            api = Namespace("models", description="prediction models")
    """,
    "src/api/resources.py": """
        import joblib
        from flask_restx import Resource

        from src.api.schemas import Models

        ns = Models.api
        MODEL = joblib.load("model.joblib")


        @ns.route("/<string:name>/predict")
        class Predict(Resource):
            def post(self, name):
                return {"label": MODEL.predict([[1.0]]).tolist()}
    """,
    "src/api/blueprint.py": """
        from flask import Blueprint
        from flask_restx import Api

        from src.api.resources import ns

        blueprint = Blueprint("api", __name__)
        api = Api(blueprint)
        api.add_namespace(ns, path="/model")
    """,
    "src/app.py": """
        from flask import Flask


        def register(app):
            from src.api.blueprint import blueprint

            app.register_blueprint(blueprint, url_prefix="/api/v1")


        def create_app():
            app = Flask(__name__)
            register(app)
            return app
    """,
}


def test_restx_namespace_routes_get_their_full_path(make_repo: Callable[..., Path]) -> None:
    report = scan_json(make_repo(RESTX_FILES))
    rows = {(r["method"], r["path"], r["handler"]) for r in report["routes"]}
    assert ("POST", "/api/v1/model/<string:name>/predict", "src.api.resources.Predict.post") in rows
    assert trait(report, "SERVES")["present"]
    assert check_of(report, "ML303")["verdict"] == "pass"


def test_flask_restful_add_resource(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "app.py": """
                import joblib
                from flask import Flask
                from flask_restful import Api, Resource

                app = Flask(__name__)
                api = Api(app, prefix="/api")
                MODEL = joblib.load("model.joblib")


                class Predict(Resource):
                    def post(self):
                        return {"label": int(MODEL.predict([[0.0]])[0])}

                    def get(self):
                        return {"model": "ready"}


                api.add_resource(Predict, "/predict", "/v2/predict")
            """,
        }
    )
    report = scan_json(root)
    rows = {(r["method"], r["path"]) for r in report["routes"]}
    assert {("POST", "/api/predict"), ("POST", "/api/v2/predict"), ("GET", "/api/predict")} <= rows
    assert finding_places(report, "ML303") == {("app.py", 18)}


# -- ML307: routes that manage the model load it on purpose --------------------------------------
def test_model_management_routes_are_not_per_request_loads(
    make_repo: Callable[..., Path],
) -> None:
    files = {
        "app.py": """
            import joblib
            from fastapi import FastAPI

            app = FastAPI()
            STATE = {"model": joblib.load("model.joblib")}


            @app.post("/v1/models/{name}/activate")
            def activate(name: str) -> dict:
                STATE["model"] = joblib.load(f"models/{name}.joblib")
                return {"active": name}


            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": float(STATE["model"].predict([[x]])[0])}
        """,
    }
    report = scan_json(make_repo(files))
    ml307 = check_of(report, "ML307")
    assert ml307["verdict"] == "pass"
    assert "POST /v1/models/{name}/activate manages the served model" in messages(ml307["evidence"])
    # The same load in a prediction route is the per-request load ML307 exists for.
    files["app.py"] = files["app.py"].replace(
        '{"y": float(STATE["model"].predict([[x]])[0])}',
        '{"y": float(joblib.load("model.joblib").predict([[x]])[0])}',
    )
    again = scan_json(make_repo(files, name="again"))
    assert check_of(again, "ML307")["verdict"] == "fail"
    assert {f["line"] for f in check_of(again, "ML307")["findings"]} == {16}
