"""Container (7xx), CI/CD (6xx), deployment (5xx) and monitoring (4xx) checks, through the
real CLI and its JSON report; and the readers behind them (manifests, CI systems, scripts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import check_of, scan_json

Report = dict[str, Any]
MakeRepo = Callable[..., Path]


def line_of(path: Path, needle: str, nth: int = 0) -> int:
    hits = [n for n, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert hits, f"{needle!r} not in {path}"
    return hits[nth]


def locations(check: dict[str, Any]) -> set[tuple[str, int]]:
    return {(f["path"], f["line"]) for f in check["findings"] if not f["suppressed"]}


def evidence_at(check: dict[str, Any]) -> set[tuple[str, int]]:
    return {(e["path"], e["line"]) for e in check["evidence"] if e["path"]}


SERVE = """
    import joblib
    from fastapi import FastAPI

    app = FastAPI()
    MODEL = joblib.load("model.joblib")


    @app.post("/v1/predict")
    def predict(x: float) -> dict:
        return {"y": MODEL.predict([[x]]).tolist()}
"""


# -- ML701 container-runs-as-root -------------------------------------------------------------
def test_ml701_serving_image_without_user_fails_at_final_from(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "serve.py": SERVE,
            "Dockerfile": """
                FROM python:3.12 AS build
                RUN pip wheel -r requirements.txt -w /wheels
                USER 1000

                FROM python:3.12-slim
                COPY --from=build /wheels /wheels
                CMD ["uvicorn", "serve:app"]
            """,
        }
    )
    check = check_of(scan_json(root), "ML701")
    assert check["verdict"] == "fail"
    # The USER of the build stage does not carry over: the final FROM is the finding.
    assert locations(check) == {("Dockerfile", 5)}
    assert "sets no USER" in check["findings"][0]["message"]


def test_ml701_user_root_last_is_the_finding(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Dockerfile": """
                FROM python:3.12-slim
                RUN useradd app
                USER app
                RUN echo hi
                USER root
                CMD ["python", "job.py"]
            """,
        }
    )
    check = check_of(scan_json(root), "ML701")
    assert check["verdict"] == "fail"
    assert locations(check) == {("Dockerfile", 5)}


def test_ml701_non_root_user_passes_through_stage_and_arg(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "docker/Dockerfile": """
                ARG APP_USER=scorer
                FROM python:3.12-slim AS base
                USER ${APP_USER}

                FROM base
                CMD ["python", "job.py"]
            """,
        }
    )
    check = check_of(scan_json(root), "ML701")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {("docker/Dockerfile", 3)}


def test_ml701_lambda_base_image_is_exempt(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Dockerfile": """
                FROM public.ecr.aws/lambda/python:3.12
                COPY handler.py ${LAMBDA_TASK_ROOT}
                CMD ["handler.lambda_handler"]
            """,
        }
    )
    check = check_of(scan_json(root), "ML701")
    assert check["verdict"] == "pass"
    assert "non-root platform user" in check["evidence"][0]["message"]


def test_ml701_suppression_comment_in_dockerfile(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Dockerfile": """
                # mlaudit: ignore[ML701] the batch job needs root to mount volumes
                FROM python:3.12-slim
                CMD ["python", "job.py"]
            """,
        }
    )
    check = check_of(scan_json(root), "ML701")
    assert check["verdict"] == "pass"
    finding = check["findings"][0]
    assert finding["suppressed"] is True
    assert finding["suppression_reason"] == "the batch job needs root to mount volumes"


def test_ml701_not_applicable_without_dockerfile(make_repo: MakeRepo) -> None:
    assert check_of(scan_json(make_repo({"a.py": "x = 1\n"})), "ML701")["verdict"] == "n/a"


# -- ML702 no-container-healthcheck -----------------------------------------------------------
def test_ml702_serving_image_without_healthcheck_fails(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "serve.py": SERVE,
            "Dockerfile": """
                FROM python:3.12-slim
                USER 1000
                CMD ["uvicorn", "serve:app", "--host", "0.0.0.0"]
            """,
        }
    )
    check = check_of(scan_json(root), "ML702")
    assert check["verdict"] == "fail"
    assert locations(check) == {("Dockerfile", 1)}


def test_ml702_healthcheck_none_still_fails(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "serve.py": SERVE,
            "Dockerfile": "FROM python:3.12-slim\nHEALTHCHECK NONE\nCMD uvicorn serve:app\n",
        }
    )
    check = check_of(scan_json(root), "ML702")
    assert check["verdict"] == "fail"
    assert "HEALTHCHECK NONE" in check["findings"][0]["message"]


def test_ml702_kubernetes_probe_covers_the_image(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "serve.py": SERVE,
            "Dockerfile": 'FROM python:3.12-slim\nCMD ["gunicorn", "serve:app"]\n',
            "deploy/all.yaml": """
                apiVersion: v1
                kind: Service
                metadata: {name: scorer}
                ---
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: scorer
                spec:
                  template:
                    spec:
                      containers:
                        - name: scorer
                          image: scorer:1.0
                          readinessProbe:
                            httpGet: {path: /ready, port: 8000}
            """,
        }
    )
    check = check_of(scan_json(root), "ML702")
    assert check["verdict"] == "pass"
    assert ("deploy/all.yaml", 15) in evidence_at(check)


def test_ml702_healthcheck_passes_and_batch_image_is_not_serving(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "serve.py": SERVE,
            "Dockerfile": (
                "FROM python:3.12-slim\nHEALTHCHECK CMD curl -f http://localhost:8000/health\n"
                'CMD ["uvicorn", "serve:app"]\n'
            ),
            "jobs/Dockerfile": 'FROM python:3.12-slim\nCMD ["python", "batch.py"]\n',
        }
    )
    check = check_of(scan_json(root), "ML702")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {("Dockerfile", 2)}


def test_ml702_not_applicable_when_no_image_serves(make_repo: MakeRepo) -> None:
    root = make_repo(
        {"serve.py": SERVE, "Dockerfile": 'FROM python:3.12-slim\nCMD ["python", "job.py"]\n'}
    )
    check = check_of(scan_json(root), "ML702")
    assert check["verdict"] == "n/a"


# -- ML704 no-dockerignore --------------------------------------------------------------------
def test_ml704_git_context_without_dockerignore_fails(make_repo: MakeRepo) -> None:
    root = make_repo(
        {"Dockerfile": "FROM python:3.12-slim\n", "data/train.csv": "a,b\n1,2\n"}, git=True
    )
    check = check_of(scan_json(root), "ML704")
    assert check["verdict"] == "fail"
    assert ".git, data/train.csv" in check["evidence"][0]["message"]
    assert check["location"]["path"] == "Dockerfile"


def test_ml704_dockerignore_that_misses_nested_data_is_partial(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Dockerfile": "FROM python:3.12-slim\n",
            # `*.csv` only matches at the top of the context, as in Docker.
            ".dockerignore": ".git\n*.csv\n",
            "data/train.csv": "a,b\n",
            "top.csv": "a,b\n",
        },
        git=True,
    )
    check = check_of(scan_json(root), "ML704")
    assert check["verdict"] == "partial"
    assert "data/train.csv" in check["evidence"][0]["message"]
    assert "top.csv" not in check["evidence"][0]["message"]


def test_ml704_complete_dockerignore_passes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Dockerfile": "FROM python:3.12-slim\n",
            ".dockerignore": ".git\ndata/\n**/*.joblib\n!keep/**\n",
            "data/train.csv": "a,b\n",
            "models/m/model.joblib": "x",
        },
        git=True,
    )
    check = check_of(scan_json(root), "ML704")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {(".dockerignore", 1)}


def test_ml704_not_applicable_for_a_clean_context(make_repo: MakeRepo) -> None:
    root = make_repo({"svc/Dockerfile": "FROM python:3.12-slim\n", "svc/app.py": "x = 1\n"})
    assert check_of(scan_json(root), "ML704")["verdict"] == "n/a"


# -- CI readers and 6xx ----------------------------------------------------------------------
FIT = """
    from sklearn.linear_model import LogisticRegression

    def train(X, y):
        return LogisticRegression(random_state=0).fit(X, y)
