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
