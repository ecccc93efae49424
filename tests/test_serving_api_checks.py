"""ML203, ML301-ML303, ML305, ML306, ML308-ML311 through the real CLI and its JSON report:
the FastAPI and Flask fixtures (the checklist's own example among them) and small inline
repositories for the tricky cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import check_of, scan_json

Report = dict[str, Any]


def line_of(path: Path, needle: str) -> int:
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(hits) == 1, f"{needle!r} occurs {len(hits)} times in {path}"
    return hits[0]


def where(report: Report, code: str) -> list[tuple[str, int]]:
    return [(f["path"], f["line"]) for f in check_of(report, code)["findings"]]


def verdict(report: Report, code: str) -> str:
    return str(check_of(report, code)["verdict"])


# -- the checklist's example, on both frameworks ----------------------------------------------
def test_fastapi_bad_reports_each_problem_once_at_its_line(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("fastapi-bad")
    report = scan_json(root)
    routes, batch = root / "app/routes.py", root / "app/batch.py"
    # /v1/predict returns a hard-coded confidence and loads the model per request.
    assert where(report, "ML308") == [("app/routes.py", line_of(routes, "confidence=0.95"))]
    ml308 = check_of(report, "ML308")["findings"][0]["message"]
    assert ml308.startswith("POST /v1/predict returns a constant confidence=0.95")
    assert where(report, "ML307") == [
        ("app/model.py", line_of(root / "app/model.py", "jl.load(MODEL_PATH)"))
    ]
    # The batch route: unversioned, unbounded, fitted per request, blocking in async def.
    assert where(report, "ML303") == [("app/batch.py", line_of(batch, "@batch_router.post"))]
    assert "POST /batch/score" in check_of(report, "ML303")["findings"][0]["message"]
    assert where(report, "ML309") == [("app/batch.py", line_of(batch, "customers: list"))]
    assert where(report, "ML203") == [("app/batch.py", line_of(batch, "fit_transform"))]
    assert where(report, "ML310") == [("app/batch.py", line_of(batch, "MODEL.predict("))]
    assert where(report, "ML311") == [("app/main.py", line_of(root / "app/main.py", "reload=True"))]
    assert where(report, "ML301") == [("train.py", line_of(root / "train.py", "joblib.dump("))]
    ml302 = where(report, "ML302")
    assert ("app/model.py", line_of(root / "app/model.py", "jl.load(MODEL_PATH)")) in ml302
    assert len(ml302) == len(set(ml302)) == 2
    # Typed pydantic bodies are validated; uvicorn.run drains on SIGTERM.
    assert verdict(report, "ML306") == "pass"
    assert verdict(report, "ML305") == "pass"


def test_flask_bad_reports_each_problem_once_at_its_line(
    copy_fixture: Callable[[str], Path],
) -> None:
    root = copy_fixture("flask-bad")
    report = scan_json(root)
    api, app = root / "service/api.py", root / "service/app.py"
    assert where(report, "ML308") == [("service/api.py", line_of(api, '"confidence": 0.95'))]
    assert check_of(report, "ML308")["findings"][0]["message"].startswith(
        "POST /v1/predict returns a constant confidence=0.95"
    )
    assert where(report, "ML307") == [
        ("service/inference.py", line_of(root / "service/inference.py", "= load("))
    ]
    assert where(report, "ML306") == [("service/api.py", line_of(api, "request.get_json()"))]
    assert where(report, "ML311") == [("service/app.py", line_of(app, "debug=True"))]
    assert where(report, "ML305") == [("service/app.py", line_of(app, "debug=True"))]
    assert where(report, "ML302") == [
        ("service/inference.py", line_of(root / "service/inference.py", "= load("))
    ]
    assert "without weights_only=True" in check_of(report, "ML302")["findings"][0]["message"]
    assert where(report, "ML301") == [("train.py", line_of(root / "train.py", "torch.save("))]
    assert verdict(report, "ML303") == "pass"  # /api is replaced by url_prefix="/v1"
    assert verdict(report, "ML309") == "n/a"
    assert verdict(report, "ML310") == "n/a"  # WSGI: sync handlers, no event loop to block


@pytest.mark.parametrize("fixture", ["fastapi-good", "flask-good"])
def test_good_fixtures_pass_every_serving_check(
    copy_fixture: Callable[[str], Path], fixture: str
) -> None:
    report = scan_json(copy_fixture(fixture))
    for code in ("ML203", "ML301", "ML303", "ML305", "ML306", "ML307", "ML308", "ML309"):
        assert verdict(report, code) == "pass", check_of(report, code)
    # fastapi-good offloads from async handlers (pass); flask-good has no event loop (n/a)
    assert verdict(report, "ML310") == ("pass" if fixture == "fastapi-good" else "n/a")
    assert verdict(report, "ML311") == "pass"
    assert verdict(report, "ML302") in ("pass", "n/a")


def test_fastapi_good_offloaded_batch_and_bounded_list(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("fastapi-good")
    report = scan_json(root)
    routes = root / "app/routes.py"
    ml310 = " ".join(e["message"] for e in check_of(report, "ML310")["evidence"])
    assert "POST /v1/segment/batch: inference offloaded to a thread" in ml310
    evidence = check_of(report, "ML309")["evidence"]
    assert {
        "message": "Batch.customers has a maximum length",
        "path": "app/routes.py",
        "line": line_of(routes, "customers: list"),
    }.items() <= evidence[0].items()


# -- inline repositories -----------------------------------------------------------------------
def _fastapi(make_repo: Callable[..., Path], body: str, **more: str) -> Path:
    files = {
        "serve.py": """
            import joblib
            from fastapi import FastAPI
            from pydantic import BaseModel, Field

            model = joblib.load("model.joblib")
            app = FastAPI()
        """
        + body,
        **more,
    }
    return make_repo(files)


PREDICT = """
            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": float(model.predict([[x]])[0])}
