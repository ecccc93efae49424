"""The route table and the serving checks on every framework beyond FastAPI and Flask:
BentoML (1.2 classes and runners), Ray Serve, KServe, AWS Lambda, Starlette, Django, aiohttp,
Litestar, Gradio and Streamlit. Each fixture is scanned once through the real CLI; the JSON
report's routes, verdicts and finding lines are compared with the fixture's own text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, check_of, scan_json

Report = dict[str, Any]


def line_of(path: Path, needle: str) -> int:
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(hits) == 1, f"{needle!r} occurs {len(hits)} times in {path}"
    return hits[0]


# fixture -> (routes as (method, path, handler, file, needle on the route line),
#             findings as {code: [(file, needle)]}, verdicts {code: verdict})
CASES: dict[str, tuple[list[tuple[str, str, str, str, str]], dict[str, Any], dict[str, str]]] = {
    "bentoml-bad": (
        [
            ("POST", "/score", "service.FraudScorer.score", "service.py", "@bentoml.api\n"),
            (
                "POST",
                "/v1/explain",
                "service.FraudScorer.explain",
                "service.py",
                '@bentoml.api(route="/v1/explain")',
            ),
        ],
        {
            "ML307": [
                ("service.py", 'model = joblib.load("artifacts'),
                ("service.py", 'return joblib.load("artifacts'),
            ],
            "ML308": [("service.py", '"confidence": 0.9}')],
            "ML303": [("service.py", "@bentoml.api\n")],
            "ML309": [("service.py", "def score(self, transactions")],
            "ML306": [("service.py", "async def explain(self, payload: dict)")],
            "ML310": [("service.py", "model.predict([[payload")],
        },
        {"ML304": "pass", "ML305": "pass"},  # BentoML serves /livez, /readyz and drains
    ),
    "bentoml-good": (
        [
            (
                "POST",
                "/v1/score",
                "service.FraudScorer.score",
                "service.py",
                '@bentoml.api(route="/v1/score")',
            )
        ],
        {},
        {
            "ML307": "pass",
            "ML308": "pass",
            "ML309": "pass",
            "ML306": "pass",
            "ML303": "pass",
            "ML310": "n/a",  # a sync API: no event loop to block
        },
    ),
    "bentoml-runner-bad": (
        [("POST", "/classify", "service.classify", "service.py", "@svc.api(")],
        {
            "ML203": [("service.py", "fit_transform")],
            "ML306": [("service.py", "async def classify(payload: dict)")],
            "ML310": [("service.py", "iris_runner.predict.run(")],
        },
        {"ML307": "pass"},  # the runner is built once, at import
    ),
    "rayserve-bad": (
        [
            (
                "POST",
                "/sentiment",
                "deploy.Sentiment.__call__",
                "deploy.py",
                "@serve.deployment",
            )
        ],
        {
            "ML307": [("deploy.py", 'classifier = pipeline("sentiment-analysis")')],
            "ML308": [("deploy.py", '"score": 0.99')],
            "ML306": [("deploy.py", "await request.json()")],
            "ML303": [("deploy.py", "@serve.deployment")],
        },
        {"ML304": "pass", "ML305": "pass"},
    ),
    "rayserve-good": (
        [
            (
                "POST",
                "/v1/sentiment",
                "deploy.Sentiment.__call__",
                "deploy.py",
                "@serve.deployment",
            )
        ],
        {},
        {"ML307": "pass", "ML306": "pass", "ML310": "pass", "ML308": "pass"},
    ),
    "kserve-bad": (
        [
            (
                "POST",
                "/v1/models/churn:predict",
                "model.ChurnModel.predict",
                "model.py",
                "def predict(",
            )
        ],
        {
            "ML307": [("model.py", "joblib.load(")],
            "ML302": [("model.py", "joblib.load(")],
            "ML308": [("model.py", '"confidence": 0.8')],
            "ML306": [("model.py", "def predict(")],
        },
        {"ML304": "pass", "ML303": "pass"},
    ),
    "kserve-good": (
        [
            (
                "POST",
                "/v1/models/churn:predict",
                "model.ChurnModel.predict",
                "model.py",
                "def predict(",
            )
        ],
        {},
        {"ML307": "pass", "ML306": "pass", "ML308": "pass", "ML309": "pass"},
    ),
    "lambda-bad": (
        [
            (
                "LAMBDA",
                "/handler.lambda_handler",
                "handler.lambda_handler",
                "handler.py",
                "def lambda_handler",
            )
        ],
        {
            "ML307": [("handler.py", "pickle.load(")],
            "ML306": [("handler.py", "def lambda_handler")],
            "ML308": [("handler.py", '"probability": 0.87')],
        },
        {"ML305": "n/a", "ML304": "n/a", "ML303": "n/a"},
    ),
    "lambda-good": (
        [
            (
                "LAMBDA",
                "/handler.lambda_handler",
                "handler.lambda_handler",
                "handler.py",
                "def lambda_handler",
            )
        ],
        {},
        {"ML307": "pass", "ML306": "pass", "ML308": "pass", "ML309": "pass"},
    ),
    "starlette-bad": (
        [
            ("POST", "/api/tag", "app.tag", "app.py", 'Mount("/api"'),
            ("GET", "/health", "app.Health.get", "app.py", 'Route("/health", Health)'),
        ],
        {
            "ML303": [("app.py", 'Mount("/api"')],
            "ML305": [("Dockerfile", "CMD uvicorn")],
            "ML306": [("app.py", "await request.json()")],
            "ML311": [("app.py", "Starlette(debug=True")],
        },
        {"ML304": "partial", "ML307": "pass"},
    ),
    "django-bad": (
        [
            (
                "POST",
                "/scoring/batch/",
                "scoring.views.BatchView.post",
                "scoring/urls.py",
                'path("batch/"',
            ),
            (
                "POST",
                "/scoring/predict/",
                "scoring.views.predict",
                "scoring/urls.py",
                'path("predict/"',
            ),
        ],
        {
            # The class-attribute singleton of BatchView is a cache, not a finding.
            "ML307": [("scoring/views.py", '    model = joblib.load("artifacts')],
            "ML303": [
                ("scoring/urls.py", 'path("predict/"'),
                ("scoring/urls.py", 'path("batch/"'),
            ],
        },
        {"ML304": "fail"},
    ),
    "aiohttp-bad": (
        [
            ("POST", "/embed", "server.embed", "server.py", '@routes.post("/embed")'),
            ("POST", "/v1/similar", "server.similar", "server.py", "add_post("),
        ],
        {
            "ML307": [("server.py", 'model = SentenceTransformer("all')],
            "ML310": [
                ("server.py", 'ENCODER.encode(payload["texts"])'),
                ("server.py", 'model.encode([payload["text"]])'),
            ],
            "ML303": [("server.py", '@routes.post("/embed")')],
        },
        {"ML305": "pass", "ML311": "pass"},  # web.run_app drains on SIGTERM, no debug
    ),
    "litestar-bad": (
        [
            ("GET", "/healthz", "app.healthz", "app.py", '@get("/healthz")'),
            (
                "POST",
                "/prices/estimate",
                "app.PriceController.estimate",
                "app.py",
                '@post("/estimate")',
            ),
        ],
        {
            "ML306": [("app.py", "async def estimate(self, data: dict")],
            "ML308": [("app.py", '"confidence": 0.9')],
            "ML310": [("app.py", "BOOSTER.predict(")],
            "ML303": [("app.py", '@post("/estimate")')],
        },
        {"ML304": "partial", "ML307": "pass"},
    ),
    "gradio-bad": (
        [("POST", "/gradio_api/call/classify", "app.classify", "app.py", "gr.Interface(")],
        {
            "ML307": [("app.py", "classifier = pipeline(")],
            "ML302": [("app.py", "trust_remote_code=True")],
        },
        {"ML305": "n/a", "ML304": "n/a"},
    ),
    "streamlit-bad": (
        [("STREAMLIT", "/", "app", "app.py", '"""Streamlit churn explorer')],
        {"ML307": [("app.py", "joblib.load(")], "ML308": [("app.py", '"confidence": 0.93')]},
        {"ML305": "n/a"},
    ),
    "streamlit-good": (
        [("STREAMLIT", "/", "app", "app.py", '"""Streamlit churn explorer')],
        {},
        {"ML307": "pass"},
    ),
}


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_framework_fixture(copy_fixture: Callable[[str], Path], fixture: str) -> None:
    routes, expected_findings, verdicts = CASES[fixture]
    root = copy_fixture(fixture)
    report = scan_json(root)

    def at(file: str, needle: str) -> int:
        if needle.endswith("\n"):  # a needle that must end its line
            lines = (root / file).read_text().splitlines()
            hits = [n for n, text in enumerate(lines, 1) if text.strip() == needle.strip()]
            assert len(hits) == 1, (needle, hits)
            return hits[0]
        return line_of(root / file, needle)

    assert sorted(
        (r["method"], r["path"], r["handler"], r["file"], r["line"]) for r in report["routes"]
    ) == sorted((m, p, h, f, at(f, n)) for m, p, h, f, n in routes)
    assert next(t for t in report["traits"] if t["name"] == "SERVES")["present"]
    for code, places in expected_findings.items():
        check = check_of(report, code)
        assert check["verdict"] == "fail", (code, check)
        assert sorted((f["path"], f["line"]) for f in check["findings"]) == sorted(
            (file, at(file, needle)) for file, needle in places
        ), code
    for code, expected in verdicts.items():
        assert check_of(report, code)["verdict"] == expected, (code, check_of(report, code))


