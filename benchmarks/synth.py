#!/usr/bin/env python3
"""Deterministic generator of synthetic ML repositories for the mlaudit benchmark.

Usage::

    python benchmarks/synth.py OUT_DIR --files 500 [--seed 1234] [--force]

The output looks like a real ML project (training scripts, pandas feature
modules, torch model libraries, FastAPI/Flask serving code, notebooks,
requirements, Dockerfiles, GitHub workflows, tests) with a git history of a
few hundred commits, including a 2 MB CSV that was committed and later
deleted.  Everything is driven by one ``random.Random(seed)`` and git commits
carry fixed names and dates, so the same seed and size give a byte-identical
tree and identical commit hashes.  Pure standard library; needs the ``git``
CLI unless ``--no-git`` is given.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1
DEFAULT_SEED = 1234
PY_SHARE = 0.85
MIN_FILES = 40
CSV_PATH = "data/raw/training_snapshot.csv"
CSV_BYTES = 2 * 1024 * 1024
HISTORY_START = 1_646_125_200  # 2022-03-01 09:00:00 UTC

Lines = list[str]

# --------------------------------------------------------------------------
# Vocabulary.  Lists (never sets) so iteration order is stable across runs.
# --------------------------------------------------------------------------

NOUNS = [
    "customer", "transaction", "session", "product", "order", "user",
    "merchant", "device", "region", "basket", "click", "item", "account",
    "review", "store", "campaign", "invoice", "shipment", "ticket", "query",
    "document", "image", "sensor", "vehicle", "patient", "claim", "loan",
    "policy", "event", "supplier",
]  # fmt: skip
COLS = [
    "amount", "quantity", "duration", "score", "price", "latency", "age",
    "tenure", "balance", "discount", "rating", "distance", "clicks", "views",
    "revenue", "margin", "visits", "errors", "weight", "volume",
]  # fmt: skip
CATS = ["country", "channel", "segment", "category", "device_type", "plan"]
STATS = ["mean", "sum", "std", "max", "min", "median", "count"]
VERBS = [
    "add", "compute", "build", "derive", "make", "encode", "clean",
    "aggregate", "normalize", "extract",
]  # fmt: skip
ARCH_A = [
    "Residual", "Gated", "Temporal", "Sparse", "Deep", "Wide", "Attention",
    "Conv", "Graph", "Tabular", "Hybrid", "Multi", "Cross", "Causal", "Light",
]  # fmt: skip
ARCH_B = [
    "Encoder", "Decoder", "Block", "Head", "Classifier", "Regressor",
    "Embedding", "Net", "Tower", "Mixer", "Projector", "Pooler", "Adapter",
]  # fmt: skip
MODEL_FAMILIES = [
    "vision", "text", "tabular", "graph", "timeseries", "recsys", "audio",
    "ranking", "forecasting", "anomaly", "retrieval", "segmentation",
]  # fmt: skip
ARCHS = [
    "mlp", "resnet", "transformer", "gru", "lstm", "tcn", "unet", "gnn",
    "autoencoder", "mixer", "ensemble", "twotower", "wide_deep", "attention",
]  # fmt: skip
FEATURE_SUFFIXES = [
    "features", "aggregates", "encoders", "transforms", "windows", "ratios",
    "cleaning", "joins", "lags", "text_features", "geo_features",
]  # fmt: skip
UTIL_NAMES = [
    "logging_utils", "io", "config", "timing", "retry", "paths", "metrics",
    "storage", "serialization", "validation", "env", "plotting", "hashing",
    "registry", "cache", "profiling", "s3", "notifications", "dates", "text",
]  # fmt: skip
DATA_NAMES = [
    "loaders", "datasets", "schemas", "splits", "sampling", "ingest",
    "warehouse", "labels", "quality", "augment", "tokenize", "collate",
]  # fmt: skip
TRAIN_NAMES = [
    "trainer", "loops", "callbacks", "schedulers", "hpo", "distillation",
    "early_stopping", "checkpointing", "losses", "optim", "evaluation",
    "calibration", "cross_validation",
]  # fmt: skip
SCRIPT_KINDS = ["train", "evaluate", "export", "batch_predict", "backfill", "tune"]
SUBDIR_WORDS = [
    "core", "legacy", "experimental", "v2", "contrib", "internal", "common",
    "online", "offline", "batch", "streaming", "baseline",
]  # fmt: skip
PROJECTS = ["churnlab", "frauddet", "recsys_core", "demandcast", "visionkit", "riskml"]
SKLEARN_MODELS = [
    ("sklearn.ensemble", "RandomForestClassifier", "n_estimators={n3}"),
    ("sklearn.ensemble", "GradientBoostingClassifier", "learning_rate={lr}"),
    ("sklearn.linear_model", "LogisticRegression", "C={thr}, max_iter=1000"),
    ("sklearn.ensemble", "HistGradientBoostingClassifier", "max_iter={n3}"),
    ("sklearn.ensemble", "ExtraTreesClassifier", "n_estimators={n3}"),
]
AUTHORS = [
    ("Ada Moreau", "ada.moreau@example.com", "+0100"),
    ("Bilal Okafor", "bilal.okafor@example.com", "+0000"),
    ("Chen Wei", "chen.wei@example.com", "+0800"),
    ("Dana Kowalski", "dana.k@example.com", "-0500"),
    ("Emil Sørensen", "emil.sorensen@example.com", "+0200"),
    ("ci-bot", "ci-bot@example.com", "+0000"),
]
DEPS = [
    ("numpy", ["1.24.4", "1.26.4", "1.23.5"]),
    ("pandas", ["2.0.3", "2.1.4", "1.5.3"]),
    ("scikit-learn", ["1.3.2", "1.4.2", "1.2.2"]),
    ("torch", ["2.1.2", "2.2.0", "1.13.1"]),
    ("fastapi", ["0.109.2", "0.104.1", "0.95.2"]),
    ("uvicorn[standard]", ["0.27.0", "0.24.0"]),
    ("pydantic", ["2.5.3", "1.10.13"]),
    ("flask", ["3.0.0", "2.3.3"]),
    ("gunicorn", ["21.2.0"]),
    ("joblib", ["1.3.2"]),
    ("mlflow", ["2.9.2", "2.7.1"]),
    ("pyyaml", ["6.0.1"]),
    ("requests", ["2.31.0"]),
    ("boto3", ["1.34.20"]),
    ("xgboost", ["2.0.3", "1.7.6"]),
    ("lightgbm", ["4.2.0"]),
    ("tqdm", ["4.66.1"]),
    ("matplotlib", ["3.8.2"]),
    ("scipy", ["1.11.4"]),
    ("optuna", ["3.5.0"]),
    ("prometheus-client", ["0.19.0"]),
    ("httpx", ["0.26.0"]),
    ("pyarrow", ["14.0.2"]),
    ("transformers", ["4.36.2"]),
]
DEV_DEPS = ["pytest", "pytest-cov", "ruff", "mypy", "pre-commit", "hypothesis"]


# --------------------------------------------------------------------------
# Generation context
# --------------------------------------------------------------------------


@dataclass
class Ctx:
    """All state of one generation; a single rng makes the output reproducible."""

    rng: random.Random
    pkg: str
    used: set[str] = field(default_factory=set)
    registry: dict[str, list[str]] = field(default_factory=dict)

    def pick(self, seq: list[str]) -> str:
        """Choose one element; a method so call sites stay short."""
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        """Return True with probability ``p`` (drawn from the shared rng)."""
        return self.rng.random() < p

    def fresh(self, base: str) -> str:
        """Return an identifier unused in the current file (avoids redefinitions)."""
        name, i = base, 2
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name

    def vals(self) -> dict[str, Any]:
        """Draw a fresh set of template values so every block differs a bit."""
        r = self.rng
        c1, c2, c3 = r.sample(COLS, 3)
        noun = r.choice(NOUNS)
        return {
            "c1": c1,
            "c2": c2,
            "c3": c3,
            "cat": r.choice(CATS),
            "noun": noun,
            "Noun": camel(noun),
            "key": f"{r.choice(NOUNS)}_id",
            "stat": r.choice(STATS),
            "w": r.choice([3, 7, 14, 28, 30, 90]),
            "thr": round(r.uniform(0.05, 5.0), 2),
            "n": r.randint(2, 12),
            "n3": r.choice([100, 200, 300, 500, 800]),
            "bins": r.choice([5, 10, 20]),
            "lr": r.choice([0.1, 0.05, 0.01, 0.003, 0.001, 0.0003]),
            "hid": r.choice([64, 128, 256, 512, 768, 1024]),
            "drop": r.choice([0.0, 0.1, 0.2, 0.3]),
            "seed": r.choice([0, 7, 42, 1234, 2024]),
            "heads": r.choice([2, 4, 8, 12]),
            "pkg": self.pkg,
        }


def camel(snake: str) -> str:
    """Turn ``foo_bar`` into ``FooBar`` for class names."""
    return "".join(part.capitalize() for part in snake.split("_"))


def render(c: Ctx, tpl: str, indent: int = 0, **kw: Any) -> Lines:
    """Fill a template with random values (plus overrides) and split into lines."""
    vals = c.vals()
    vals.update(kw)
    pad = " " * indent
    return [pad + ln if ln else ln for ln in tpl.format(**vals).split("\n")]


def join_blocks(blocks: list[Lines], sep: int = 2) -> Lines:
    """Join top-level blocks with PEP 8 blank lines."""
    out: Lines = []
    for block in blocks:
        if out:
            out.extend([""] * sep)
        out.extend(block)
    return out


def fill(c: Ctx, builders: list[Callable[[Ctx], Lines]], target: int) -> list[Lines]:
    """Append random blocks until roughly ``target`` lines; gives the size spread."""
    blocks: list[Lines] = []
    total = 0
    while total < target:
        block = c.rng.choice(builders)(c)
        blocks.append(block)
        total += len(block) + 2
    return blocks


def module(doc: str, imports: Lines, body: list[Lines], future: bool = True) -> str:
    """Assemble a Python module: docstring, imports, then body blocks."""
    head: Lines = [f'"""{doc}"""', ""]
    if future:
        head += ["from __future__ import annotations", ""]
    head += imports
    return "\n".join(join_blocks([head, *body])) + "\n"


def register(c: Ctx, modpath: str, name: str) -> None:
    """Remember public names so tests and __init__ files can import them."""
    c.registry.setdefault(modpath, []).append(name)


# --------------------------------------------------------------------------
# Feature modules (pandas)
# --------------------------------------------------------------------------

PD_STMTS = [
    'out["{c1}"] = out["{c1}"].fillna(out["{c1}"].median())',
    'out["{c1}_log"] = np.log1p(out["{c1}"].clip(lower=0))',
    'out["{c1}_z"] = (out["{c1}"] - out["{c1}"].mean()) / (out["{c1}"].std() + 1e-9)',
    'out["{c1}_bucket"] = pd.cut(out["{c1}"], bins={bins}, labels=False)',
    'out["{key}_{c1}_{stat}"] = out.groupby("{key}")["{c1}"].transform("{stat}")',
    'out["{c1}_per_{c2}"] = out["{c1}"] / out["{c2}"].replace(0, np.nan)',
    'out = out[out["{c1}"].notna()]',
    'out["{c1}"] = out["{c1}"].astype("float32")',
    'lo, hi = out["{c1}"].quantile([0.01, 0.99])\nout["{c1}_clipped"] = out["{c1}"].clip(lo, hi)',
    'out["is_high_{c1}"] = (out["{c1}"] > {thr}).astype("int8")',
    'out["{c1}_roll_{w}"] = (\n    out.sort_values("event_time")\n'
    '    .groupby("{key}")["{c1}"]\n'
    "    .transform(lambda s: s.rolling({w}, min_periods=1).{stat}())\n)",
    'if "{c1}" not in out.columns:\n    raise KeyError("missing required column: {c1}")',
    'logger.debug("computed {c1} features for %d rows", len(out))',
    'out["{c1}_lag_{w}"] = out.groupby("{key}")["{c1}"].shift({w})',
    'out["{c1}_diff"] = out.groupby("{key}")["{c1}"].diff().fillna(0.0)',
    'out["{c1}_rank"] = out.groupby("{key}")["{c1}"].rank(pct=True)',
    'counts = out["{key}"].value_counts()\n'
    'out["{key}_freq"] = out["{key}"].map(counts).fillna(0).astype(int)',
    'out["event_time"] = pd.to_datetime(out["event_time"], utc=True)\n'
    'out["hour"] = out["event_time"].dt.hour\n'
    'out["dayofweek"] = out["event_time"].dt.dayofweek',
    "out = out.merge(\n"
    '    out.groupby("{key}", as_index=False)["{c2}"]\n'
    "    .{stat}()\n"
    '    .rename(columns={{"{c2}": "{c2}_{stat}_by_{key}"}}),\n'
    '    on="{key}",\n    how="left",\n)',
    'out["{c1}_x_{c2}"] = out["{c1}"] * out["{c2}"]',
    'out["{c1}_missing"] = out["{c1}"].isna().astype("int8")',
    'dummies = pd.get_dummies(out["{cat}"], prefix="{cat}", dtype="int8")\n'
    'out = pd.concat([out.drop(columns=["{cat}"]), dummies], axis=1)',
    'out["{c1}"] = np.where(out["{c1}"] < 0, 0.0, out["{c1}"])',
    'out["{cat}"] = out["{cat}"].astype("category")',
    'for col in ("{c1}", "{c2}", "{c3}"):\n    out[f"{{col}}_sq"] = out[col] ** 2',
]


def pd_body(c: Ctx, lo: int, hi: int) -> Lines:
    """A run of pandas statements operating on ``out`` (indented for a def)."""
    lines: Lines = []
    for _ in range(c.rng.randint(lo, hi)):
        lines += render(c, c.rng.choice(PD_STMTS), indent=4)
    return lines


def blk_feature_fn(c: Ctx, modpath: str = "") -> Lines:
    """A feature function: copy, transform, return -- the typical shape."""
    v = c.vals()
    name = c.fresh(f"{c.pick(VERBS)}_{v['noun']}_{v['c1']}_features")
    if modpath:
        register(c, modpath, name)
    arg = c.pick(["", ", window: int = {w}".format(**v), ", strict: bool = False"])
    doc = "Compute {stat} and related features of {c1} per {key}.".format(**v)
    head = [
        f"def {name}(df: pd.DataFrame{arg}) -> pd.DataFrame:",
        f'    """{doc}',
        "",
        "    Returns a new frame; the input is never mutated.",
        '    """',
        "    out = df.copy()",
    ]
    return head + pd_body(c, 3, 14) + ["    return out"]