"""


def gha(*runs: str) -> str:
    body = "".join(f"      - run: {r}\n" for r in runs)
    return "on: [push]\njobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps:\n" + body


def test_ml601_fails_without_ci_and_passes_with_gitlab(make_repo: MakeRepo) -> None:
    bare = make_repo({"train.py": FIT}, name="bare")
    assert check_of(scan_json(bare), "ML601")["verdict"] == "fail"
    root = make_repo({"train.py": FIT, ".gitlab-ci.yml": "test:\n  script:\n    - pytest\n"})
    check = check_of(scan_json(root), "ML601")
    assert check["verdict"] == "pass"
    assert (".gitlab-ci.yml", 1) in evidence_at(check)


def test_ml602_pip_install_pytest_is_not_running_tests(make_repo: MakeRepo) -> None:
    root = make_repo({".github/workflows/ci.yml": gha("pip install pytest", "python train.py")})
    check = check_of(scan_json(root), "ML602")
    assert check["verdict"] == "fail"
    assert check["location"]["path"] == ".github/workflows/ci.yml"


def test_ml602_make_test_followed_into_the_makefile(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            ".github/workflows/ci.yml": gha("make check"),
            "Makefile": (
                "PYTHON ?= python\n\ncheck: lint\n\t$(PYTHON) -m pytest -q\n\n"
                "lint:\n\truff check .\n"
            ),
        }
    )
    check = check_of(scan_json(root), "ML602")
    assert check["verdict"] == "pass"
    assert ("Makefile", 4) in evidence_at(check)
    assert "run by CI at .github/workflows/ci.yml:6" in check["evidence"][0]["message"] or any(
        "run by CI at .github/workflows/ci.yml:6" in e["message"] for e in check["evidence"]
    )


def test_ml602_other_ci_systems(make_repo: MakeRepo) -> None:
    cases = {
        "azure-pipelines.yml": "steps:\n  - script: echo hi\n  - bash: |\n      python -m pytest\n",
        ".circleci/config.yml": (
            "version: 2.1\njobs:\n  build:\n    steps:\n      - checkout\n"
            "      - run:\n          name: tests\n          command: pytest -q\n"
        ),
        "bitbucket-pipelines.yml": (
            "pipelines:\n  default:\n    - step:\n        script:\n          - tox -e py312\n"
        ),
        "Jenkinsfile": (
            "pipeline {\n  stages {\n    stage('t') {\n      steps {\n"
            "        sh 'pytest'\n      }\n    }\n  }\n}\n"
        ),
    }
    expected = {
        "azure-pipelines.yml": 4,
        ".circleci/config.yml": 8,
        "bitbucket-pipelines.yml": 5,
        "Jenkinsfile": 5,
    }
    for index, (path, text) in enumerate(cases.items()):
        root = make_repo({path: text}, name=f"ci{index}")
        check = check_of(scan_json(root), "ML602")
        assert check["verdict"] == "pass", (path, check)
        assert (path, expected[path]) in evidence_at(check), (path, check["evidence"])


def test_ml603_make_evaluate_with_threshold_passes_at_the_makefile_line(
    make_repo: MakeRepo,
) -> None:
    root = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ci.yml": gha("make evaluate"),
            "Makefile": (
                "evaluate: train\n\tpython evaluate.py \\\n\t  --threshold 0.85\n\n"
                "train:\n\tpython train.py\n"
            ),
        }
    )
    check = check_of(scan_json(root), "ML603")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {("Makefile", 2)}
    assert "run by CI at .github/workflows/ci.yml:6" in check["evidence"][0]["message"]


def test_ml603_gitlab_include_and_extends(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "train.py": FIT,
            ".gitlab-ci.yml": "include:\n  - local: ci/eval.yml\nstages: [test]\n",
            "ci/eval.yml": (
                ".gate:\n  script:\n    - python evaluate.py --min-f1 0.8\n"
                "eval:\n  extends: .gate\n  stage: test\n"
            ),
        }
    )
    check = check_of(scan_json(root), "ML603")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {("ci/eval.yml", 3)}


def test_ml603_tox_env_and_shell_script_followed(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ci.yml": gha("tox -e gate", "bash scripts/report.sh"),
            "tox.ini": (
                "[tox]\nenvlist = gate\n\n[testenv:gate]\ncommands =\n    python train.py\n"
                "    python evaluate.py --threshold 0.9\n"
            ),
            "scripts/report.sh": "#!/bin/sh\nset -e\npython evaluate.py --out m.json\n",
        }
    )
    check = check_of(scan_json(root), "ML603")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {("tox.ini", 7)}


def test_ml604_feature_functions_tested_untested_and_na(make_repo: MakeRepo) -> None:
    files = {
        "train.py": FIT,
        "src/__init__.py": "",
        "src/features.py": (
            "def add_ratios(df):\n    return df\n\n\ndef add_lags(df):\n    return df\n"
        ),
        "src/model.py": "def build_features(df):\n    return df\n",
    }
    none = make_repo(files, name="none")
    check = check_of(scan_json(none), "ML604")
    assert check["verdict"] == "fail"
    assert ("src/features.py", 1) in evidence_at(check)
    partial = make_repo(
        {**files, "tests/test_features.py": "from src.features import add_ratios\n"},
        name="partial",
    )
    check = check_of(scan_json(partial), "ML604")
    assert check["verdict"] == "partial"
    assert ("src/features.py", 5) in evidence_at(check)  # add_lags untested
    full = make_repo(
        {
            **files,
            "tests/test_features.py": "import src.features\nfrom src.model import build_features\n",
        },
        name="full",
    )
    assert check_of(scan_json(full), "ML604")["verdict"] == "pass"
    na = make_repo({"train.py": FIT}, name="na")
    assert check_of(scan_json(na), "ML604")["verdict"] == "n/a"


def test_ml605_validation_step_and_tests(make_repo: MakeRepo) -> None:
    fails = make_repo(
        {"train.py": FIT, ".github/workflows/ci.yml": gha("pytest", "python train.py")},
        name="fails",
    )
    assert check_of(scan_json(fails), "ML605")["verdict"] == "fail"
    step = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ci.yml": gha("python scripts/validate_data.py data.csv"),
        },
        name="step",
    )
    check = check_of(scan_json(step), "ML605")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {(".github/workflows/ci.yml", 6)}
    tests = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ci.yml": gha("pytest"),
            "tests/test_schema.py": "import pandera as pa\n\nSCHEMA = pa.DataFrameSchema({})\n",
        },
        name="tests",
    )
    check = check_of(scan_json(tests), "ML605")
    assert check["verdict"] == "pass"
    assert ("tests/test_schema.py", 1) in evidence_at(check)


def test_ml606_and_ml607(make_repo: MakeRepo) -> None:
    bare = make_repo({"serve.py": SERVE}, name="bare")
    report = scan_json(bare)
    assert check_of(report, "ML606")["verdict"] == "fail"
    assert check_of(report, "ML606")["location"]["path"] == "serve.py"
    assert check_of(report, "ML607")["verdict"] == "fail"
    root = make_repo(
        {
            "serve.py": SERVE,
            "tests/test_api.py": """
                from fastapi.testclient import TestClient

                from serve import app


                def test_predict():
                    client = TestClient(app)
                    assert client.post("/v1/predict", params={"x": 1}).status_code == 200
            """,
            "Makefile": "load:\n\tk6 run perf/predict.js\n",
        },
        name="good",
    )
    report = scan_json(root)
    ml606 = check_of(report, "ML606")
    assert ml606["verdict"] == "pass"
    assert ("tests/test_api.py", 7) in evidence_at(ml606)
    ml607 = check_of(report, "ML607")
    assert ml607["verdict"] == "pass"
    assert ("Makefile", 2) in evidence_at(ml607)


# -- 4xx monitoring ----------------------------------------------------------------------------
BARE_APP = """
    import joblib
    from fastapi import FastAPI

    from app.service import score

    app = FastAPI()


    @app.post("/v1/predict")
    def predict(x: float) -> dict:
        return {"y": score(x)}
