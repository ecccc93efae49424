"""The rule catalog: one YAML file per check under ``rules/``, validated by its schema.

The catalog is the single source of rule metadata: ``mlaudit rule``, SARIF rule
descriptions, scoring weights and the vocabularies checks match against all come from here.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECTIONS: dict[str, str] = {
    "model-development": "Model development",
    "data": "Data pipeline",
    "serving": "Serving infrastructure",
    "monitoring": "Monitoring and logging",
    "deployment": "Deployment strategy",
    "cicd": "CI/CD for ML",
    "container": "Container",
    "tool": "The tool itself",
}

TRAITS = ("TRAINS", "SERVES", "CONTAINER", "CI", "DEPLOYS", "INGESTS")


class CatalogError(Exception):
    """The catalog on disk is broken: a packaging or development error, not a user one."""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    section: str
    severity: str
    weight: int
    scope: str
    applies_when: str
    summary: str
    rationale: str
    remediation: dict[str, str]
    references: list[dict[str, str]]
    precision: str = "high"
    tags: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    security_severity: str | None = None

    def applies(self, traits: set[str]) -> bool:
        """Evaluate the ``applies-when`` expression (left to right) over present traits."""
        words = self.applies_when.split()
        if words == ["always"]:
            return True
        result = words[0] in traits
        for op, trait in zip(words[1::2], words[2::2], strict=False):
            result = (result and trait in traits) if op == "and" else (result or trait in traits)
        return result

    def vocab(self, key: str) -> tuple[str, ...]:
        return self.vocabulary.get(key, ())  # the same tuple every time: matchers key on it


def _safe_yaml(text: str) -> Any:
    """Safe YAML through libyaml's C parser when PyYAML has it (the catalog is read on every
    scan; the pure-Python parser made that a quarter of a warm scan), else yaml.safe_load."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return yaml.safe_load(text)
    loader = loader_class(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def rules_dir() -> Path:
    """The catalog shipped in the wheel (mlaudit/rules), else the source tree's rules/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "rules", here.parent / "rules"):
        if (candidate / "schema.json").is_file():
            return candidate
    raise CatalogError(f"rule catalog not found next to {here}")


def _rule_from_data(data: dict[str, Any]) -> Rule:
    return Rule(
        code=data["code"],
        name=data["name"],
        section=data["section"],
        severity=data["severity"],
        weight=data["weight"],
        scope=data["scope"],
        applies_when=data["applies-when"],
        summary=data["summary"].strip(),
        rationale=data["rationale"].strip(),
        remediation={k: str(v) for k, v in data["remediation"].items()},
        references=list(data.get("references", [])),
        precision=data.get("precision", "high"),
        tags=list(data.get("tags", [])),
        related=list(data.get("related", [])),
        vocabulary={k: tuple(v) for k, v in (data.get("vocabulary") or {}).items()},
        security_severity=data.get("security-severity"),
    )


def _catalog_data(directory: Path) -> list[dict[str, Any]]:
    """The rule files' data, validated. Parsing and validating 60 YAML files (and importing
    jsonschema) is a third of a reused scan, so the validated data is kept in the user's
    cache, keyed by the files' names, sizes and modification times."""
    from mlaudit.index.cache import SignedStore, user_cache_dir

    paths = sorted(directory.glob("ML*.yaml"))
    stamp = "\n".join(
        f"{p.name}\0{p.stat().st_size}\0{p.stat().st_mtime_ns}"
        for p in [directory / "schema.json", *paths]
    )
    base = user_cache_dir()
    store = SignedStore(base, "catalog.msgpack") if base is not None else None
    key = f"{directory}\0{stamp}"
    known = store.get(key, list[dict[str, Any]]) if store is not None else None
    if known is not None:
        return known
    import jsonschema

    schema = json.loads((directory / "schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    found: list[dict[str, Any]] = []
    for path in paths:
        data = _safe_yaml(path.read_text(encoding="utf-8"))
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(top level)"
            raise CatalogError(f"{path.name}: {where}: {errors[0].message}")
        if path.stem != data["code"]:
            raise CatalogError(f"{path.name}: file name does not match code {data['code']}")
        found.append(data)
    if store is not None:
        store.put(key, found)
    return found


@functools.lru_cache(maxsize=1)
def load_catalog() -> dict[str, Rule]:
    """All rules by code, each validated against ``rules/schema.json``."""
    rules: dict[str, Rule] = {}
    for data in _catalog_data(rules_dir()):
        rule = _rule_from_data(data)
        rules[rule.code] = rule
    names = [r.name for r in rules.values()]
    if len(names) != len(set(names)):
        raise CatalogError("rule names in the catalog are not unique")
    return rules


@functools.lru_cache(maxsize=1)
def load_traits_vocabulary() -> dict[str, dict[str, tuple[str, ...]]]:
    """What each trait looks for (``rules/traits.yaml``), as data like rule vocabularies."""

    data = _safe_yaml((rules_dir() / "traits.yaml").read_text(encoding="utf-8"))
    return {k: {kk: tuple(vv) for kk, vv in v.items()} for k, v in data.items()}


def find_rule(key: str) -> Rule | None:
    """A rule by code (any case) or by name."""
    catalog = load_catalog()
    upper = key.strip().upper()
    if upper in catalog:
        return catalog[upper]
    lower = key.strip().lower()
    return next((r for r in catalog.values() if r.name == lower), None)


def expand_selector(selector: str) -> list[str] | None:
    """Codes matched by a code, a code prefix (``ML3``) or a name; None when nothing matches."""
    catalog = load_catalog()
    rule = find_rule(selector)
    if rule is not None:
        return [rule.code]
    upper = selector.strip().upper()
    if upper == "ALL":
        return sorted(catalog)
    if upper.startswith("ML"):
        codes = sorted(c for c in catalog if c.startswith(upper))
        return codes or None
    return None