"""


def test_ml310_async_handler_blocking_vs_threadpool(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            @app.post("/v1/blocking")
            async def blocking(x: float) -> dict:
                return {"y": float(model.predict([[x]])[0])}

            @app.post("/v1/offloaded")
            async def offloaded(x: float) -> dict:
                y = await asyncio.to_thread(lambda: model.predict([[x]]))
                return {"y": float(y[0])}

            @app.post("/v1/sync")
            def sync(x: float) -> dict:
                return {"y": float(model.predict([[x]])[0])}
        """.replace("import joblib", "import asyncio\nimport joblib"),
    )
    report = scan_json(root)
    lines = [line for _, line in where(report, "ML310")]
    assert lines == [line_of(root / "serve.py", "async def blocking") + 1]
    assert "POST /v1/blocking" in check_of(report, "ML310")["findings"][0]["message"]


def test_ml310_awaited_async_client_is_fine(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            @app.post("/v1/predict")
            async def predict(x: float) -> dict:
                return {"y": await client.predict(x)}
        """,
    )
    report = scan_json(root)
    assert verdict(report, "ML310") in ("pass", "n/a")
    assert where(report, "ML310") == []


def test_ml306_raw_dict_and_request_bodies(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            from typing import Any
            from fastapi import Request

            class Features(BaseModel):
                values: list[float] = Field(max_length=64)

            @app.post("/v1/raw")
            def raw(payload: dict) -> dict:
                return {"y": float(model.predict([payload["values"]])[0])}

            @app.post("/v1/request")
            async def from_request(request: Request) -> dict:
                data = await request.json()
                return {"y": float(model.predict([data["values"]])[0])}

            @app.post("/v1/validated")
            async def validated(request: Request) -> dict:
                data = Features.model_validate(await request.json())
                return {"y": float(model.predict([data.values])[0])}

            @app.post("/v1/typed")
            def typed(features: Features, request: Request) -> dict:
                return {"y": float(model.predict([features.values])[0]), "id": request.url.path}
        """,
    )
    report = scan_json(root)
    serve = root / "serve.py"
    assert where(report, "ML306") == [
        ("serve.py", line_of(serve, "def raw(")),
        ("serve.py", line_of(serve, "data = await request.json()")),
    ]


def test_ml306_flask_marshmallow_schema_validates(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "api.py": """
                import joblib
                from flask import Flask, request
                from schemas import PredictSchema

                app = Flask(__name__)
                model = joblib.load("m.joblib")
                schema = PredictSchema()

                @app.post("/v1/predict")
                def predict():
                    data = schema.load(request.json)
                    return {"label": int(model.predict([data["values"]])[0])}
            """,
            "schemas.py": """
                from marshmallow import Schema, fields

                class PredictSchema(Schema):
                    values = fields.List(fields.Float(), required=True)
            """,
        }
    )
    report = scan_json(root)
    assert verdict(report, "ML306") == "pass"
    assert "schema" in check_of(report, "ML306")["evidence"][0]["message"]