"""

BARE_SERVICE = """
    import joblib

    MODEL = joblib.load("model.joblib")


    def score(x):
        print("scoring a request")
        return MODEL.predict([[x]])[0]
"""

GOOD_SERVICE = """
    import logging
    import time

    import joblib

    from app.metrics import LATENCY, PREDICTIONS

    logger = logging.getLogger(__name__)
    MODEL = joblib.load("model.joblib")
    MODEL_VERSION = "2024-05-01"


    def score(x, request_id):
        started = time.perf_counter()
        y = MODEL.predict([[x]])[0]
        elapsed = time.perf_counter() - started
        LATENCY.observe(elapsed)
        PREDICTIONS.labels(label=str(y), model_version=MODEL_VERSION).inc()
        logger.info(
            "scored", extra={"request_id": request_id, "prediction": y, "latency_ms": elapsed}
        )
        return y
"""

GOOD_APP = """
    from fastapi import FastAPI

    from app.service import score

    app = FastAPI()


    @app.post("/v1/predict")
    def predict(x: float, request_id: str = "") -> dict:
        return {"y": score(x, request_id)}
"""

METRICS = """
    from prometheus_client import Counter, Histogram

    LATENCY = Histogram("predict_latency_seconds", "Latency of /v1/predict")
    PREDICTIONS = Counter("predictions_total", "Predictions by class", ["label", "model_version"])