FEATURE_CLASS = '''class {Cls}(BaseEstimator, TransformerMixin):
    """Standardise numeric {noun} columns and clip outliers at +/-{thr} sigma."""

    def __init__(self, columns: list[str] | None = None, clip: float = {thr}) -> None:
        self.columns = columns
        self.clip = clip

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> "{Cls}":
        cols = self.columns or list(X.select_dtypes("number").columns)
        self.stats_ = X[cols].agg(["mean", "std"]).to_dict()
        self.columns_ = cols
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        for col in self.columns_:
            mean = self.stats_[col]["mean"]
            std = self.stats_[col]["std"] or 1.0
            out[col] = ((out[col] - mean) / std).clip(-self.clip, self.clip)
        return out

    def get_feature_names_out(self, input_features=None) -> list[str]:
        return list(self.columns_)'''


def blk_feature_class(c: Ctx) -> Lines:
    """A scikit-learn style transformer class."""
    v = c.vals()
    cls = c.fresh(f"{v['Noun']}{camel(v['c1'])}Scaler")
    return render(c, FEATURE_CLASS, Cls=cls, noun=v["noun"])


def blk_feature_const(c: Ctx) -> Lines:
    """A module-level list of feature column names."""
    name = c.fresh(f"{c.pick(NOUNS).upper()}_FEATURE_COLUMNS")
    cols = c.rng.sample(COLS, c.rng.randint(4, 12))
    return [f"{name} = ["] + [f'    "{col}",' for col in cols] + ["]"]


def blk_feature_pipeline(c: Ctx) -> Lines:
    """A function chaining several transformations with ``.pipe``."""
    v = c.vals()
    name = c.fresh(f"build_{v['noun']}_feature_frame")
    steps = [
        f"    .pipe({c.pick(VERBS)}_{c.pick(NOUNS)}_{c.pick(COLS)}_features)"
        for _ in range(c.rng.randint(2, 6))
    ]
    return (
        [
            f"def {name}(raw: pd.DataFrame) -> pd.DataFrame:",
            '    """Full feature pipeline used by both training and serving."""',
            "    frame = (",
            "        raw",
        ]
        + ["    " + s for s in steps]
        + ["    )", f'    logger.info("built %d {v["noun"]} features", frame.shape[1])']
        + ["    return frame"]
    )


def gen_feature(c: Ctx, modpath: str, target: int) -> str:
    """A pandas feature-engineering module."""
    imports = [
        "import logging",
        "",
        "import numpy as np",
        "import pandas as pd",
        "from sklearn.base import BaseEstimator, TransformerMixin",
        "",
        "logger = logging.getLogger(__name__)",
    ]
    builders = [
        lambda k: blk_feature_fn(k, modpath),
        lambda k: blk_feature_fn(k, modpath),
        lambda k: blk_feature_fn(k, modpath),
        blk_feature_class,
        blk_feature_const,
        blk_feature_pipeline,
    ]
    doc = f"Feature engineering for {c.pick(NOUNS)} level signals."
    return module(doc, imports, fill(c, builders, target - 12))


# --------------------------------------------------------------------------
# Model library (torch)
# --------------------------------------------------------------------------

LAYERS = [
    "self.input_proj = nn.Linear(in_dim, hidden_dim)",
    "self.norm = nn.LayerNorm(hidden_dim)",
    "self.dropout = nn.Dropout(dropout)",
    "self.act = nn.{act}()",
    "self.layers = nn.ModuleList(\n"
    "    [nn.Linear(hidden_dim, hidden_dim) for _ in range(num_layers)]\n)",
    "self.conv = nn.Conv1d(hidden_dim, hidden_dim, kernel_size=3, padding=1)",
    "self.attn = nn.MultiheadAttention(hidden_dim, num_heads={heads}, batch_first=True)",
    "self.gate = nn.Sequential(\n    nn.Linear(hidden_dim, hidden_dim),\n    nn.Sigmoid(),\n)",
    "self.head = nn.Linear(hidden_dim, {n})",
    "self.embedding = nn.Embedding({n3}, hidden_dim, padding_idx=0)",
    'self.register_buffer("scale", torch.tensor(math.sqrt(hidden_dim)))',
    "self.pool = nn.AdaptiveAvgPool1d(1)",
    "self.bn = nn.BatchNorm1d(hidden_dim)",
]
FORWARD = [
    "x = self.input_proj(x)",
    "x = self.norm(x)",
    "x = self.act(x)",
    "x = self.dropout(x)",
    "for layer in self.layers:\n    x = x + self.dropout(self.act(layer(x)))",
    "h, _ = self.attn(x, x, x, key_padding_mask=mask)\nx = x + h",
    "x = x * self.gate(x)",
    "x = self.conv(x.transpose(1, 2)).transpose(1, 2)",
    "if mask is not None:\n    x = x.masked_fill(mask.unsqueeze(-1), 0.0)",
    "x = F.normalize(x, dim=-1)",
    "x = torch.clamp(x, min=-{thr}, max={thr})",
    "residual = x\nx = self.norm(x + residual)",
    "x = x / self.scale",
    "if self.training:\n    x = x + torch.randn_like(x) * {drop}",
]
EXTRA_METHODS = [
    '''def reset_parameters(self) -> None:
    """Re-initialise weights (used when fine-tuning from scratch)."""
    for module in self.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)''',
    '''def num_parameters(self, trainable_only: bool = True) -> int:
    """Count parameters, optionally only trainable ones."""
    params = self.parameters()
    if trainable_only:
        return sum(p.numel() for p in params if p.requires_grad)
    return sum(p.numel() for p in params)''',
    '''def freeze_backbone(self) -> None:
    """Freeze everything except the head for linear probing."""
    for name, param in self.named_parameters():
        param.requires_grad = name.startswith("head")''',
    '''@classmethod
def from_config(cls, config: dict) -> "{Cls}":
    """Build the module from a plain config dict (e.g. parsed YAML)."""
    return cls(
        in_dim=config["in_dim"],
        hidden_dim=config.get("hidden_dim", {hid}),
        num_layers=config.get("num_layers", {n}),
        dropout=config.get("dropout", {drop}),
    )''',
    '''def extra_repr(self) -> str:
    return f"in_dim={{self.in_dim}}, hidden_dim={{self.hidden_dim}}"''',
    '''@torch.no_grad()
def predict(self, x: torch.Tensor) -> torch.Tensor:
    """Inference helper returning probabilities."""
    self.eval()
    logits = self.forward(x)
    return torch.softmax(logits, dim=-1)''',
    """def _init_embeddings(self, std: float = {thr}) -> None:
    for module in self.modules():
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)""",
]


def blk_torch_module(c: Ctx, modpath: str = "") -> Lines:
    """An ``nn.Module`` subclass with __init__, forward and helpers."""
    cls = c.fresh(c.pick(ARCH_A) + c.pick(ARCH_B))
    if modpath:
        register(c, modpath, cls)
    v = c.vals()
    lines = [
        f"class {cls}(nn.Module):",
        f'    """{c.pick(ARCH_A)} {c.pick(ARCH_B).lower()} for {v["noun"]} data.',
        "",
        "    Args:",
        "        in_dim: size of the input features.",
        "        hidden_dim: width of the hidden representation.",
        "        num_layers: number of stacked blocks.",
        "        dropout: dropout probability applied between blocks.",
        '    """',
        "",
        "    def __init__(",
        "        self,",
        "        in_dim: int,",
        f"        hidden_dim: int = {v['hid']},",
        f"        num_layers: int = {v['n']},",
        f"        dropout: float = {v['drop']},",
        "    ) -> None:",
        "        super().__init__()",
        "        self.in_dim = in_dim",
        "        self.hidden_dim = hidden_dim",
    ]
    for tpl in c.rng.sample(LAYERS, c.rng.randint(3, 9)):
        lines += render(c, tpl, indent=8, act=c.pick(["GELU", "ReLU", "SiLU", "Tanh"]))
    lines += [
        "",
        "    def forward(",
        "        self, x: torch.Tensor, mask: torch.Tensor | None = None",
        "    ) -> torch.Tensor:",
    ]
    for tpl in c.rng.sample(FORWARD, c.rng.randint(3, 10)):
        lines += render(c, tpl, indent=8)
    lines.append("        return self.head(x)" if c.chance(0.5) else "        return x")
    for tpl in c.rng.sample(EXTRA_METHODS, c.rng.randint(0, 4)):
        lines += ["", *render(c, tpl, indent=4, Cls=cls)]
    return lines