def test_ml308_constant_in_helper_and_zero_placeholder(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            from helpers import respond

            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return respond(int(model.predict([[x]])[0]))

            @app.post("/v1/other")
            def other(x: float) -> dict:
                result = {"label": int(model.predict([[x]])[0]), "score": 0.0}
                result["score"] = float(model.predict_proba([[x]])[0].max())
                return result
        """,
        **{
            "helpers.py": """
                def respond(label):
                    return {"label": label, "probability": 1.0}
            """
        },
    )
    report = scan_json(root)
    assert where(report, "ML308") == [("helpers.py", 2)]
    assert (
        "POST /v1/predict returns a constant probability=1"
        in (check_of(report, "ML308")["findings"][0]["message"])
    )


def test_ml309_conlist_annotated_and_validator_bounds(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            from typing import Annotated
            from pydantic import conlist, field_validator

            class Row(BaseModel):
                values: conlist(float, max_length=16)
                tags: list[str]

            class Batch(BaseModel):
                rows: Annotated[list[Row], Field(max_length=100)]
                ids: list[int]

                @field_validator("ids")
                @classmethod
                def few_ids(cls, ids):
                    if len(ids) > 100:
                        raise ValueError("too many ids")
                    return ids

            @app.post("/v1/batch")
            def batch(body: Batch) -> dict:
                return {"y": model.predict([r.values for r in body.rows]).tolist()}
        """,
    )
    report = scan_json(root)
    # Only Row.tags (reached through Batch.rows) is unbounded.
    assert where(report, "ML309") == [("serve.py", line_of(root / "serve.py", "tags: list[str]"))]


def test_ml203_fit_on_request_data_in_helper(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            from features import prepare

            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": model.predict(prepare([[x]])).tolist()}
        """,
        **{
            "features.py": """
                from sklearn.preprocessing import MinMaxScaler

                def prepare(rows):
                    scaler = MinMaxScaler()
                    scaler.fit(rows)
                    return scaler.transform(rows)
            """
        },
    )
    report = scan_json(root)
    assert where(report, "ML203") == [("features.py", 5)]
    assert "predict() → prepare()" in check_of(report, "ML203")["findings"][0]["message"]


@pytest.mark.parametrize(
    ("code", "reported"),
    [
        ('torch.load("w.pt")', True),
        ('torch.load("w.pt", weights_only=True)', False),
        ('yaml.load(open("c.yaml"))', True),
        ('yaml.load(open("c.yaml"), Loader=yaml.SafeLoader)', False),
        ('yaml.safe_load(open("c.yaml"))', False),
        ('np.load("x.npy", allow_pickle=True)', True),
        ('np.load("x.npy")', False),
        ('pd.read_pickle("frame.pkl")', True),
        ('AutoModel.from_pretrained("org/m", trust_remote_code=True)', True),
        ('AutoModel.from_pretrained("org/m")', False),
    ],
)
def test_ml302_unsafe_and_safe_forms(
    make_repo: Callable[..., Path], code: str, reported: bool
) -> None:
    root = make_repo(
        {
            "load.py": f"""
                import numpy as np
                import pandas as pd
                import torch
                import yaml
                from transformers import AutoModel

                def main():
                    return {code}
            """
        }
    )
    report = scan_json(root)
    assert where(report, "ML302") == ([("load.py", 8)] if reported else [])


def test_ml302_test_code_is_not_a_finding(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {"tests/test_io.py": "import pickle\n\ndef test_x():\n    pickle.loads(b'')\n"}
    )
    assert where(scan_json(root), "ML302") == []


@pytest.mark.parametrize(
    ("train", "verdict_", "lines"),
    [
        ('torch.save(net, "m.pt")', "fail", [5]),
        # Weights saved as a state_dict are not a pickled model: persisted safely, a pass.
        ('torch.save(net.state_dict(), "m.pt")', "pass", []),
        ('torch.save(net, "m.pt")\n    torch.onnx.export(net, x, "m.onnx")', "pass", []),
    ],
)
def test_ml301_whole_model_save_state_dict_and_export(
    make_repo: Callable[..., Path], train: str, verdict_: str, lines: list[int]
) -> None:
    root = make_repo(
        {
            "train.py": f"""
                import torch

                def main(net, x, optimizer):
                    optimizer.step()
                    {train}

                if __name__ == "__main__":
                    main(None, None, None)
            """.replace("\n    torch.onnx", "\n                    torch.onnx")
        }
    )
    report = scan_json(root)
    assert verdict(report, "ML301") == verdict_
    assert [line for _, line in where(report, "ML301")] == lines


def test_ml301_only_loads_reports_the_load(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": float(model.predict([[x]])[0])}
        """,
    )
    report = scan_json(root)
    assert where(report, "ML301") == [("serve.py", 5)]
    assert "read back" in check_of(report, "ML301")["findings"][0]["message"]