"""


def test_monitoring_checks_fail_on_a_bare_service(make_repo: MakeRepo) -> None:
    root = make_repo(
        {"app/__init__.py": "", "app/main.py": BARE_APP, "app/service.py": BARE_SERVICE}
    )
    report = scan_json(root)
    for code in ("ML401", "ML403", "ML404", "ML405", "ML502"):
        check = check_of(report, code)
        assert check["verdict"] == "fail", (code, check)
        assert check["location"]["path"] == "app/main.py", code
    ml406 = check_of(report, "ML406")
    assert ml406["verdict"] == "fail", ml406
    assert locations(ml406) == {("app/main.py", line_of(root / "app/main.py", "@app.post"))}
    ml407 = check_of(report, "ML407")
    assert ml407["verdict"] == "fail"
    assert locations(ml407) == {("app/service.py", line_of(root / "app/service.py", "print("))}
    assert "reached from POST /v1/predict" in ml407["findings"][0]["message"]


def test_monitoring_checks_pass_on_an_instrumented_service(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app/__init__.py": "",
            "app/main.py": GOOD_APP,
            "app/service.py": GOOD_SERVICE,
            "app/metrics.py": METRICS,
            "monitoring/drift.py": (
                "from scipy.stats import ks_2samp\n\n\ndef drift(a, b):\n"
                "    return ks_2samp(a, b).pvalue\n"
            ),
            "monitoring/rules.yml": """
                groups:
                  - name: scorer
                    rules:
                      - alert: ScorerErrors
                        expr: rate(errors_total[5m]) > 0.1
            """,
        }
    )
    report = scan_json(root)
    service = root / "app/service.py"
    ml401 = check_of(report, "ML401")
    assert ml401["verdict"] == "pass", ml401
    assert {("app/metrics.py", 3), ("app/metrics.py", 4)} <= evidence_at(ml401)
    assert check_of(report, "ML403")["verdict"] == "pass"
    assert ("monitoring/drift.py", 5) in evidence_at(check_of(report, "ML403"))
    ml404 = check_of(report, "ML404")
    assert ml404["verdict"] == "pass", ml404
    assert ("app/service.py", line_of(service, "PREDICTIONS.labels")) in evidence_at(ml404)
    ml405 = check_of(report, "ML405")
    assert ml405["verdict"] == "pass"
    assert evidence_at(ml405) == {("monitoring/rules.yml", 4)}
    ml406 = check_of(report, "ML406")
    assert ml406["verdict"] == "pass", ml406
    assert ("app/service.py", line_of(service, "logger.info(")) in evidence_at(ml406)
    assert check_of(report, "ML407")["verdict"] == "pass"
    assert check_of(report, "ML502")["verdict"] == "pass"


def test_ml406_handler_logging_nothing_is_a_finding_and_suppressible(
    make_repo: MakeRepo,
) -> None:
    app = """
        import joblib
        from fastapi import FastAPI

        app = FastAPI()
        MODEL = joblib.load("m.joblib")


        @app.post("/v1/predict")
        def predict(x: float) -> dict:
            return {"y": MODEL.predict([[x]]).tolist()}


        @app.post("/v1/explain")  # mlaudit: ignore[ML406] explanations are audited elsewhere
        def explain(x: float) -> dict:
            return {"y": MODEL.predict([[x]]).tolist()}
    """
    root = make_repo({"serve.py": app})
    check = check_of(scan_json(root), "ML406")
    assert check["verdict"] == "fail"
    assert locations(check) == {("serve.py", 8)}
    suppressed = [f for f in check["findings"] if f["suppressed"]]
    assert [(f["line"], f["suppression_reason"]) for f in suppressed] == [
        (13, "explanations are audited elsewhere")
    ]


def test_ml406_print_content_counts_and_is_an_ml407_finding(make_repo: MakeRepo) -> None:
    app = """
        import time

        import joblib
        from fastapi import FastAPI

        app = FastAPI()
        MODEL = joblib.load("m.joblib")


        @app.post("/v1/predict")
        def predict(x: float) -> dict:
            started = time.perf_counter()
            prediction = MODEL.predict([[x]])[0]
            print(f"prediction={prediction} latency={time.perf_counter() - started}")
            return {"y": prediction}
    """
    root = make_repo({"serve.py": app})
    report = scan_json(root)
    ml406 = check_of(report, "ML406")
    assert ml406["verdict"] == "pass", ml406
    assert ml406["evidence"][0]["message"] == "POST /v1/predict logs prediction, latency"
    assert locations(check_of(report, "ML407")) == {("serve.py", 14)}


def test_ml406_prediction_alone_is_partial(make_repo: MakeRepo) -> None:
    app = SERVE.replace(
        'return {"y": MODEL.predict([[x]]).tolist()}',
        'label = MODEL.predict([[x]])[0]\n        logger.info("label=%s", label)\n'
        '        return {"y": label}',
    ).replace(
        "import joblib", "import logging\n\n    import joblib\n\n    logger = logging.getLogger()"
    )
    root = make_repo({"serve.py": app})
    check = check_of(scan_json(root), "ML406")
    assert check["verdict"] == "partial", check
    assert "not request id, model version, latency" in check["evidence"][0]["message"]


def test_ml407_main_block_and_client_script_are_not_serving(make_repo: MakeRepo) -> None:
    app = SERVE + '\n\n    if __name__ == "__main__":\n        print("demo")\n'
    root = make_repo({"serve.py": app, "client.py": "print('calling')\n"})
    check = check_of(scan_json(root), "ML407")
    assert check["verdict"] == "pass", check


def test_ml405_alertmanager_only_is_partial_and_prometheusrule_passes(
    make_repo: MakeRepo,
) -> None:
    routing = make_repo(
        {
            "serve.py": SERVE,
            "alertmanager.yml": "route:\n  receiver: team\nreceivers:\n  - name: team\n",
        },
        name="routing",
    )
    check = check_of(scan_json(routing), "ML405")
    assert check["verdict"] == "partial"
    assert evidence_at(check) == {("alertmanager.yml", 1)}
    crd = make_repo(
        {
            "serve.py": SERVE,
            "k8s/rules.yaml": """
                apiVersion: monitoring.coreos.com/v1
                kind: PrometheusRule
                metadata: {name: scorer}
                spec:
                  groups:
                    - name: scorer
                      rules:
                        - alert: ScorerLatencyHigh  # mlaudit: ignore[ML701] not a finding here
                          expr: histogram_quantile(0.99, rate(latency_bucket[5m])) > 0.5
            """,
        },
        name="crd",
    )
    check = check_of(scan_json(crd), "ML405")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {("k8s/rules.yaml", 8)}


# -- 5xx deployment and the DEPLOYS trait -------------------------------------------------------
DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: scorer
    spec:
      template:
        spec:
          containers:
            - name: scorer
              image: registry.example.com/scorer:1.4.2
"""