MODEL_CONFIG_FIELDS = [
    "in_dim: int = {n3}",
    "hidden_dim: int = {hid}",
    "num_layers: int = {n}",
    "num_heads: int = {heads}",
    "dropout: float = {drop}",
    "learning_rate: float = {lr}",
    "weight_decay: float = 0.01",
    "max_seq_len: int = 512",
    "vocab_size: int = 32000",
    "num_classes: int = {n}",
    "activation: str = 'gelu'",
    "use_layer_norm: bool = True",
    "tie_weights: bool = False",
    "label_smoothing: float = 0.1",
]


def blk_model_config(c: Ctx) -> Lines:
    """A dataclass holding hyper-parameters, as libraries usually have."""
    name = c.fresh(f"{c.pick(ARCH_A)}Config")
    fields = [
        "    " + render(c, f)[0] for f in c.rng.sample(MODEL_CONFIG_FIELDS, c.rng.randint(4, 12))
    ]
    doc = f'    """Hyper-parameters of the {name[:-6].lower()} model family."""'
    return ["@dataclass", f"class {name}:", doc, "", *fields]


MODEL_HELPERS = [
    '''def {fn}(module: nn.Module, std: float = {thr}) -> None:
    """Truncated-normal init; matches the reference implementation."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Conv1d)):
            nn.init.trunc_normal_(sub.weight, std=std)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.LayerNorm):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)''',
    '''def {fn}(x: torch.Tensor, mask: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Mean over ``dim`` ignoring padded positions."""
    mask = mask.unsqueeze(-1).to(x.dtype)
    total = (x * mask).sum(dim=dim)
    count = mask.sum(dim=dim).clamp(min=1.0)
    return total / count''',
    '''def {fn}(seq_len: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Sinusoidal position table of shape (seq_len, dim)."""
    position = torch.arange(seq_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(base) / dim))
    table = torch.zeros(seq_len, dim)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    return table''',
    '''def {fn}(path: str, model: nn.Module, device: str = "cpu") -> nn.Module:
    """Load weights saved by ``save_checkpoint``."""
    state = torch.load(path, map_location=device)
    missing, unexpected = model.load_state_dict(state["model"], strict=False)
    if missing or unexpected:
        logger.warning("missing=%s unexpected=%s", missing, unexpected)
    return model.to(device)''',
    '''def {fn}(model: nn.Module, path: str, **extra: object) -> None:
    """Save model weights together with arbitrary metadata."""
    payload = {{"model": model.state_dict(), **extra}}
    torch.save(payload, path)
    logger.info("saved checkpoint to %s", path)''',
    '''def {fn}(logits: torch.Tensor, target: torch.Tensor, gamma: float = {thr}) -> torch.Tensor:
    """Focal loss for imbalanced {noun} labels."""
    ce = F.cross_entropy(logits, target, reduction="none")
    pt = torch.exp(-ce)
    return ((1 - pt) ** gamma * ce).mean()''',
]
HELPER_NAMES = [
    "init_weights", "masked_mean", "sinusoidal_positions", "load_checkpoint",
    "save_checkpoint", "focal_loss",
]  # fmt: skip


def blk_model_helper(c: Ctx) -> Lines:
    """A functional helper next to the modules."""
    i = c.rng.randrange(len(MODEL_HELPERS))
    return render(c, MODEL_HELPERS[i], fn=c.fresh(HELPER_NAMES[i]))


def gen_model(c: Ctx, modpath: str, target: int) -> str:
    """A long library-style file of torch modules."""
    imports = [
        "import logging",
        "import math",
        "from dataclasses import dataclass",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        "logger = logging.getLogger(__name__)",
    ]
    builders = [
        lambda k: blk_torch_module(k, modpath),
        lambda k: blk_torch_module(k, modpath),
        lambda k: blk_torch_module(k, modpath),
        blk_model_config,
        blk_model_helper,
        blk_model_helper,
    ]
    doc = f"{c.pick(ARCH_A)} {c.pick(ARCHS)} building blocks."
    return module(doc, imports, fill(c, builders, target - 12))


# --------------------------------------------------------------------------
# Training library, data and utils
# --------------------------------------------------------------------------

TRAIN_BLOCKS = [
    '''def {fn}(seed: int = {seed}) -> None:
    """Seed every RNG we use so runs are reproducible."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)''',
    '''def {fn}(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: str = "cpu",
    grad_clip: float = {thr},
) -> float:
    """One epoch of training; returns the mean loss."""
    model.train()
    total, batches = 0.0, 0
    for features, target in loader:
        features, target = features.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(features), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total += loss.item()
        batches += 1
    return total / max(batches, 1)''',
    '''@torch.no_grad()
def {fn}(model: nn.Module, loader: DataLoader, device: str = "cpu") -> dict[str, float]:
    """Evaluate and return loss and accuracy."""
    model.eval()
    losses, correct, seen = [], 0, 0
    for features, target in loader:
        logits = model(features.to(device))
        losses.append(F.cross_entropy(logits, target.to(device)).item())
        correct += (logits.argmax(dim=-1).cpu() == target).sum().item()
        seen += len(target)
    return {{"loss": float(np.mean(losses)), "accuracy": correct / max(seen, 1)}}''',
    '''class {Cls}:
    """Stop training when the monitored metric stops improving."""

    def __init__(self, patience: int = {n}, min_delta: float = 1e-4) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = float("inf")
        self.bad_epochs = 0

    def step(self, value: float) -> bool:
        if value < self.best - self.min_delta:
            self.best = value
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.patience''',
    '''class {Cls}:
    """Minimal trainer wrapping the loop, checkpoints and metric logging."""

    def __init__(self, model: nn.Module, lr: float = {lr}, epochs: int = {n}) -> None:
        self.model = model
        self.epochs = epochs
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=epochs
        )
        self.history: list[dict[str, float]] = []

    def fit(self, train_loader: DataLoader, val_loader: DataLoader) -> None:
        for epoch in range(self.epochs):
            self.model.train()
            for features, target in train_loader:
                self.optimizer.zero_grad()
                loss = F.cross_entropy(self.model(features), target)
                loss.backward()
                self.optimizer.step()
            self.scheduler.step()
            metrics = self.validate(val_loader)
            metrics["epoch"] = epoch
            self.history.append(metrics)
            logger.info("epoch %d: %s", epoch, metrics)

    @torch.no_grad()
    def validate(self, loader: DataLoader) -> dict[str, float]:
        self.model.eval()
        losses = [
            F.cross_entropy(self.model(x), y).item() for x, y in loader
        ]
        return {{"val_loss": float(np.mean(losses))}}

    def save(self, path: str) -> None:
        torch.save(self.model.state_dict(), path)''',
    '''def {fn}(params: dict[str, float], metrics: dict[str, float]) -> None:
    """Log a run to MLflow so experiments are comparable."""
    with mlflow.start_run(run_name="{noun}-{c1}"):
        mlflow.log_params(params)
        for name, value in metrics.items():
            mlflow.log_metric(name, value)
        mlflow.set_tag("team", "{noun}-ml")''',
    '''def {fn}(trial) -> float:
    """Optuna objective over the main hyper-parameters."""
    params = {{
        "lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True),
        "hidden_dim": trial.suggest_categorical("hidden_dim", [64, 128, 256]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "num_layers": trial.suggest_int("num_layers", 1, {n}),
    }}
    scores = []
    for fold in range(5):
        scores.append(_train_fold(params, fold))
    return float(np.mean(scores))''',
    '''def {fn}(
    y_true: np.ndarray, y_prob: np.ndarray, n_bins: int = {bins}
) -> float:
    """Expected calibration error of predicted probabilities."""
    bins = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.digitize(y_prob, bins) - 1
    ece = 0.0
    for b in range(n_bins):
        sel = ids == b
        if sel.any():
            ece += sel.mean() * abs(y_true[sel].mean() - y_prob[sel].mean())
    return float(ece)''',
]
TRAIN_NAMES_FN = [
    "seed_everything", "train_one_epoch", "evaluate", "EarlyStopping", "Trainer",
    "log_run", "objective", "expected_calibration_error",
]  # fmt: skip


def blk_train(c: Ctx, modpath: str = "") -> Lines:
    """A training-library block (loop, trainer, callback, HPO...)."""
    i = c.rng.randrange(len(TRAIN_BLOCKS))
    name = c.fresh(TRAIN_NAMES_FN[i])
    if modpath and not name.startswith("_"):
        register(c, modpath, name)
    return render(c, TRAIN_BLOCKS[i], fn=name, Cls=name)


def gen_trainlib(c: Ctx, modpath: str, target: int) -> str:
    """A module of the package's training library."""
    imports = [
        "import logging",
        "import random",
        "",
        "import mlflow",
        "import numpy as np",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "from torch.utils.data import DataLoader",
        "",
        "logger = logging.getLogger(__name__)",
    ]
    builders = [lambda k: blk_train(k, modpath)]
    doc = "Training utilities shared by the training scripts."
    return module(doc, imports, fill(c, builders, target - 14))


DATA_BLOCKS = [
    '''def {fn}(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a {noun} extract (parquet or csv) with the expected dtypes."""
    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path, columns=columns)
    else:
        frame = pd.read_csv(path, usecols=columns, parse_dates=["event_time"])
    logger.info("loaded %d rows from %s", len(frame), path)
    return frame''',
    '''def {fn}(df: pd.DataFrame) -> list[str]:
    """Return a list of schema violations (empty when the frame is valid)."""
    problems = []
    for col in REQUIRED_COLUMNS:
        if col not in df.columns:
            problems.append(f"missing column {{col}}")
    if df["{c1}"].lt(0).any():
        problems.append("negative {c1}")
    if df.duplicated(subset=["{key}"]).any():
        problems.append("duplicate {key}")
    return problems''',
    '''class {Cls}(Dataset):
    """Torch dataset over a pandas frame of {noun} records."""

    def __init__(self, frame: pd.DataFrame, target: str = "label") -> None:
        self.features = torch.tensor(
            frame.drop(columns=[target]).to_numpy(), dtype=torch.float32
        )
        self.target = torch.tensor(frame[target].to_numpy(), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.target)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[idx], self.target[idx]''',
    '''def {fn}(df: pd.DataFrame, test_size: float = 0.2):
    """Split into train/validation frames."""
    train, valid = train_test_split(df, test_size=test_size{rs})
    return train.reset_index(drop=True), valid.reset_index(drop=True)''',
    '''def {fn}(df: pd.DataFrame, cutoff: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time-based split to avoid leaking the future into training."""
    ts = pd.to_datetime(df["event_time"], utc=True)
    return df[ts < cutoff], df[ts >= cutoff]''',
    '''{NAME} = """
SELECT {key}, {c1}, {c2}, {cat}, event_time, label
FROM analytics.{noun}_events
WHERE event_time >= %(start)s AND event_time < %(end)s
"""''',
    '''def {fn}(df: pd.DataFrame, frac: float = {drop}) -> pd.DataFrame:
    """Downsample the majority class to rebalance labels."""
    pos = df[df["label"] == 1]
    neg = df[df["label"] == 0].sample(frac=max(frac, 0.05))
    return pd.concat([pos, neg]).sort_values("event_time")''',
]
DATA_FN = [
    "load_frame", "validate_schema", "TabularDataset", "split_frame",
    "time_split", "EVENTS_QUERY", "rebalance",
]  # fmt: skip