def test_every_framework_fixture_is_listed() -> None:
    names = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    frameworks = ("bentoml", "rayserve", "kserve", "lambda", "starlette", "django")
    frameworks += ("aiohttp", "litestar", "gradio", "streamlit")
    assert {n for n in names if n.startswith(frameworks)} == set(CASES)


def test_ml307_messages_name_the_route_and_chain(copy_fixture: Callable[[str], Path]) -> None:
    report = scan_json(copy_fixture("bentoml-bad"))
    messages = [f["message"] for f in check_of(report, "ML307")["findings"]]
    assert any(
        m.startswith("POST /v1/explain → explain() → loaded() → joblib.load()") for m in messages
    )
    streamlit = scan_json(copy_fixture("streamlit-bad"))
    message = check_of(streamlit, "ML307")["findings"][0]["message"]
    assert message.startswith("STREAMLIT / → <script app.py> → joblib.load()")


def test_starlette_mount_of_a_routes_list(make_repo: Callable[..., Path]) -> None:
    root = make_repo(
        {
            "app.py": """
                import joblib
                from starlette.applications import Starlette
                from starlette.responses import JSONResponse
                from starlette.routing import Mount, Route

                model = joblib.load("m.joblib")


                async def predict(request):
                    data = await request.json()
                    return JSONResponse({"y": model.predict([data["x"]]).tolist()})


                def ping(request):
                    return JSONResponse({"ok": True})


                api_routes = [
                    Route("/predict", predict, methods=["POST"]),
                    Mount("/admin", routes=[Route("/ping", ping)]),
                ]

                app = Starlette(routes=[Mount("/v2", routes=api_routes), Route("/ping", ping)])
            """
        }
    )
    report = scan_json(root)
    assert sorted((r["method"], r["path"], r["handler"]) for r in report["routes"]) == [
        ("GET", "/ping", "app.ping"),
        ("GET", "/v2/admin/ping", "app.ping"),
        ("POST", "/v2/predict", "app.predict"),
    ]
    assert check_of(report, "ML303")["verdict"] == "pass"