def trait(report: Report, name: str) -> dict[str, Any]:
    return next(t for t in report["traits"] if t["name"] == name)


def test_ml501_plain_deployment_fails_and_kserve_canary_passes(make_repo: MakeRepo) -> None:
    plain = make_repo({"k8s/deployment.yaml": DEPLOYMENT}, name="plain")
    report = scan_json(plain)
    assert trait(report, "DEPLOYS")["present"] is True
    assert trait(report, "DEPLOYS")["evidence"][0]["path"] == "k8s/deployment.yaml"
    check = check_of(report, "ML501")
    assert check["verdict"] == "fail"
    assert check["location"]["path"] == "k8s/deployment.yaml"
    kserve = make_repo(
        {
            "deploy/isvc.yaml": """
                apiVersion: serving.kserve.io/v1beta1
                kind: InferenceService
                metadata:
                  name: scorer
                spec:
                  predictor:
                    canaryTrafficPercent: 10
                    sklearn:
                      storageUri: s3://models/scorer/v8
            """
        },
        name="kserve",
    )
    check = check_of(scan_json(kserve), "ML501")
    assert check["verdict"] == "pass"
    assert check["evidence"][0] == {
        "path": "deploy/isvc.yaml",
        "line": 7,
        "message": "KServe canaryTrafficPercent: 10",
    }