def blk_data(c: Ctx, modpath: str = "") -> Lines:
    """A data-access block (loader, schema check, dataset, split...)."""
    i = c.rng.randrange(len(DATA_BLOCKS))
    name = c.fresh(DATA_FN[i])
    if modpath and name[0].islower():
        register(c, modpath, name)
    rs = f", random_state={c.rng.choice([0, 42])}" if c.chance(0.6) else ""
    return render(c, DATA_BLOCKS[i], fn=name, Cls=name, NAME=name, rs=rs)


def gen_data(c: Ctx, modpath: str, target: int) -> str:
    """A data loading/validation module."""
    cols = ", ".join(f'"{x}"' for x in c.rng.sample(COLS, 4))
    imports = [
        "import logging",
        "from pathlib import Path",
        "",
        "import pandas as pd",
        "import torch",
        "from sklearn.model_selection import train_test_split",
        "from torch.utils.data import Dataset",
        "",
        "logger = logging.getLogger(__name__)",
        f"REQUIRED_COLUMNS = [{cols}]",
    ]
    doc = f"Data access for {c.pick(NOUNS)} datasets."
    return module(doc, imports, fill(c, [lambda k: blk_data(k, modpath)], target - 14))


UTIL_BLOCKS = [
    '''def {fn}(level: str = "INFO") -> None:
    """Configure root logging once for scripts and services."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )''',
    '''def {fn}(path: str | Path) -> dict:
    """Load a YAML or JSON config file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        return yaml.safe_load(text) or {{}}
    return json.loads(text)''',
    '''@contextmanager
def {fn}(label: str):
    """Log how long a block took."""
    start = time.perf_counter()
    try:
        yield
    finally:
        logger.info("%s took %.3fs", label, time.perf_counter() - start)''',
    '''def {fn}(attempts: int = {n}, delay: float = {thr}):
    """Retry a flaky call (network, object storage) with backoff."""

    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for attempt in range(attempts):
                try:
                    return func(*args, **kwargs)
                except Exception:  # noqa: BLE001
                    if attempt == attempts - 1:
                        raise
                    time.sleep(delay * 2**attempt)

        return wrapper

    return decorator''',
    '''def {fn}(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Regression metrics used in reports."""
    err = y_true - y_pred
    return {{
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "mape": float(np.mean(np.abs(err) / np.maximum(np.abs(y_true), 1e-9))),
    }}''',
    '''def {fn}(obj: object, path: str | Path) -> Path:
    """Persist an artifact with joblib, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(obj, path)
    return path''',
    '''def {fn}(name: str, default: str | None = None) -> str:
    """Read a required setting from the environment."""
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {{name}} is not set")
    return value''',
    '''def {fn}(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, used to version datasets."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()''',
    '''def {fn}(rows: list[dict], path: str | Path) -> None:
    """Write records as JSON lines."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True) + "\\n")''',
]
UTIL_FN = [
    "setup_logging", "load_config", "timed", "retry", "regression_metrics",
    "save_artifact", "require_env", "file_sha256", "write_jsonl",
]  # fmt: skip


def blk_util(c: Ctx, modpath: str = "") -> Lines:
    """A utility block (logging, config, retries, IO...)."""
    i = c.rng.randrange(len(UTIL_BLOCKS))
    name = c.fresh(UTIL_FN[i])
    if modpath:
        register(c, modpath, name)
    return render(c, UTIL_BLOCKS[i], fn=name)


def gen_util(c: Ctx, modpath: str, target: int) -> str:
    """A grab-bag utility module, as every ML repo has."""
    imports = [
        "import functools",
        "import hashlib",
        "import json",
        "import logging",
        "import os",
        "import time",
        "from contextlib import contextmanager",
        "from pathlib import Path",
        "",
        "import joblib",
        "import numpy as np",
        "import yaml",
        "",
        "logger = logging.getLogger(__name__)",
    ]
    doc = "Small helpers shared across the code base."
    return module(doc, imports, fill(c, [lambda k: blk_util(k, modpath)], target - 18))