def test_ml305_ml311_dockerfile_forms(make_repo: Callable[..., Path]) -> None:
    shell = _fastapi(
        make_repo,
        PREDICT,
        Dockerfile="FROM python:3.12-slim\nCOPY . /app\n"
        "CMD uvicorn serve:app --host 0.0.0.0 --reload\n",
    )
    report = scan_json(shell)
    assert where(report, "ML305") == [("Dockerfile", 3)]
    assert "/bin/sh" in check_of(report, "ML305")["findings"][0]["message"]
    assert where(report, "ML311") == [("Dockerfile", 3)]


@pytest.mark.parametrize(
    "cmd",
    [
        'CMD ["uvicorn", "serve:app", "--host", "0.0.0.0"]',
        "CMD exec gunicorn -k uvicorn.workers.UvicornWorker serve:app",
    ],
)
def test_ml305_exec_form_and_exec_prefix_pass(make_repo: Callable[..., Path], cmd: str) -> None:
    root = _fastapi(make_repo, PREDICT, Dockerfile=f"FROM python:3.12-slim\n{cmd}\n")
    report = scan_json(root)
    assert verdict(report, "ML305") == "pass", check_of(report, "ML305")
    assert verdict(report, "ML311") == "pass"


def test_ml305_sh_c_without_exec_and_procfile_reload(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        PREDICT,
        Dockerfile='FROM python:3.12-slim\nENTRYPOINT ["sh", "-c", "hypercorn serve:app"]\n',
        Procfile="web: uvicorn serve:app --reload\n",
    )
    report = scan_json(root)
    assert where(report, "ML305") == [("Dockerfile", 2)]
    assert where(report, "ML311") == [("Procfile", 1)]