def test_ml501_rollout_istio_weights_and_helm_template(make_repo: MakeRepo) -> None:
    rollout = make_repo(
        {
            "k8s/rollout.yaml": """
                apiVersion: argoproj.io/v1alpha1
                kind: Rollout
                metadata: {name: scorer}
                spec:
                  strategy:
                    canary:
                      steps: [{setWeight: 20}, {pause: {duration: 10m}}]
            """
        },
        name="rollout",
    )
    assert evidence_at(check_of(scan_json(rollout), "ML501")) == {("k8s/rollout.yaml", 6)}
    istio = make_repo(
        {
            "k8s/vs.yaml": """
                apiVersion: networking.istio.io/v1beta1
                kind: VirtualService
                metadata: {name: scorer}
                spec:
                  http:
                    - route:
                        - destination: {host: scorer, subset: v1}
                          weight: 90
                        - destination: {host: scorer, subset: v2}
                          weight: 10
            """
        },
        name="istio",
    )
    check = check_of(scan_json(istio), "ML501")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {("k8s/vs.yaml", 8)}
    helm = make_repo(
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: scorer\nversion: 0.1.0\n",
            "chart/templates/isvc.yaml": """
                apiVersion: serving.kserve.io/v1beta1
                kind: InferenceService
                metadata:
                  name: {{ .Release.Name }}
                spec:
                  predictor:
                    {{- if .Values.canary.enabled }}
                    canaryTrafficPercent: {{ .Values.canary.percent }}
                    {{- end }}
                    sklearn:
                      storageUri: {{ .Values.storageUri | quote }}
            """,
        },
        name="helm",
    )
    report = scan_json(helm)
    check = check_of(report, "ML501")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {("chart/templates/isvc.yaml", 8)}
    assert not check_of(report, "ML901")["findings"]


def test_ml501_sagemaker_variants_in_code(make_repo: MakeRepo) -> None:
    code = """
        import boto3

        sm = boto3.client("sagemaker")


        def deploy(name):
            sm.create_endpoint_config(
                EndpointConfigName=name,
                ProductionVariants=[{"VariantName": "a"}, {"VariantName": "b"}],
            )
            sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    """
    root = make_repo({"deploy.py": code})
    report = scan_json(root)
    assert trait(report, "DEPLOYS")["present"] is True
    check = check_of(report, "ML501")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {("deploy.py", 7)}


def test_deploys_trait_compose_alone_does_not_count_but_a_stack_does(
    make_repo: MakeRepo,
) -> None:
    compose = "services:\n  api:\n    image: scorer:1\n"
    plain = make_repo({"docker-compose.yml": compose}, name="plain")
    report = scan_json(plain)
    assert trait(report, "DEPLOYS")["present"] is False
    assert check_of(report, "ML501")["verdict"] == "n/a"
    stack = make_repo(
        {"docker-compose.yml": compose + "    deploy:\n      replicas: 2\n"}, name="stack"
    )
    evidence = trait(scan_json(stack), "DEPLOYS")["evidence"]
    assert (evidence[0]["path"], evidence[0]["line"]) == ("docker-compose.yml", 4)


def test_deploys_trait_from_ci_deploy_steps(make_repo: MakeRepo) -> None:
    root = make_repo({".gitlab-ci.yml": "deploy:\n  script:\n    - helm upgrade --install s ./c\n"})
    evidence = trait(scan_json(root), "DEPLOYS")["evidence"]
    assert (evidence[0]["path"], evidence[0]["line"]) == (".gitlab-ci.yml", 3)


def test_ml502_version_in_response_kwarg_passes(make_repo: MakeRepo) -> None:
    app = """
        import joblib
        from fastapi import FastAPI
        from pydantic import BaseModel

        app = FastAPI()
        MODEL = joblib.load("m.joblib")


        class Answer(BaseModel):
            y: float
            model_version: str


        @app.post("/v1/predict")
        def predict(x: float) -> Answer:
            return Answer(y=MODEL.predict([[x]])[0], model_version="v3")
    """
    root = make_repo({"serve.py": app})
    check = check_of(scan_json(root), "ML502")
    assert check["verdict"] == "pass", check
    assert ("serve.py", 16) in evidence_at(check)


def test_yaml_parse_error_is_ml901_and_scan_goes_on(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "k8s/bad.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: [x\n",
            "Dockerfile": "FROM python:3.12-slim\n",
        }
    )
    report = scan_json(root)
    findings = check_of(report, "ML901")["findings"]
    assert [f["path"] for f in findings] == ["k8s/bad.yaml"]
    assert check_of(report, "ML701")["verdict"] == "fail"


# -- fixtures ----------------------------------------------------------------------------------
MINE = (
    "ML401",
    "ML403",
    "ML404",
    "ML405",
    "ML406",
    "ML407",
    "ML501",
    "ML502",
    "ML601",
    "ML602",
    "ML603",
    "ML604",
    "ML605",
    "ML606",
    "ML607",
    "ML701",
    "ML702",
    "ML704",
)