def gen_settings(c: Ctx) -> str:
    """Package settings; one seed in three hard-codes a (fake) credential."""
    leak = c.chance(0.34)
    lines = [
        '"""Runtime settings read from the environment."""',
        "",
        "import os",
        "from pathlib import Path",
        "",
        'MODEL_DIR = Path(os.environ.get("MODEL_DIR", "models"))',
        'DATA_DIR = Path(os.environ.get("DATA_DIR", "data"))',
        'MLFLOW_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI", "http://localhost:5000")',
        f'RANDOM_SEED = int(os.environ.get("RANDOM_SEED", "{c.vals()["seed"]}"))',
        'FEATURE_STORE_BUCKET = os.environ.get("FEATURE_STORE_BUCKET", "ml-features")',
    ]
    if leak:
        lines += [
            "# TODO: move to the secrets manager before going to prod",
            'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"',
            'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        ]
    else:
        lines += [
            'AWS_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID")',
            'AWS_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY")',
        ]
    return "\n".join(lines) + "\n"


def gen_cli(c: Ctx) -> str:
    """The package's small command-line entry point."""
    return (
        "\n".join(
            [
                '"""Command line entry point: ``python -m PKG.cli train|serve``."""',
                "",
                "import argparse",
                "import sys",
                "",
                "",
                "def main(argv: list[str] | None = None) -> int:",
                f'    parser = argparse.ArgumentParser(prog="{c.pkg}")',
                '    sub = parser.add_subparsers(dest="command", required=True)',
                '    train = sub.add_parser("train")',
                '    train.add_argument("--config", default="configs/train.yaml")',
                '    serve = sub.add_parser("serve")',
                '    serve.add_argument("--port", type=int, default=8000)',
                "    args = parser.parse_args(argv)",
                '    if args.command == "train":',
                f"        from {c.pkg}.training import run_training",
                "",
                "        return run_training(args.config)",
                "    import uvicorn",
                "",
                f'    uvicorn.run("{c.pkg}.serving.app:app", port=args.port)',
                "    return 0",
                "",
                "",
                'if __name__ == "__main__":',
                "    sys.exit(main())",
            ]
        )
        + "\n"
    )


# --------------------------------------------------------------------------
# Serving: FastAPI routers + app, Flask app, schemas
# --------------------------------------------------------------------------

ROUTER_HANDLER = '''@router.{method}("/{route}", response_model={Noun}Response)
{async_}def {fn}(req: {Noun}Request) -> {Noun}Response:
    """Score one {noun}."""
    {load}
    features = np.array([[req.{c1}, req.{c2}, req.{c3}]])
    try:
        score = float(model.predict_proba(features)[0, 1])
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    logger.info("scored {noun} %.4f", score)
    return {Noun}Response(score=score, model_version=MODEL_VERSION)'''
ROUTER_BATCH = '''@router.post("/{route}/batch")
{async_}def {fn}(items: list[{Noun}Request]) -> list[float]:
    """Score a batch of {noun} records in one call."""
    {load}
    features = np.array([[i.{c1}, i.{c2}, i.{c3}] for i in items])
    return model.predict_proba(features)[:, 1].tolist()'''
ROUTER_SCHEMA = """class {Noun}Request(BaseModel):
    {c1}: float = Field(..., ge=0)
    {c2}: float = Field(..., ge=0)
    {c3}: float = 0.0
    {cat}: str | None = None


class {Noun}Response(BaseModel):
    score: float
    model_version: str"""


def load_stmt(c: Ctx, cached: bool) -> str:
    """Per-request model loading (an anti-pattern) or the cached accessor."""
    if cached:
        return "model = get_model()"
    return "model = joblib.load(MODEL_PATH)  # loaded on every request"


def gen_router(c: Ctx, modpath: str, target: int) -> str:
    """A FastAPI router; some handlers reload the model per request."""
    v = c.vals()
    stem = modpath.rsplit(".", 1)[-1].rsplit("_", 1)[-1]
    noun = stem if stem in NOUNS else v["noun"]  # router file named after its resource
    cached_style = c.chance(0.5)
    imports = [
        "import logging",
        "from functools import lru_cache",
        "from pathlib import Path",
        "",
        "import joblib",
        "import numpy as np",
        "from fastapi import APIRouter, HTTPException",
        "from pydantic import BaseModel, Field",
        "",
        "logger = logging.getLogger(__name__)",
        f'router = APIRouter(prefix="/{noun}", tags=["{noun}"])',
        f'MODEL_PATH = Path("models/{noun}_model.joblib")',
        f'MODEL_VERSION = "{c.rng.randint(1, 9)}.{c.rng.randint(0, 20)}.0"',
    ]
    blocks: list[Lines] = [
        render(c, ROUTER_SCHEMA, Noun=camel(noun), c1=v["c1"], c2=v["c2"], c3=v["c3"]),
        [
            "@lru_cache(maxsize=1)",
            "def get_model():",
            '    """Load the model once per worker process."""',
            "    return joblib.load(MODEL_PATH)",
        ],
    ]
    total = 40
    while total < target:
        tpl = ROUTER_HANDLER if c.chance(0.7) else ROUTER_BATCH
        cached = cached_style if c.chance(0.8) else not cached_style
        block = render(
            c,
            tpl,
            method=c.pick(["post", "post", "put"]),
            route=c.fresh(f"predict_{c.pick(COLS)}").replace("_", "-"),
            async_="async " if c.chance(0.4) else "",
            fn=c.fresh(f"predict_{noun}"),
            load=load_stmt(c, cached),
            noun=noun,
            Noun=camel(noun),
            c1=v["c1"],
            c2=v["c2"],
            c3=v["c3"],
        )
        blocks.append(block)
        total += len(block) + 2
    return module(f"HTTP endpoints for {noun} predictions.", imports, blocks)


def gen_fastapi_app(c: Ctx, routers: list[str]) -> str:
    """The FastAPI application wiring all routers together."""
    names = ", ".join(routers)
    imports = [
        "import logging",
        "",
        "from fastapi import FastAPI",
        "",
        f"from {c.pkg}.serving.routers import {names}",
        "",
        "logger = logging.getLogger(__name__)",
        f'app = FastAPI(title="{c.pkg} inference API", version="1.0.0")',
    ]
    body = [[f"app.include_router({r}.router)" for r in routers]]
    body.append(
        [
            '@app.get("/healthz")',
            "def healthz() -> dict[str, str]:",
            '    """Liveness probe used by Kubernetes."""',
            '    return {"status": "ok"}',
        ]
    )
    body.append(
        [
            '@app.on_event("startup")',
            "async def warm_up() -> None:",
            f'    logger.info("service starting with %d routers", {len(routers)})',
        ]
    )
    return module("FastAPI application entry point.", imports, body)


FLASK_ROUTE = '''@app.route("/{route}", methods=["POST"])
def {fn}():
    """Legacy {noun} scoring endpoint."""
    payload = request.get_json(force=True)
    {load}
    features = np.array([[payload["{c1}"], payload["{c2}"]]])
    prediction = model.predict(features)
    return jsonify({{"prediction": prediction.tolist(), "{noun}": payload.get("id")}})'''


def gen_flask_app(c: Ctx, target: int) -> str:
    """A legacy Flask app; most routes load the model per request."""
    imports = [
        "import os",
        "from functools import lru_cache",
        "",
        "import joblib",
        "import numpy as np",
        "from flask import Flask, jsonify, request",
        "",
        "app = Flask(__name__)",
        'MODEL_PATH = os.environ.get("MODEL_PATH", "models/model.joblib")',
    ]
    blocks: list[Lines] = [
        [
            "@lru_cache(maxsize=None)",
            "def get_model():",
            "    return joblib.load(MODEL_PATH)",
        ]
    ]
    total = 20
    while total < target:
        block = render(
            c,
            FLASK_ROUTE,
            route=c.fresh(f"{c.pick(NOUNS)}/score").replace("_", "-"),
            fn=c.fresh(f"score_{c.pick(NOUNS)}"),
            load=load_stmt(c, c.chance(0.3)),
        )
        blocks.append(block)
        total += len(block) + 2
    blocks.append(
        [
            'if __name__ == "__main__":',
            '    app.run(host="0.0.0.0", port=5000, debug=True)',
        ]
    )
    return module("Flask app kept for the legacy batch clients.", imports, blocks, False)


def gen_schemas(c: Ctx, target: int) -> str:
    """Pydantic schemas shared by the serving layer."""
    imports = ["from pydantic import BaseModel, Field"]
    blocks: list[Lines] = []
    total = 8
    while total < target:
        noun = c.fresh(c.pick(NOUNS))
        fields = [
            f"    {col}: float = Field({c.rng.choice(['0.0', '...'])}, ge=0)"
            for col in c.rng.sample(COLS, c.rng.randint(3, 9))
        ]
        block = [f"class {camel(noun)}Features(BaseModel):", *fields]
        blocks.append(block)
        total += len(block) + 2
    return module("Request/response schemas.", imports, blocks)


def gen_dependencies(c: Ctx) -> str:
    """FastAPI dependency module using the recommended cached loader."""
    lines = [
        '"""Shared FastAPI dependencies."""',
        "",
        "from functools import lru_cache",
        "",
        "import joblib",
        "",
        f"from {c.pkg}.settings import MODEL_DIR",
        "",
        "",
        "@lru_cache(maxsize=4)",
        "def get_model(name: str = 'default'):",
        '    """Load each model once per process and reuse it."""',
        '    return joblib.load(MODEL_DIR / f"{name}.joblib")',
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Scripts (training entry points) and tests
# --------------------------------------------------------------------------


def sk_train_main(c: Ctx, seeded: bool, tracked: bool) -> Lines:
    """The body of an sklearn training script (the thing auditors care about)."""
    mod, cls, params = c.rng.choice(SKLEARN_MODELS)
    v = c.vals()
    rs = ", random_state=SEED" if seeded else ""
    strat = ", stratify=y" if c.chance(0.5) else ""
    lines = [
        "def train(args: argparse.Namespace) -> None:",
        f'    """Fit a {cls} on the {v["noun"]} dataset and save it."""',
        "    df = pd.read_csv(args.data)",
        '    X = df.drop(columns=["label"])',
        '    y = df["label"]',
        "    X_train, X_val, y_train, y_val = train_test_split(",
        f"        X, y, test_size={c.pick(['0.2', '0.25', '0.1'])}{rs}{strat}",
        "    )",
        f"    model = {cls}({params.format(**v)}{rs})",
        "    model.fit(X_train, y_train)",
        "    proba = model.predict_proba(X_val)[:, 1]",
        '    metrics = {"auc": roc_auc_score(y_val, proba)}',
        '    metrics["f1"] = f1_score(y_val, proba > 0.5)',
    ]
    if tracked:
        lines += [
            "    with mlflow.start_run():",
            "        mlflow.log_params(model.get_params())",
            "        mlflow.log_metrics(metrics)",
            '        mlflow.sklearn.log_model(model, "model")',
        ]
    else:
        lines += ['    print("metrics:", metrics)']
    lines += ["    joblib.dump(model, args.output)"]
    return [f"from {mod} import {cls}", *lines]


def torch_train_main(c: Ctx, seeded: bool, tracked: bool) -> Lines:
    """The body of a torch training script."""
    v = c.vals()
    lines = [
        "def train(args: argparse.Namespace) -> None:",
        f'    """Train the {v["noun"]} network."""',
    ]
    if seeded:
        lines += ["    torch.manual_seed(SEED)", "    np.random.seed(SEED)"]
    lines += [
        "    df = pd.read_parquet(args.data)",
        "    train_df, val_df = train_test_split(df, test_size=0.2)",
        "    x = torch.tensor(train_df.drop(columns=['label']).values, dtype=torch.float32)",
        "    y = torch.tensor(train_df['label'].values)",
        "    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True)",
        f"    model = nn.Sequential(nn.Linear(x.shape[1], {v['hid']}), nn.ReLU(),",
        f"                          nn.Linear({v['hid']}, 2))",
        f"    optimizer = torch.optim.Adam(model.parameters(), lr={v['lr']})",
        "    for epoch in range(args.epochs):",
        "        for xb, yb in loader:",
        "            optimizer.zero_grad()",
        "            loss = nn.functional.cross_entropy(model(xb), yb)",
        "            loss.backward()",
        "            optimizer.step()",
    ]
    if tracked:
        lines += ['        mlflow.log_metric("loss", loss.item(), step=epoch)']
    lines += ["    torch.save(model.state_dict(), args.output)"]
    return lines


def gen_script(c: Ctx, kind: str, target: int) -> str:
    """A script under scripts/: training scripts are sklearn or torch style."""
    seeded = c.chance(0.55)
    tracked = c.chance(0.5)
    use_torch = c.chance(0.35)
    imports = [
        "import argparse",
        "import logging",
        "",
        "import joblib",
        "import mlflow",
        "import mlflow.sklearn",
        "import numpy as np",
        "import pandas as pd",
        "import torch",
        "from sklearn.metrics import f1_score, roc_auc_score",
        "from sklearn.model_selection import train_test_split",
        "from torch import nn",
        "from torch.utils.data import DataLoader, TensorDataset",
    ]
    main_fn = (
        torch_train_main(c, seeded, tracked) if use_torch else sk_train_main(c, seeded, tracked)
    )
    if not use_torch:
        imports.append(main_fn[0])
        main_fn = main_fn[1:]
    imports += ["", "logger = logging.getLogger(__name__)"]
    if seeded:
        imports.append(f"SEED = {c.vals()['seed']}")
    helpers = fill(c, [blk_data, blk_util, blk_train], max(target - 70, 0))
    parser = [
        "def parse_args() -> argparse.Namespace:",
        f'    parser = argparse.ArgumentParser(description="{kind} job")',
        '    parser.add_argument("--data", required=True)',
        '    parser.add_argument("--output", default="model.joblib")',
        '    parser.add_argument("--epochs", type=int, default=10)',
        '    parser.add_argument("--batch-size", type=int, default=256)',
        "    return parser.parse_args()",
    ]
    entry = [
        'if __name__ == "__main__":',
        "    logging.basicConfig(level=logging.INFO)",
        "    train(parse_args())",
    ]
    doc = f"{kind.replace('_', ' ').capitalize()} job for the {c.pick(NOUNS)} model."
    return module(doc, imports, [*helpers, main_fn, parser, entry], future=False)


TEST_BLOCKS = [
    """def test_{fn}_keeps_rows(frame: pd.DataFrame) -> None:
    out = {name}(frame)
    assert len(out) <= len(frame)
    assert out is not frame""",
    """@pytest.mark.parametrize("size", [1, 10, {n3}])
def test_{fn}_handles_sizes(size: int) -> None:
    rng = np.random.default_rng({seed})
    frame = pd.DataFrame({{"{c1}": rng.random(size), "{c2}": rng.random(size)}})
    result = {name}(frame)
    assert result is not None""",
    """def test_{fn}_is_deterministic(frame: pd.DataFrame) -> None:
    first = {name}(frame)
    second = {name}(frame)
    pd.testing.assert_frame_equal(first, second)""",
    """def test_{fn}_rejects_empty() -> None:
    with pytest.raises((KeyError, ValueError)):
        {name}(pd.DataFrame())""",
    """def test_{fn}_no_nans(frame: pd.DataFrame) -> None:
    out = {name}(frame)
    numeric = out.select_dtypes("number")
    assert not numeric.isna().all().any()
    assert np.isfinite(numeric.fillna(0).to_numpy()).all()""",
]


def gen_test(c: Ctx, target: int) -> str:
    """A pytest module exercising functions registered from the package."""
    mods = [m for m in c.registry if c.registry[m]]
    chosen = c.rng.sample(mods, min(len(mods), c.rng.randint(1, 3))) if mods else []
    imports = ["import numpy as np", "import pandas as pd", "import pytest", ""]
    names: list[str] = []
    for m in chosen:
        picks = c.rng.sample(c.registry[m], min(3, len(c.registry[m])))
        imports.append(f"from {m} import {', '.join(sorted(picks))}")
        names += picks
    if not names:
        names = ["len"]
    v = c.vals()
    fixture = [
        "@pytest.fixture",
        "def frame() -> pd.DataFrame:",
        f"    rng = np.random.default_rng({v['seed']})",
        "    return pd.DataFrame(",
        "        {",
        f'            "{v["c1"]}": rng.normal(size=200),',
        f'            "{v["c2"]}": rng.integers(0, 10, size=200),',
        f'            "{v["key"]}": rng.integers(0, 20, size=200),',
        '            "event_time": pd.date_range("2023-01-01", periods=200, freq="h"),',
        "        }",
        "    )",
    ]
    blocks: list[Lines] = [fixture]
    total = len(imports) + len(fixture) + 4
    while total < target:
        name = c.pick(names)
        fn = c.fresh(name.lower())
        block = render(c, c.rng.choice(TEST_BLOCKS), fn=fn, name=name)
        blocks.append(block)
        total += len(block) + 2
    return module(f"Tests for {', '.join(chosen) or 'helpers'}.", imports, blocks, False)


def gen_conftest(c: Ctx) -> str:
    """Shared fixtures; seeds numpy so tests are stable."""
    lines = [
        '"""Shared pytest fixtures."""',
        "",
        "import numpy as np",
        "import pytest",
        "",
        "",
        "@pytest.fixture(autouse=True)",
        "def _seed() -> None:",
        f"    np.random.seed({c.vals()['seed']})",
        "",
        "",
        "@pytest.fixture",
        "def tmp_model_dir(tmp_path):",
        '    path = tmp_path / "models"',
        "    path.mkdir()",
        "    return path",
    ]
    return "\n".join(lines) + "\n"


def gen_init(c: Ctx, modpaths: list[str]) -> str:
    """A package __init__: empty, or re-exporting a few names from submodules."""
    exported = [(m, c.registry[m][0]) for m in modpaths if c.registry.get(m)]
    if not exported or c.chance(0.4):
        return "" if c.chance(0.6) else '"""Package marker."""\n'
    exported = exported[:8]
    lines = [f"from .{m.rsplit('.', 1)[1]} import {n}" for m, n in exported]
    lines += ["", "__all__ = ["] + [f'    "{n}",' for _, n in exported] + ["]"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Non-Python files
# --------------------------------------------------------------------------


def gen_requirements(c: Ctx, subset: int | None = None) -> str:
    """requirements.txt with a realistic mix of pinned and floating versions."""
    deps = DEPS if subset is None else c.rng.sample(DEPS, subset)
    lines = ["# Runtime dependencies"]
    for name, versions in deps:
        style = c.rng.random()
        ver = c.rng.choice(versions)
        if style < 0.55:
            lines.append(f"{name}=={ver}")
        elif style < 0.8:
            lines.append(f"{name}>={ver}")
        else:
            lines.append(name)
    return "\n".join(lines) + "\n"


def gen_pyproject(c: Ctx) -> str:
    """pyproject.toml of the synthetic package."""
    deps = c.rng.sample(DEPS, 10)
    dep_lines = [f'    "{n}>={c.rng.choice(v)}",' for n, v in deps]
    dev = [f'    "{d}",' for d in DEV_DEPS]
    return "\n".join(
        [
            "[build-system]",
            'requires = ["setuptools>=68", "wheel"]',
            'build-backend = "setuptools.build_meta"',
            "",
            "[project]",
            f'name = "{c.pkg.replace("_", "-")}"',
            f'version = "0.{c.rng.randint(1, 30)}.0"',
            'description = "Machine learning models and services"',
            'requires-python = ">=3.10"',
            "dependencies = [",
            *dep_lines,
            "]",
            "",
            "[project.optional-dependencies]",
            "dev = [",
            *dev,
            "]",
            "",
            "[tool.setuptools.packages.find]",
            'where = ["src"]',
            "",
            "[tool.pytest.ini_options]",
            'testpaths = ["tests"]',
            'addopts = "-q"',
            "",
            "[tool.ruff]",
            "line-length = 100",
            "",
        ]
    )


def gen_dockerfile(c: Ctx, service: str) -> str:
    """A Dockerfile; some use ``latest`` base images or run as root."""
    base = c.pick(["python:3.10-slim", "python:3.11-slim", "python:latest", "python:3.9"])
    lines = [f"FROM {base}", "", "WORKDIR /app", "ENV PYTHONDONTWRITEBYTECODE=1"]
    lines += ["COPY requirements.txt .", "RUN pip install -r requirements.txt"]
    if c.chance(0.5):
        lines[-1] = "RUN pip install --no-cache-dir -r requirements.txt"
    lines += ["COPY . ."]
    if c.chance(0.5):
        lines += ["RUN useradd --create-home appuser", "USER appuser"]
    if c.chance(0.4):
        lines += ["HEALTHCHECK --interval=30s CMD curl -f http://localhost:8000/healthz || exit 1"]
    lines += ["EXPOSE 8000"]
    if service == "flask":
        lines += ['CMD ["gunicorn", "-w", "4", "-b", "0.0.0.0:8000", "app:app"]']
    else:
        lines += [f'CMD ["uvicorn", "{c.pkg}.serving.app:app", "--host", "0.0.0.0"]']
    return "\n".join(lines) + "\n"


TRAIN_CMD = "scripts/train_model.py --data data/train.csv"
IMAGE = "registry.example.com/app:${{ github.sha }}"
WORKFLOW_KINDS = ["ci", "lint", "train", "deploy", "nightly", "docs", "release", "drift"]


def gen_workflow(c: Ctx, kind: str) -> str:
    """A GitHub Actions workflow; pinning and triggers vary."""
    checkout = c.pick(["actions/checkout@v4", "actions/checkout@v3", "actions/checkout@main"])
    pyver = c.pick(['"3.10"', '"3.11"', "3.9"])
    on = {
        "train": ["  workflow_dispatch:", "  schedule:", '    - cron: "0 3 * * 1"'],
        "nightly": ["  schedule:", '    - cron: "0 2 * * *"'],
        "deploy": ["  push:", "    branches: [main]"],
        "release": ["  push:", '    tags: ["v*"]'],
    }.get(kind, ["  push:", "    branches: [main]", "  pull_request:"])
    run = {
        "ci": ["pip install -r requirements.txt -r requirements-dev.txt", "pytest -q"],
        "lint": ["pip install ruff mypy", "ruff check .", "mypy src"],
        "train": ["pip install -r requirements.txt", f"python {TRAIN_CMD}"],
        "deploy": [f"docker build -t {IMAGE} .", f"docker push {IMAGE}"],
        "docs": ["pip install mkdocs", "mkdocs build"],
    }.get(kind, ["pip install -e .", "python -m pytest"])  # fmt: skip
    lines = [f"name: {kind}", "", "on:", *on, "", "jobs:", f"  {kind}:"]
    lines += ["    runs-on: ubuntu-latest"]
    if kind == "deploy":
        lines += ["    env:", "      REGISTRY_TOKEN: ${{ secrets.REGISTRY_TOKEN }}"]
    lines += ["    steps:", f"      - uses: {checkout}", "      - uses: actions/setup-python@v5"]
    lines += ["        with:", f"          python-version: {pyver}"]
    if c.chance(0.5):
        lines += ["          cache: pip"]
    for cmd in run:
        lines += [f"      - run: {cmd}"]
    if kind == "train":
        lines += ["      - uses: actions/upload-artifact@v4", "        with:"]
        lines += ["          name: model", "          path: model.joblib"]
    return "\n".join(lines) + "\n"


NB_CODE = [
    "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n%matplotlib inline",
    'df = pd.read_csv("../data/raw/{noun}_events.csv", parse_dates=["event_time"])\ndf.shape',
    "df.head()",
    "df.describe()",
    'df["{c1}"].hist(bins=50)\nplt.title("{c1} distribution")',
    'df.groupby("{cat}")["{c1}"].agg(["mean", "median", "count"])',
    "df.isna().mean().sort_values(ascending=False).head(10)",
    "from sklearn.model_selection import train_test_split\n"
    'X = df[["{c1}", "{c2}", "{c3}"]].fillna(0)\ny = df["label"]\n'
    "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)",
    "from sklearn.ensemble import RandomForestClassifier\n"
    "clf = RandomForestClassifier(n_estimators={n3})\nclf.fit(X_train, y_train)",
    "from sklearn.metrics import classification_report\n"
    "print(classification_report(y_test, clf.predict(X_test)))",
    'corr = df[["{c1}", "{c2}", "{c3}"]].corr()\ncorr',
    'import joblib\njoblib.dump(clf, "../models/{noun}_rf.joblib")',
    "for col in ['{c1}', '{c2}']:\n    print(col, df[col].skew())",
    'pd.crosstab(df["{cat}"], df["label"], normalize="index")',
]
NB_MD = [
    "# {Noun} exploration\n\nFirst look at the {noun} events extract.",
    "## Distribution of `{c1}`\n\nHeavy right tail; consider a log transform.",
    "## Baseline model\n\nRandom forest on three raw features.",
    "### Notes\n\n- `{c2}` has ~{n}% missing values\n- label is imbalanced",
    "## Conclusions\n\nMove the `{c1}` features into `features/`.",
]


def nb_source(text: str) -> list[str]:
    """Notebook JSON stores source as a list of lines with newlines kept."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + [parts[-1]]


def nb_outputs(c: Ctx, count: int) -> list[dict[str, Any]]:
    """Outputs of an executed cell: text, a table repr or sometimes a PNG."""
    kind = c.rng.random()
    if kind < 0.4:
        text = "\n".join(f"{x:.4f}" for x in [c.rng.random() for _ in range(4)])
        return [{"name": "stdout", "output_type": "stream", "text": nb_source(text)}]
    if kind < 0.8:
        return [
            {
                "data": {"text/plain": [f"({c.rng.randint(100, 99999)}, {c.rng.randint(3, 40)})"]},
                "execution_count": count,
                "metadata": {},
                "output_type": "execute_result",
            }
        ]
    png = base64.b64encode(c.rng.randbytes(c.rng.randint(6000, 30000))).decode()
    return [
        {
            "data": {"image/png": png, "text/plain": ["<Figure size 640x480 with 1 Axes>"]},
            "metadata": {},
            "output_type": "display_data",
        }
    ]


def gen_notebook(c: Ctx) -> str:
    """An nbformat-4.5 notebook; about half were committed with outputs."""
    executed = c.chance(0.5)
    cells: list[dict[str, Any]] = []
    count = 0
    for _ in range(c.rng.randint(8, 40)):
        cid = f"{c.rng.getrandbits(32):08x}"
        if c.chance(0.25):
            src = "\n".join(render(c, c.rng.choice(NB_MD)))
            cells.append(
                {"cell_type": "markdown", "id": cid, "metadata": {}, "source": nb_source(src)}
            )
            continue
        src = "\n".join(render(c, c.rng.choice(NB_CODE)))
        count += 1
        cell: dict[str, Any] = {
            "cell_type": "code",
            "execution_count": count if executed else None,
            "id": cid,
            "metadata": {},
            "outputs": nb_outputs(c, count) if executed and c.chance(0.6) else [],
            "source": nb_source(src),
        }
        cells.append(cell)
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.10.12"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def gen_config_yaml(c: Ctx) -> str:
    """A training config file."""
    v = c.vals()
    return "\n".join(
        [
            f"experiment: {v['noun']}-{c.pick(ARCHS)}",
            f"seed: {v['seed']}",
            "data:",
            f"  train: data/processed/{v['noun']}_train.parquet",
            f"  valid: data/processed/{v['noun']}_valid.parquet",
            "  target: label",
            "model:",
            f"  hidden_dim: {v['hid']}",
            f"  num_layers: {v['n']}",
            f"  dropout: {v['drop']}",
            "optim:",
            f"  lr: {v['lr']}",
            "  weight_decay: 0.01",
            f"  epochs: {v['n3'] // 10}",
            "",
        ]
    )


def gen_markdown(c: Ctx, title: str) -> str:
    """A documentation page."""
    paras = []
    for _ in range(c.rng.randint(3, 10)):
        v = c.vals()
        paras.append(
            "The {noun} pipeline computes {c1} and {c2} aggregates over a "
            "{w}-day window keyed by `{key}`. Retraining runs weekly and the "
            "model is promoted when AUC improves by more than {thr} points.".format(**v)
        )
    return f"# {title}\n\n" + "\n\n".join(paras) + "\n"


def gen_readme(c: Ctx) -> str:
    """Top-level README."""
    return (
        f"# {c.pkg}\n\nModels, features and services for {c.pick(NOUNS)} analytics.\n\n"
        "## Quickstart\n\n```bash\npip install -e .[dev]\npytest\n"
        "python scripts/train_model.py --data data/train.csv\n```\n"
    )


GITIGNORE = (
    "__pycache__/\n*.pyc\n.venv/\nmlruns/\nmodels/*.joblib\ndata/raw/\n.ipynb_checkpoints/\n"
)
MAKEFILE = "install:\n\tpip install -e .[dev]\n\ntest:\n\tpytest -q\n\nlint:\n\truff check .\n"


# --------------------------------------------------------------------------
# Layout planning
# --------------------------------------------------------------------------


@dataclass
class Spec:
    """One file to generate: its path, generator kind and size target."""

    path: str
    kind: str
    target: int = 0
    extra: str = ""


PY_WEIGHTS = {
    "feature": 15,
    "model": 18,
    "trainlib": 8,
    "data": 10,
    "util": 11,
    "router": 6,
    "script": 8,
}
PY_MINIMUM = {
    "feature": 2,
    "model": 2,
    "trainlib": 1,
    "data": 1,
    "util": 1,
    "router": 2,
    "script": 2,
}
TEST_WEIGHT = 24
SIZE_RANGES = {  # (low, high, mode) for random.triangular; mean ~300 overall
    "feature": (150, 650, 300),
    "model": (200, 800, 500),
    "trainlib": (150, 600, 320),
    "data": (100, 550, 260),
    "util": (80, 500, 240),
    "router": (100, 400, 180),
    "script": (120, 450, 220),
    "test": (50, 420, 150),
}
SUBDIR_POOLS = {
    "feature": NOUNS,
    "model": MODEL_FAMILIES,
    "trainlib": SUBDIR_WORDS,
    "data": SUBDIR_WORDS,
    "util": SUBDIR_WORDS,
    "router": ["v1", "v2", "internal", "admin", "batch", "public"],
    "script": ["training", "evaluation", "export", "ops", "backfills", "experiments"],
}
FLAT_MAX = 18
PER_SUBDIR = 14


def py_counts(plain_total: int) -> dict[str, int]:
    """Split the plain-module budget over categories by weight (with minimums)."""
    weight_sum = sum(PY_WEIGHTS.values()) + TEST_WEIGHT
    return {k: max(PY_MINIMUM[k], plain_total * w // weight_sum) for k, w in PY_WEIGHTS.items()}


def stem_candidate(c: Ctx, kind: str) -> str:
    """A plausible module name for a category."""
    if kind == "feature":
        return f"{c.pick(NOUNS)}_{c.pick(FEATURE_SUFFIXES)}"
    if kind == "model":
        return c.pick(ARCHS) if c.chance(0.5) else f"{c.pick(MODEL_FAMILIES)}_{c.pick(ARCHS)}"
    if kind == "script":
        return f"{c.pick(SCRIPT_KINDS)}_{c.pick(NOUNS)}"
    if kind == "test":
        return f"test_{c.pick(NOUNS)}_{c.pick(COLS)}"
    if kind == "router":
        return c.pick(NOUNS)
    pool = {"trainlib": TRAIN_NAMES, "data": DATA_NAMES}.get(kind, UTIL_NAMES)
    return c.pick(pool)


def file_stem(c: Ctx, kind: str, taken: set[str]) -> str:
    """A unique module name in one folder; prefixes a noun on collisions."""
    stem = stem_candidate(c, kind)
    for _ in range(40):
        if stem not in taken:
            break
        stem = f"{c.pick(NOUNS)}_{stem_candidate(c, kind)}"
    while stem in taken:
        stem = f"{stem}_{len(taken)}"
    taken.add(stem)
    return stem


def subdir_names(c: Ctx, kind: str, n_sub: int) -> list[str]:
    """Names for subpackages; combine words once the category pool runs out."""
    pool = list(SUBDIR_POOLS.get(kind, SUBDIR_WORDS))
    names = c.rng.sample(pool, min(n_sub, len(pool)))
    while len(names) < n_sub:
        name = f"{c.pick(pool)}_{c.pick(SUBDIR_WORDS)}"
        if name not in names:
            names.append(name)
    return names


def layout_category(c: Ctx, kind: str, count: int, base: str, package: bool) -> list[Spec]:
    """Place ``count`` modules under ``base``; big categories get subpackages."""
    specs: list[Spec] = []
    if count <= FLAT_MAX:
        dirs = [base]
    else:
        names = subdir_names(c, kind, -(-count // PER_SUBDIR))
        dirs = [f"{base}/{n}" for n in names]
        if package:
            specs += [Spec(f"{d}/__init__.py", "init") for d in dirs]
    taken: dict[str, set[str]] = {d: set() for d in dirs}
    for i in range(count):
        d = dirs[i % len(dirs)]
        stem = file_stem(c, kind, taken[d])
        lo, hi, mode = SIZE_RANGES[kind]
        target = int(c.rng.triangular(lo, hi, mode))
        specs.append(Spec(f"{d}/{stem}.py", kind, target))
    return specs


def plan_python(c: Ctx, n_py: int) -> list[Spec]:
    """All Python files: fixed skeleton, categories, then tests fill the rest."""
    src = f"src/{c.pkg}"
    fixed = [
        Spec(f"{src}/__init__.py", "init"),
        Spec(f"{src}/settings.py", "settings"),
        Spec(f"{src}/cli.py", "cli"),
        Spec(f"{src}/serving/__init__.py", "init"),
        Spec(f"{src}/serving/routers/__init__.py", "init"),
        Spec(f"{src}/serving/schemas.py", "schemas", int(c.rng.triangular(60, 300, 120))),
        Spec(f"{src}/serving/dependencies.py", "dependencies"),
        Spec(f"{src}/serving/flask_app.py", "flask", int(c.rng.triangular(60, 260, 120))),
        Spec("tests/conftest.py", "conftest"),
    ]
    bases = {
        "feature": f"{src}/features",
        "model": f"{src}/models",
        "trainlib": f"{src}/training",
        "data": f"{src}/data",
        "util": f"{src}/utils",
        "router": f"{src}/serving/routers",
    }
    fixed += [Spec(f"{b}/__init__.py", "init") for k, b in bases.items() if k != "router"]
    plain_budget = n_py - len(fixed) - 1  # -1: the FastAPI app
    counts = py_counts(plain_budget)
    specs = list(fixed)
    for kind, count in counts.items():
        base = bases.get(kind, "scripts")
        specs += layout_category(c, kind, count, base, package=kind != "script")
    specs.append(Spec(f"{src}/serving/app.py", "fastapi"))
    n_tests = max(3, n_py - len(specs))
    test_dirs = ["tests/unit", "tests/integration"] if n_tests > FLAT_MAX else ["tests"]
    taken: dict[str, set[str]] = {d: set() for d in test_dirs}
    for _ in range(n_tests):
        d = test_dirs[0] if len(test_dirs) == 1 or c.chance(0.8) else test_dirs[1]
        lo, hi, mode = SIZE_RANGES["test"]
        stem = file_stem(c, "test", taken[d])
        specs.append(Spec(f"{d}/{stem}.py", "test", int(c.rng.triangular(lo, hi, mode))))
    return specs[:n_py] if len(specs) > n_py else specs


def plan_other(c: Ctx, n_other: int) -> list[Spec]:
    """Non-Python files: a fixed core, then notebooks/configs/docs/etc."""
    core = [
        Spec("README.md", "readme"),
        Spec("requirements.txt", "requirements"),
        Spec("pyproject.toml", "pyproject"),
        Spec(".gitignore", "gitignore"),
        Spec("Dockerfile", "dockerfile", extra="fastapi"),
        Spec(".github/workflows/ci.yml", "workflow", extra="ci"),
        Spec("notebooks/01_exploration.ipynb", "notebook"),
        Spec("CHANGELOG.md", "changelog"),
        Spec("requirements-dev.txt", "requirements-dev"),
        Spec(".github/workflows/train.yml", "workflow", extra="train"),
        Spec("docker/flask/Dockerfile", "dockerfile", extra="flask"),
        Spec("Makefile", "makefile"),
        Spec("configs/train.yaml", "config"),
    ]
    specs = core[:n_other]
    counters = {"notebook": 1, "config": 1, "docs": 0, "workflow": 2, "docker": 2, "req": 1}
    # Every category counter is part of its file names, so paths never collide.
    choices = ["notebook"] * 35 + ["config"] * 25 + ["docs"] * 20
    choices += ["workflow"] * 8 + ["docker"] * 6 + ["req"] * 6
    while len(specs) < n_other:
        paths = [s.path for s in specs]
        kind = c.rng.choice(choices)
        spare = [w for w in WORKFLOW_KINDS if f".github/workflows/{w}.yml" not in paths]
        if kind == "workflow" and not spare:
            kind = "docs"
        if kind in ("docker", "req") and counters[kind] >= 6:
            kind = "config"
        counters[kind] += 1
        i = counters[kind]
        noun = c.pick(NOUNS)
        if kind == "notebook":
            topic = c.pick(["eda", "baseline", "error_analysis", "features"])
            specs.append(Spec(f"notebooks/{i:02d}_{noun}_{topic}.ipynb", "notebook"))
        elif kind == "config":
            specs.append(Spec(f"configs/{noun}_{c.pick(ARCHS)}_{i}.yaml", "config"))
        elif kind == "docs":
            specs.append(
                Spec(
                    f"docs/{noun}_{c.pick(['design', 'runbook', 'model_card', 'data'])}_{i}.md",
                    "docs",
                )
            )
        elif kind == "workflow":
            wk = spare[0]
            specs.append(Spec(f".github/workflows/{wk}.yml", "workflow", extra=wk))
        elif kind == "docker":
            specs.append(Spec(f"docker/{noun}_{i}/Dockerfile", "dockerfile", extra="fastapi"))
        else:
            specs.append(Spec(f"services/{noun}_{i}/requirements.txt", "requirements-sub"))
    return specs


# --------------------------------------------------------------------------
# Content generation
# --------------------------------------------------------------------------

PY_GENERATORS: dict[str, Callable[[Ctx, str, int], str]] = {
    "feature": gen_feature,
    "model": gen_model,
    "trainlib": gen_trainlib,
    "data": gen_data,
    "util": gen_util,
    "router": gen_router,
}
GEN_ORDER = {"init": 3, "fastapi": 2, "test": 2}


def modpath_of(path: str) -> str:
    """``src/pkg/a/b.py`` -> ``pkg.a.b`` (import path used by tests/inits)."""
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def generate_one(c: Ctx, spec: Spec, routers: list[str], inits: dict[str, list[str]]) -> str:
    """Dispatch a spec to its generator."""
    c.used = set()
    k = spec.kind
    if k in PY_GENERATORS:
        return PY_GENERATORS[k](c, modpath_of(spec.path), spec.target)
    simple: dict[str, Callable[[], str]] = {
        "settings": lambda: gen_settings(c),
        "cli": lambda: gen_cli(c),
        "schemas": lambda: gen_schemas(c, spec.target),
        "dependencies": lambda: gen_dependencies(c),
        "flask": lambda: gen_flask_app(c, spec.target),
        "conftest": lambda: gen_conftest(c),
        "script": lambda: gen_script(c, spec.path.rsplit("/", 1)[1].split("_")[0], spec.target),
        "test": lambda: gen_test(c, spec.target),
        "fastapi": lambda: gen_fastapi_app(c, routers),
        "init": lambda: gen_init(c, inits.get(spec.path.rsplit("/", 1)[0], [])),
        "readme": lambda: gen_readme(c),
        "requirements": lambda: gen_requirements(c),
        "requirements-sub": lambda: gen_requirements(c, c.rng.randint(4, 10)),
        "requirements-dev": lambda: "\n".join(DEV_DEPS) + "\n",
        "pyproject": lambda: gen_pyproject(c),
        "gitignore": lambda: GITIGNORE,
        "makefile": lambda: MAKEFILE,
        "dockerfile": lambda: gen_dockerfile(c, spec.extra),
        "workflow": lambda: gen_workflow(c, spec.extra),
        "notebook": lambda: gen_notebook(c),
        "config": lambda: gen_config_yaml(c),
        "docs": lambda: gen_markdown(c, spec.path.rsplit("/", 1)[1][:-3].replace("_", " ").title()),
        "changelog": lambda: "",  # filled in from the history plan
    }
    return simple[k]()


def generate_files(c: Ctx, specs: list[Spec]) -> dict[str, str]:
    """Generate contents; modules first so tests/inits can import their names."""
    routers = sorted(modpath_of(s.path).rsplit(".", 1)[1] for s in specs if s.kind == "router")
    inits: dict[str, list[str]] = {}
    for s in specs:
        if s.path.startswith("src/") and s.kind != "init":
            inits.setdefault(s.path.rsplit("/", 1)[0], []).append(modpath_of(s.path))
    contents: dict[str, str] = {}
    for spec in sorted(specs, key=lambda s: GEN_ORDER.get(s.kind, 0)):
        contents[spec.path] = generate_one(c, spec, routers, inits)
    return {s.path: contents[s.path] for s in specs}


# --------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------


@dataclass
class Commit:
    """One planned commit: file writes (None = delete), message, author, time."""

    ops: list[tuple[str, str | None]]
    message: str
    author: tuple[str, str, str]
    when: int


def draft_of(path: str, text: str, rng: random.Random) -> str | None:
    """An earlier version of a file: cut at a top-level boundary (Python) or line."""
    if path.endswith((".ipynb", ".json")) or not text:
        return None
    lines = text.split("\n")
    if len(lines) < 20:
        return None
    lo, hi = len(lines) // 2, len(lines) * 9 // 10
    if path.endswith(".py"):
        cuts = [
            i
            for i in range(lo, hi)
            if lines[i][:1] not in ("", " ", ")", "]", "}") and lines[i - 1] == ""
        ]
        if not cuts:
            return None
        cut = rng.choice(cuts)
    else:
        cut = rng.randint(lo, hi)
    return "\n".join(lines[:cut]).rstrip("\n") + "\n"


def make_csv(rng: random.Random) -> str:
    """A ~2 MiB CSV of fake training data (committed, later deleted)."""
    rows = ["customer_id,event_time,amount,quantity,channel,country,label"]
    size = len(rows[0]) + 1
    day = 0
    while size < CSV_BYTES:
        stamp = f"2023-{1 + day % 12:02d}-{1 + day % 28:02d}T{rng.randrange(24):02d}:00:00"
        row = ",".join(
            [
                str(rng.randint(10_000, 99_999)),
                stamp,
                f"{rng.uniform(1, 900):.2f}",
                str(rng.randint(1, 9)),
                rng.choice(["web", "app", "store"]),
                rng.choice(["DE", "FR", "US", "BR", "IN", "JP"]),
                str(int(rng.random() < 0.1)),
            ]
        )
        rows.append(row)
        size += len(row) + 1
        day += 1
    return "\n".join(rows) + "\n"


def commit_message(ops: list[tuple[str, str | None]], modified: bool, rng: random.Random) -> str:
    """A believable commit subject derived from what the commit touches."""
    paths = [p for p, _ in ops]
    parts = paths[0].split("/")
    stem = parts[-2] if parts[-1] == "__init__.py" and len(parts) > 1 else parts[-1]
    stem = stem.split(".")[0].replace("_", " ").strip()
    if modified:
        verb = rng.choice(
            ["Refactor", "Fix edge case in", "Update", "Improve", "Tidy up", "Speed up"]
        )
        return f"{verb} {stem}"
    if len(paths) == 1:
        return f"Add {stem}"
    top = os.path.commonpath(paths) or "repo"
    return f"Add {len(paths)} files under {top}"


def plan_history(rng: random.Random, files: dict[str, str], n_files: int) -> list[Commit]:
    """Batches of additions, later edits of drafted files, changelog commits, CSV."""
    n_commits = min(360, 100 + n_files // 7)
    has_changelog = "CHANGELOG.md" in files
    initial = [p for p in files if p in ("README.md", ".gitignore", "pyproject.toml")]
    rest = [p for p in files if p not in initial and p != "CHANGELOG.md"]
    rng.shuffle(rest)
    slots = assign_slots(rng, files, initial, rest, n_commits)
    csv_add, csv_del = int(n_commits * 0.35), int(n_commits * 0.55)
    changelog: Lines = []
    commits: list[Commit] = []
    when = HISTORY_START
    for idx, slot in enumerate(slots):
        when += rng.randint(600, 2 * 86400)
        author = rng.choice(AUTHORS)
        if idx == csv_add:
            commits.append(
                Commit([(CSV_PATH, make_csv(rng))], "Add training data snapshot", author, when)
            )
            when += rng.randint(600, 7200)
        if idx == csv_del:
            commits.append(
                Commit([(CSV_PATH, None)], "Remove raw data from git (use DVC)", author, when)
            )
            when += rng.randint(600, 7200)
        ops: list[tuple[str, str | None]] = [(p, t) for p, t, _ in slot]
        if not ops and not has_changelog:
            continue
        modified = bool(slot) and all(m for _, _, m in slot)
        message = commit_message(ops, modified, rng) if ops else "Update changelog"
        changelog.append(f"- {message}")
        if has_changelog and (idx == 0 or not slot or rng.random() < 0.15):
            text = "# Changelog\n\n" + "\n".join(reversed(changelog)) + "\n"
            ops.append(("CHANGELOG.md", text))
            files["CHANGELOG.md"] = text
        commits.append(Commit(ops, message, author, when))
    return commits


def assign_slots(
    rng: random.Random,
    files: dict[str, str],
    initial: list[str],
    rest: list[str],
    n_commits: int,
) -> list[list[tuple[str, str, bool]]]:
    """Spread file additions over the first 85% of commits; drafts get a later edit.

    Each entry is (path, content, is_modification).
    """
    add_phase = max(2, int(n_commits * 0.85))
    slots: list[list[tuple[str, str, bool]]] = [[] for _ in range(n_commits)]
    slots[0] = [(p, files[p], False) for p in initial]
    for i, p in enumerate(rest):
        slot = 1 + i * (add_phase - 1) // max(len(rest), 1)
        draft = draft_of(p, files[p], rng) if rng.random() < 0.3 else None
        slots[slot].append((p, draft or files[p], False))
        if draft:
            later = rng.randint(slot + 1, n_commits - 1)
            slots[later].append((p, files[p], True))
    return slots


def git_env() -> dict[str, str]:
    """An environment that ignores user/system git config (hooks, signing...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C", TZ="UTC")
    return env


def fast_import_stream(commits: list[Commit]) -> bytes:
    """Serialise the plan for ``git fast-import`` (fast, exact dates, no hooks)."""
    out: list[bytes] = []
    for i, cm in enumerate(commits):
        name, email, tz = cm.author
        msg = (cm.message + "\n").encode()
        out.append(b"commit refs/heads/main\n")
        out.append(f"mark :{i + 1}\n".encode())
        out.append(f"author {name} <{email}> {cm.when} {tz}\n".encode())
        out.append(f"committer {name} <{email}> {cm.when} {tz}\n".encode())
        out.append(b"data %d\n" % len(msg) + msg)
        if i:
            out.append(f"from :{i}\n".encode())
        for path, text in cm.ops:
            if text is None:
                out.append(f"D {path}\n".encode())
                continue
            data = text.encode()
            out.append(f"M 100644 inline {path}\n".encode())
            out.append(b"data %d\n" % len(data) + data + b"\n")
    out.append(b"done\n")
    return b"".join(out)


def write_git(out: Path, commits: list[Commit]) -> None:
    """Create the repository and its history; index then matches the tree."""
    env = git_env()

    def git(*args: str, stdin: bytes | None = None) -> None:
        cmd = ["git", "-C", str(out), *args]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, input=stdin)

    git("init", "-q", "-b", "main")
    git("fast-import", "--quiet", "--done", stdin=fast_import_stream(commits))
    git("reset", "-q")


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def build(out: Path, n_files: int, seed: int, with_git: bool = True) -> dict[str, int]:
    """Generate the whole repository into ``out``; returns summary counts."""
    c = Ctx(rng=random.Random(f"mlaudit-synth:{seed}:{n_files}"), pkg="")
    c.pkg = c.rng.choice(PROJECTS)
    n_py = int(n_files * PY_SHARE)
    specs = plan_python(c, n_py) + plan_other(c, n_files - n_py)
    files = generate_files(c, specs)
    commits = plan_history(c.rng, files, n_files)
    for rel, text in files.items():
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8", newline="\n")
    if with_git:
        write_git(out, commits)
    py = [t for p, t in files.items() if p.endswith(".py")]
    return {
        "files": len(files),
        "python_files": len(py),
        "python_lines": sum(t.count("\n") for t in py),
        "notebooks": sum(p.endswith(".ipynb") for p in files),
        "commits": len(commits) if with_git else 0,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line interface."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", type=Path, help="directory to create (must be empty)")
    p.add_argument("--files", type=int, required=True, help="number of files, e.g. 50/500/2000")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--force", action="store_true", help="delete OUT_DIR first if it exists")
    p.add_argument("--no-git", action="store_true", help="skip creating the git history")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Validate arguments, generate, print a one-line summary."""
    args = parse_args(argv)
    if args.files < MIN_FILES:
        print(f"synth: --files must be >= {MIN_FILES}", file=sys.stderr)
        return 2
    out: Path = args.out_dir
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(f"synth: {out} is not empty (use --force)", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    stats = build(out, args.files, args.seed, with_git=not args.no_git)
    if not args.quiet:
        summary = ", ".join(f"{k}={v}" for k, v in stats.items())
        print(f"synth: {out}: {summary} ({time.perf_counter() - start:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
