"""Triage must never change a report: parsing only what checks need is an optimisation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlaudit.index.python import extract, parse_python
from mlaudit.index.triage import default_triage, light_facts
from tests.conftest import FIXTURES, run_cli

FIXTURE_NAMES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_report_is_the_same_with_and_without_triage(
    name: str, copy_fixture: Callable[[str], Path]
) -> None:
    root = copy_fixture(name)
    triaged = run_cli("scan", root, "-f", "json", "--no-cache")
    full = run_cli("scan", root, "-f", "json", "--no-cache", env={"MLAUDIT_FULL_PASS": "1"})
    assert triaged.code in (0, 1), triaged.stderr
    assert triaged.stdout == full.stdout
    assert triaged.code == full.code


def test_helper_reached_only_through_a_light_module_is_parsed(
    make_repo: Callable[..., Path],
) -> None:
    """service.py mentions nothing a check looks for, yet sits between handler and loader."""
    root = make_repo(
        {
            "app/__init__.py": "",
            "app/main.py": """
                from fastapi import FastAPI
                from app.service import answer

                app = FastAPI()

                @app.post("/v1/predict")
                def predict(x: float) -> dict:
                    return {"y": answer(x)}
            """,
            "app/service.py": """
                from app.store import fetch

                def answer(x):
                    return fetch().predict([[x]])[0]
            """,
            "app/store.py": """
                import joblib

                def fetch():
                    return joblib.load("model.joblib")
            """,
        }
    )
    triage = default_triage()
    assert not triage.needs_full_pass(
        "app/service.py", (root / "app/service.py").read_text(), is_test=False
    )
    report = run_cli("scan", root, "-f", "json", "--no-cache").json()
    ml307 = next(c for c in report["checks"] if c["code"] == "ML307")
    assert [(f["path"], f["line"]) for f in ml307["findings"]] == [("app/store.py", 4)]
    assert "answer() → fetch()" in ml307["findings"][0]["message"]


SOURCES = [
    "import os\nimport numpy as np, pandas as pd\nimport a.b.c\nimport x.y as z\n",
    "from a import b\nfrom a.b import (c,\n    d as e,\n)\nfrom . import f\nfrom ..g import h\n",
    "from .m import *\ntry:\n    import torch\nexcept ImportError:\n    torch = None\n",
]


@pytest.mark.parametrize("source", SOURCES)
def test_light_imports_match_the_libcst_extractor(source: str) -> None:
    path = "pkg/sub/mod.py"
    full = extract(parse_python(source), path)
    light = light_facts(path, source)
    assert [(i.module, i.name, i.alias) for i in light.imports] == [
        (i.module, i.name, i.alias) for i in full.imports
    ]
    assert light.depth == "light"


def test_triage_triggers() -> None:
    triage = default_triage()
    assert triage.needs_full_pass("t.py", "if __name__ == '__main__':\n    main()\n", False)
    assert triage.needs_full_pass("a.py", "from fastapi import APIRouter\n", False)
    assert triage.needs_full_pass("a.py", "import mlflow\nmlflow.log_metric('a', 1)\n", False)
    assert triage.needs_full_pass("a.py", "from sklearn.svm import SVC\nSVC().fit(X, y)\n", False)
    # "fit" as a word in prose is not a call of .fit
    assert not triage.needs_full_pass("a.py", '"""Make it fit."""\ndef f():\n    pass\n', False)
    # seeds only matter on a path from an entry point: parsed on demand
    seeded = "import torch\ndef f():\n    torch.manual_seed(0)\n"
    assert not triage.needs_full_pass("a.py", seeded, False)
    # safe loads decide ML302's pass (only safe loads) wherever they are
    assert triage.needs_full_pass("a.py", "import spacy\ndef f():\n    spacy.load(p)\n", False)
    # ... but unsafe deserialisation (ML302) and pickle persistence (ML301) matter anywhere
    assert triage.needs_full_pass("a.py", "import joblib\ndef f():\n    joblib.load(p)\n", False)
    assert triage.needs_full_pass("a.py", "m = AutoModel.load(p, trust_remote_code=True)\n", False)
    # a SIGTERM handler anywhere is shutdown handling (ML305); the word "signals" is not
    assert triage.needs_full_pass("a.py", "signal.signal(signal.SIGTERM, stop)\n", False)
    assert not triage.needs_full_pass("a.py", '"""Features from user signals."""\n', False)
    assert triage.needs_full_pass("tests/test_m.py", "def test_m():\n    assert acc >= 0.8\n", True)
    assert not triage.needs_full_pass("tests/test_m.py", "def test_m():\n    assert x == 1\n", True)


@pytest.mark.parametrize(
    ("source", "full"),
    [
        ("import torch\nself.optimizer.step()\n", True),
        ("from transformers import Trainer\nt = Trainer(m)\nt.train()\n", True),
        ("import numpy as np\nx = np.load(p)\n", True),
        ("import numpy as np\nx = mynp.load(p)\n", False),  # not numpy's load
        ("import numpy as np\nmodel.load_state_dict(s)\n", False),
        ("from sklearn.ensemble import RandomForestClassifier as RF\nRF().fit(X, y)\n", True),
        ("import pandas as pd\ndf = pd.read_csv(p)\n", True),
        ("from pandas import read_parquet as rp\ndf = rp(p)\n", True),
        ("import tensorflow as tf\ntf.summary.scalar('a', 1)\n", True),
        ("import wandb\nrun = wandb.init()\nrun.log({'a': 1})\n", True),
    ],
)
def test_triage_spells_patterns_through_the_files_imports(source: str, full: bool) -> None:
    assert default_triage().needs_full_pass("pkg/m.py", source, is_test=False) is full


def test_feature_function_definitions_count_outside_classes_and_functions_only() -> None:
    triage = default_triage()
    method = "class Pipeline:\n    def encode_prompt(self, text):\n        return text\n"
    nested = "def run():\n    def preprocess(x):\n        return x\n    return preprocess\n"
    assert not triage.needs_full_pass("pkg/pipe.py", method, False)
    assert not triage.needs_full_pass("pkg/run.py", nested, False)
    assert triage.needs_full_pass("pkg/f.py", "def build_features(df):\n    return df\n", False)
    guarded = (
        "import sys\nif sys.version_info >= (3, 9):\n    def preprocess(x):\n        return x\n"
    )
    assert triage.needs_full_pass("pkg/g.py", guarded, False)
    # ML107's evaluation hooks are methods: any depth counts
    hook = "class M:\n    def validation_step(self, batch):\n        return batch\n"
    assert triage.needs_full_pass("pkg/m.py", hook, False)


def test_reach_only_vocabularies_keep_the_report(make_repo: Callable[..., Path]) -> None:
    """A method named like feature code and a frame built in a helper: neither file is
    parsed up front, and the report is the one of a full pass."""
    root = make_repo(
        {
            "app.py": """
                import joblib
                from flask import Flask, request

                from batching import to_batch

                app = Flask(__name__)
                model = joblib.load("model.joblib")


                @app.route("/v1/predict", methods=["POST"])
                def predict():
                    payload = request.get_json()
                    return {"y": model.predict(to_batch(payload)).tolist()}
            """,
            "batching.py": """
                import numpy as np


                def to_batch(payload):
                    return np.array(payload)
            """,
            "features/__init__.py": "",
            "text.py": """
                import sys


                class Encoder:
                    def encode_prompt(self, text):
                        return text.lower()


                if sys.version_info >= (3, 9):
                    def preprocess(text):
                        return text.strip()
            """,
            "train.py": """
                from sklearn.linear_model import LogisticRegression


                def main():
                    LogisticRegression().fit([[0.0], [1.0]], [0, 1])


                if __name__ == "__main__":
                    main()
            """,
            "tests/test_app.py": """
                from app import app


                def test_predict():
                    assert app is not None
            """,
        }
    )
    triage = default_triage()
    assert not triage.needs_full_pass("batching.py", (root / "batching.py").read_text(), False)
    triaged = run_cli("scan", root, "-f", "json", "--no-cache")
    full = run_cli("scan", root, "-f", "json", "--no-cache", env={"MLAUDIT_FULL_PASS": "1"})
    assert triaged.stdout == full.stdout
    report = triaged.json()
    ml309 = next(c for c in report["checks"] if c["code"] == "ML309")
    assert [(f["path"], f["line"]) for f in ml309["findings"]] == [("batching.py", 5)]
    ml604 = next(c for c in report["checks"] if c["code"] == "ML604")
    # the guarded module-level function is feature code; the method is not
    assert ml604["reason"] == "none of the 1 feature function(s) is imported by a test"
    places = [(e["path"], e["line"], e["message"]) for e in ml604["evidence"]]
    assert any(p[:2] == ("text.py", 10) and "preprocess" in p[2] for p in places), places


def test_method_inherited_from_a_class_in_a_light_module_is_followed(
    make_repo: Callable[..., Path],
) -> None:
    """``fit`` lives on a base class in a file with nothing a check looks for: the walk
    from the entry point needs that file parsed to find the method and what it calls."""
    root = make_repo(
        {
            "train.py": """
                from sklearn.model_selection import train_test_split

                from model import ProjectModel


                def main(df):
                    train, valid = train_test_split(df, random_state=0)
                    ProjectModel().fit(train, valid)


                if __name__ == "__main__":
                    main(None)
            """,
            "model.py": """
                from titanic import TitanicModel


                class ProjectModel:
                    def __init__(self):
                        self.inner = TitanicModel()

                    def fit(self, train, valid):
                        self.inner.fit(train, valid)
            """,
            "titanic.py": """
                from template import Template


                class TitanicModel(Template):
                    def generate(self):
                        return {"epochs": 3}
            """,
            "template.py": """
                from ludwig.api import LudwigModel


                class Template:
                    def fit(self, train, valid):
                        self.model = LudwigModel(self.generate())
                        self.model.train(training_set=train, validation_set=valid)
            """,
        }
    )
    triage = default_triage()
    assert not triage.needs_full_pass("template.py", (root / "template.py").read_text(), False)
    triaged = run_cli("scan", root, "-f", "json", "--no-cache")
    full = run_cli("scan", root, "-f", "json", "--no-cache", env={"MLAUDIT_FULL_PASS": "1"})
    assert triaged.stdout == full.stdout
    ml107 = next(c for c in triaged.json()["checks"] if c["code"] == "ML107")
    assert ("template.py", 7) in [(e["path"], e["line"]) for e in ml107["evidence"]], ml107