def test_mlops_good_fixture_passes_every_ops_check(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("mlops-good")
    report = scan_json(root)
    verdicts = {code: check_of(report, code)["verdict"] for code in MINE}
    assert verdicts == dict.fromkeys(MINE, "pass")
    assert check_of(report, "ML304")["verdict"] == "pass"
    assert ("Makefile", line_of(root / "Makefile", "--threshold")) in evidence_at(
        check_of(report, "ML603")
    )
    assert ("k8s/scorer.yaml", line_of(root / "k8s/scorer.yaml", "canary:")) in evidence_at(
        check_of(report, "ML501")
    )
    assert evidence_at(check_of(report, "ML701")) == {
        ("Dockerfile", line_of(root / "Dockerfile", "USER scorer"))
    }
    service = root / "app/service.py"
    assert ("app/service.py", line_of(service, "logger.info(")) in evidence_at(
        check_of(report, "ML406")
    )
    assert not check_of(report, "ML901")["findings"]


def test_mlops_bad_fixture_fails_every_ops_check(copy_fixture: Callable[[str], Path]) -> None:
    root = copy_fixture("mlops-bad")
    report = scan_json(root)
    verdicts = {code: check_of(report, code)["verdict"] for code in MINE}
    expected = dict.fromkeys(MINE, "fail")
    expected["ML601"] = "pass"  # it has CI: the CI it has is what the other checks fail
    assert verdicts == expected
    assert locations(check_of(report, "ML701")) == {("Dockerfile", 1)}
    assert locations(check_of(report, "ML702")) == {("Dockerfile", 1)}
    assert locations(check_of(report, "ML407")) == {
        ("scorer/model.py", line_of(root / "scorer/model.py", "print("))
    }
    assert locations(check_of(report, "ML406")) == {
        ("scorer/api.py", line_of(root / "scorer/api.py", "@app.post"))
    }
    assert evidence_at(check_of(report, "ML603")) == {
        (".gitlab-ci.yml", line_of(root / ".gitlab-ci.yml", "python evaluate.py"))
    }
    assert check_of(report, "ML501")["location"]["path"] == "k8s/deployment.yaml"
    assert check_of(report, "ML704")["location"]["path"] == "Dockerfile"


def test_ml601_fails_on_the_fastapi_bad_fixture(copy_fixture: Callable[[str], Path]) -> None:
    assert check_of(scan_json(copy_fixture("fastapi-bad")), "ML601")["verdict"] == "fail"


def test_ml106_finds_unpinned_installs_in_ci_steps_and_what_they_call(
    make_repo: MakeRepo,
) -> None:
    """The CI half of ML106: steps, and the Makefile target a GitLab job runs."""
    root = make_repo(
        {
            ".github/workflows/ci.yml": gha(
                "python -m pip install --upgrade pip setuptools wheel",
                "pip install -r requirements.txt -e . 'numpy==1.26.4' torch>=2",
                "pip install --index-url https://x.example/simple requests && uv pip install ruff",
                "conda install -c conda-forge -y lightgbm=4.3.0 xgboost",
            ),
            "Makefile": "deps:\n\tpip3 install black\n",
            ".gitlab-ci.yml": "lint:\n  script:\n    - make deps\n",
        }
    )
    ml106 = check_of(scan_json(root), "ML106")
    assert ml106["verdict"] == "fail"
    found = sorted((f["path"], f["line"], f["symbol"]) for f in ml106["findings"])
    assert found == [
        (".github/workflows/ci.yml", 7, "torch"),
        (".github/workflows/ci.yml", 8, "requests"),
        (".github/workflows/ci.yml", 8, "ruff"),
        (".github/workflows/ci.yml", 9, "xgboost"),
        ("Makefile", 2, "black"),
    ]
    makefile = next(f for f in ml106["findings"] if f["path"] == "Makefile")
    assert ".gitlab-ci.yml:3" in makefile["message"]


# -- readers: suppressions and lines in every new kind ----------------------------------------
def test_every_new_kind_records_suppressions() -> None:
    from mlaudit.index.extract import extract_bytes

    directive = "# mlaudit: ignore[ML701] reviewed\n"
    cases = {
        ".gitlab-ci.yml": ("gitlab-ci", directive + "test:\n  script:\n    - pytest\n"),
        "azure-pipelines.yml": ("azure-pipelines", directive + "steps:\n  - script: pytest\n"),
        ".circleci/config.yml": ("circleci", directive + "jobs: {}\n"),
        "bitbucket-pipelines.yml": ("bitbucket", directive + "pipelines: {}\n"),
        "Jenkinsfile": ("jenkinsfile", directive + "sh 'pytest'\n"),
        "k8s/app.yaml": ("yaml", directive + "apiVersion: v1\nkind: Service\n"),
        "docker-compose.yml": ("compose", directive + "services: {}\n"),
        "Makefile": ("makefile", directive + "test:\n\tpytest\n"),
        "tox.ini": ("config", directive + "[testenv]\ncommands = pytest\n"),
        "ci.sh": ("shell", directive + "pytest\n"),
        ".dockerignore": ("dockerignore", directive + ".git\n"),
        "Dockerfile": ("dockerfile", directive + "FROM python:3.12\n"),
    }
    for path, (kind, text) in cases.items():
        facts = extract_bytes(path, kind, text.encode())
        assert [(s.codes, s.line, s.reason) for s in facts.suppressions] == [
            (["ML701"], 1, "reviewed")
        ], path
        assert not facts.errors, (path, facts.errors)


def test_helm_template_keys_keep_their_lines() -> None:
    from mlaudit.index.manifests import parse_yaml_config

    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  template:\n    spec:\n      containers:\n        - name: api\n"
        "          {{- with .Values.probes }}\n          livenessProbe:\n"
        "            {{- toYaml .liveness | nindent 12 }}\n          {{- end }}\n"
    )
    facts, errors = parse_yaml_config(text)
    assert not errors and facts.templated
    doc = facts.documents[0]
    assert doc.kind == "Deployment"
    keys = {k.path: k.line for k in doc.keys}
    assert keys["spec.template.spec.containers[].livenessProbe"] == 11
    assert keys["spec.template.spec.containers[].name"] == 9


