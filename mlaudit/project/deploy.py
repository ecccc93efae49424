"""Deployment configuration as checks read it: keys of manifests, compose files, Helm charts
and alerting rules, each with its file and line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlaudit.index.facts import FileFacts, YamlDoc, YamlKey
from mlaudit.results import Evidence
from mlaudit.workspace import is_test_path

if TYPE_CHECKING:
    from mlaudit.project import Project

YAML_KINDS = ("yaml", "compose")


@dataclass(frozen=True)
class KeyHit:
    path: str
    doc: YamlDoc
    key: YamlKey

    @property
    def leaf(self) -> str:
        return leaf(self.key.path)


def leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1].removesuffix("[]")


def yaml_files(project: Project) -> list[FileFacts]:
    return [
        f for f in project.files_of(*YAML_KINDS) if f.yaml is not None and not is_test_path(f.path)
    ]


def documents(project: Project) -> Iterator[tuple[FileFacts, YamlDoc]]:
    for facts in yaml_files(project):
        assert facts.yaml is not None
        for doc in facts.yaml.documents:
            yield facts, doc


def keys_named(project: Project, names: set[str] | frozenset[str]) -> list[KeyHit]:
    """Every key whose last segment is one of ``names``, in file order."""
    hits: list[KeyHit] = []
    for facts, doc in documents(project):
        for key in doc.keys:
            if leaf(key.path) in names:
                hits.append(KeyHit(facts.path, doc, key))
    return hits


def probes(project: Project) -> tuple[list[Evidence], list[Evidence]]:
    """Kubernetes liveness and readiness probes (also in Helm templates and values)."""
    live: list[Evidence] = []
    ready: list[Evidence] = []
    for hit in keys_named(project, {"livenessProbe", "readinessProbe", "startupProbe"}):
        where = f" of {hit.doc.kind} {hit.doc.name}" if hit.doc.kind and hit.doc.name else ""
        if hit.leaf == "readinessProbe":
            ready.append(Evidence(f"Kubernetes readinessProbe{where}", hit.path, hit.key.line))
        elif hit.leaf == "livenessProbe":
            live.append(Evidence(f"Kubernetes livenessProbe{where}", hit.path, hit.key.line))
    return live, ready