def test_ml305_signal_handler_passes_and_lambda_is_na(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            import signal

            def stop(signum, frame):
                model.close()

            signal.signal(signal.SIGTERM, stop)

            @app.post("/v1/predict")
            def predict(x: float) -> dict:
                return {"y": float(model.predict([[x]])[0])}
        """,
    )
    report = scan_json(root)
    assert verdict(report, "ML305") == "pass"
    assert "signal.signal" in check_of(report, "ML305")["reason"]


# -- Flask specifics ---------------------------------------------------------------------------
FLASK_APP = """
    import joblib
    from flask import Flask, request
    from flask.views import MethodView

    model = joblib.load("m.joblib")
    app = Flask(__name__)


    class PredictView(MethodView):
        def post(self):
            return {"label": int(model.predict([request.json["values"]])[0])}

        def get(self):
            return {"model": "m"}


    app.add_url_rule("/v1/predict", view_func=PredictView.as_view("predict"))
"""


def test_flask_method_view_routes_and_raw_body(make_repo: Callable[..., Path]) -> None:
    root = make_repo({"app.py": FLASK_APP})
    report = scan_json(root)
    rule = line_of(root / "app.py", "add_url_rule")
    assert sorted((r["method"], r["path"], r["handler"], r["line"]) for r in report["routes"]) == [
        ("GET", "/v1/predict", "app.PredictView.get", rule),
        ("POST", "/v1/predict", "app.PredictView.post", rule),
    ]
    assert where(report, "ML306") == [("app.py", line_of(root / "app.py", "request.json"))]


@pytest.mark.parametrize(
    ("files", "verdict_", "where_"),
    [
        (
            {"Dockerfile": 'FROM python:3.12\nCMD ["flask", "--app", "app", "run"]\n'},
            "fail",
            [("Dockerfile", 2)],
        ),
        (
            {"Dockerfile": 'FROM python:3.12\nCMD ["flask", "run", "--host=0.0.0.0"]\n'},
            "fail",
            [("Dockerfile", 2)],
        ),
        ({"gunicorn.conf.py": "bind = '0.0.0.0:8000'\ngraceful_timeout = 30\n"}, "pass", []),
    ],
)
def test_ml305_flask_dev_server_and_gunicorn_config(
    make_repo: Callable[..., Path],
    files: dict[str, str],
    verdict_: str,
    where_: list[tuple[str, int]],
) -> None:
    root = make_repo({"app.py": FLASK_APP, **files})
    report = scan_json(root)
    assert verdict(report, "ML305") == verdict_, check_of(report, "ML305")
    assert where(report, "ML305") == where_


def test_ml311_flask_debug_env_in_dockerfile(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "app.py": FLASK_APP,
            "Dockerfile": "FROM python:3.12\nENV FLASK_DEBUG=1\n"
            'CMD ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]\n',
        }
    )
    report = scan_json(root)
    assert where(report, "ML311") == [("Dockerfile", 2)]
    assert verdict(report, "ML305") == "pass"


# -- precision -------------------------------------------------------------------------------
def test_ml305_only_dockerfiles_that_start_the_server_count(make_repo: Callable[..., Path]) -> None:
    serve_main = (
        PREDICT
        + """
            if __name__ == "__main__":
                uvicorn.run(app, host="0.0.0.0")
    """
    )
    training = _fastapi(
        make_repo,
        PREDICT,
        Dockerfile="FROM python:3.12-slim\nCMD python train.py\n",
        **{"train.py": "print('training')\n"},
    )
    assert where(scan_json(training), "ML305") == []
    serving = make_repo(
        {
            "serve.py": "import uvicorn\n" + _fastapi_text(serve_main),
            "Dockerfile": "FROM python:3.12-slim\nCMD python serve.py\n",
        },
        name="serving",
    )
    assert where(scan_json(serving), "ML305") == [("Dockerfile", 2)]


def _fastapi_text(body: str) -> str:
    import textwrap

    header = """
        import joblib
        from fastapi import FastAPI

        model = joblib.load("model.joblib")
        app = FastAPI()
    """
    return textwrap.dedent(header) + textwrap.dedent(body)


def test_ml301_pickled_results_are_not_models(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "train.py": """
                import pickle

                from sklearn.linear_model import LogisticRegression


                def main(X, y):
                    clf = LogisticRegression().fit(X, y)
                    metrics = {"acc": clf.score(X, y)}
                    with open("metrics.pkl", "wb") as out:
                        pickle.dump(metrics, out)
                    with open("model.pkl", "wb") as out:
                        pickle.dump(clf, out)
            """
        }
    )
    report = scan_json(root)
    assert where(report, "ML301") == [("train.py", line_of(root / "train.py", "dump(clf"))]


def test_ml310_string_encode_is_not_inference(make_repo: Callable[..., Path]) -> None:
    root = _fastapi(
        make_repo,
        """
            from starlette.concurrency import run_in_threadpool

            @app.post("/v1/predict")
            async def predict(text: str) -> dict:
                raw = text.encode("utf-8")
                label = await run_in_threadpool(model.predict, [[len(raw)]])
                return {"label": int(label[0])}
        """,
    )
    report = scan_json(root)
    assert verdict(report, "ML310") == "pass"


@pytest.mark.parametrize(
    ("param", "reported"),
    [
        ("rows: list[list[float]]", True),
        ("rows: conlist(list[float], max_length=64)", False),
        ("rows: list[list[float]] = Body(..., max_length=64)", False),
        ("rows: Annotated[list[list[float]], Body(max_length=64)]", False),
    ],
)
def test_ml309_list_parameters(make_repo: Callable[..., Path], param: str, reported: bool) -> None:
    root = _fastapi(
        make_repo,
        f"""
            from typing import Annotated
            from fastapi import Body
            from pydantic import conlist

            @app.post("/v1/batch")
            def batch({param}) -> dict:
                return {{"y": model.predict(rows).tolist()}}
        """,
    )
    report = scan_json(root)
    expected = [("serve.py", line_of(root / "serve.py", "def batch("))] if reported else []
    assert where(report, "ML309") == expected
    assert verdict(report, "ML309") == ("fail" if reported else "pass")