def test_ci_step_lines_for_block_scripts_and_continuations(make_repo: MakeRepo) -> None:
    workflow = (
        "on: [push]\njobs:\n  gate:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - name: Gate\n        run: |\n          python train.py\n"
        "          python evaluate.py \\\n            --threshold 0.9\n"
    )
    root = make_repo(
        {".github/workflows/ml.yml": workflow, "train.py": FIT},
    )
    check = check_of(scan_json(root), "ML603")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {(".github/workflows/ml.yml", 9)}


def test_ml704_per_dockerfile_ignore_file_counts(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "Dockerfile": "FROM python:3.12-slim\n",
            "Dockerfile.dockerignore": "data\n",
            "data/train.parquet": "x",
        }
    )
    report = scan_json(root)
    check = check_of(report, "ML704")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {("Dockerfile.dockerignore", 1)}
    assert not check_of(report, "ML901")["findings"]


def test_ml702_compose_healthcheck_counts_unless_disabled(make_repo: MakeRepo) -> None:
    files = {
        "serve.py": SERVE,
        "Dockerfile": 'FROM python:3.12-slim\nCMD ["uvicorn", "serve:app"]\n',
    }
    compose = "services:\n  api:\n    build: .\n    healthcheck:\n      test: [CMD, curl, -f, http://localhost:8000/health]\n"
    ok = make_repo({**files, "compose.yaml": compose}, name="ok")
    check = check_of(scan_json(ok), "ML702")
    assert check["verdict"] == "pass"
    assert evidence_at(check) == {("compose.yaml", 4)}
    off = make_repo(
        {**files, "compose.yaml": "services:\n  api:\n    healthcheck:\n      disable: true\n"},
        name="off",
    )
    assert check_of(scan_json(off), "ML702")["verdict"] == "fail"


def test_ml401_middleware_class_passed_to_add_middleware(make_repo: MakeRepo) -> None:
    app = SERVE.replace(
        "app = FastAPI()",
        "app = FastAPI()\n    app.add_middleware(PrometheusMiddleware)",
    ).replace(
        "import joblib", "import joblib\n    from starlette_exporter import PrometheusMiddleware"
    )
    root = make_repo({"serve.py": app})
    check = check_of(scan_json(root), "ML401")
    assert check["verdict"] == "pass", check
    assert "PrometheusMiddleware" in check["evidence"][0]["message"]


def test_ml604_feature_reporting_helpers_are_not_feature_engineering(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "train.py": FIT,
            "report.py": "def plot_feature_importance(model):\n    return model\n",
        }
    )
    assert check_of(scan_json(root), "ML604")["verdict"] == "n/a"


def test_triage_parses_feature_code_and_test_clients() -> None:
    from mlaudit.index.triage import default_triage

    triage = default_triage()
    # ML604 inventories feature functions: their files need the full pass.
    assert triage.needs_full_pass("pkg/prep.py", "def build_features(df):\n    return df\n", False)
    assert triage.needs_full_pass("pkg/features/ratios.py", "def ratio(a, b):\n    pass\n", False)
    assert not triage.needs_full_pass("pkg/util.py", "def ratio(a, b):\n    pass\n", False)
    # ML606 reads test-client calls in tests.
    assert triage.needs_full_pass("tests/test_api.py", "c = app.test_client()\n", True)
    # Log and print calls only matter on handler paths: parsed on demand, not up front.
    assert not triage.needs_full_pass("pkg/util.py", "import logging\nlogging.info('x')\n", False)


def test_ml603_nox_session_followed(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "train.py": FIT,
            ".github/workflows/ci.yml": gha("nox -s gate"),
            "noxfile.py": """
                import nox


                @nox.session
                def tests(session):
                    session.run("pytest", "-q")


                @nox.session(name="gate")
                def model_gate(session):
                    session.run("python", "evaluate.py", "--threshold", "0.8")
            """,
        }
    )
    report = scan_json(root)
    check = check_of(report, "ML603")
    assert check["verdict"] == "pass", check
    assert evidence_at(check) == {("noxfile.py", 11)}
    assert "run by CI at .github/workflows/ci.yml:6" in check["evidence"][0]["message"]
