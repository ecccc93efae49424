"""Configuration: ``[tool.mlaudit]`` in pyproject.toml, or mlaudit.toml / .mlaudit.toml.

Validated against a JSON Schema shipped in the package; an error names the bad key so the
CLI can exit 2 with a message the user can act on.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILES = ("mlaudit.toml", ".mlaudit.toml", "pyproject.toml")
SEVERITY_ORDER = {"note": 1, "warning": 2, "error": 3}


class ConfigError(Exception):
    """A configuration problem the user must fix (exit code 2)."""


@dataclass
class Config:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    fail_under: float | None = None
    fail_on: str = "error"
    ignore_reasons: dict[str, str] = field(default_factory=dict)
    vocabulary: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    jobs: int | None = None
    cache_dir: str | None = None
    source: str | None = None  # the file the settings came from


def _schema() -> dict[str, Any]:
    text = resources.files("mlaudit.schemas").joinpath("config.schema.json").read_text("utf-8")
    return json.loads(text)


def _validate(data: dict[str, Any], source: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.path), e.message))
    if not errors:
        return
    error = errors[0]
    if error.validator == "additionalProperties" and not error.path:
        known = ", ".join(sorted(_schema()["properties"]))
        extra = sorted(set(data) - set(_schema()["properties"]))
        raise ConfigError(f"{source}: unknown key {extra[0]!r} (known keys: {known})")
    key = ".".join(str(p) for p in error.path) or "(top level)"
    raise ConfigError(f"{source}: invalid value for {key!r}: {error.message}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def find_config(root: Path) -> Path | None:
    """The first config file in the scanned root that holds mlaudit settings."""
    for name in CONFIG_FILES:
        candidate = root / name
        if not candidate.is_file():
            continue
        if name != "pyproject.toml":
            return candidate
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue  # a broken pyproject is reported by ML901, not as a config error
        if isinstance(data.get("tool"), dict) and "mlaudit" in data["tool"]:
            return candidate
    return None


def load_config(path: Path | None) -> Config:
    """Read and validate the settings in ``path`` (None: the defaults)."""
    if path is None:
        return Config()
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        data = tool.get("mlaudit", {}) if isinstance(tool, dict) else {}
        source = f"{path} [tool.mlaudit]"
    else:
        source = str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table of settings")
    _validate(data, source)
    return Config(
        select=list(data.get("select", [])),
        ignore=list(data.get("ignore", [])),
        exclude=list(data.get("exclude", [])),
        per_file_ignores={k: list(v) for k, v in data.get("per-file-ignores", {}).items()},
        fail_under=data.get("fail-under"),
        fail_on=data.get("fail-on", "error"),
        ignore_reasons=dict(data.get("ignore-reasons", {})),
        vocabulary={
            k: {kk: list(vv) for kk, vv in v.items()} for k, v in data.get("vocabulary", {}).items()
        },
        jobs=data.get("jobs"),
        cache_dir=data.get("cache-dir"),
        source=source,
    )
