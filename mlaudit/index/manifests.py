"""YAML configuration read as keys with lines: Kubernetes manifests (multi-document),
KServe/Seldon resources, Argo Rollouts, Istio routes, Prometheus rule files, Alertmanager
and Grafana alerting, compose files, serverless/SAM templates.

Each document becomes a flat list of keys (``spec.template.spec.containers[].livenessProbe``)
with the line PyYAML's composer marked, so checks can ask for a key anywhere and point at it.
Helm templates (Go templating breaks YAML) are read line by line from their indentation.
"""

from __future__ import annotations

import re

import yaml

from mlaudit.index.facts import ParseError, YamlDoc, YamlFacts, YamlKey

MAX_KEYS = 20_000  # per file: enough for any manifest, bounded for generated YAML

# A YAML file is read only when its text holds one of these (most YAML is app config).
TRIGGERS = (
    "apiVersion",
    "alert:",
    "groups:",
    "receivers:",
    "route:",
    "deploy:",
    "AWSTemplateFormatVersion",
    "AWS::",
    "provider:",
    "functions:",
    "services:",
    "ProductionVariants",
    "probe",
    "Probe",
    "healthcheck",
    "rules:",
    "build:",
    "rollout_strategy:",
)
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_KEY_LINE = re.compile(
    r"^(?P<key>[^\s#:'\"{}\[\]-][^:#]*?|\"[^\"]*\"|'[^']*')\s*:(?:\s+(?P<value>.*))?$"
)


def wanted(text: str) -> bool:
    return any(t in text for t in TRIGGERS)


def _scalar_text(node: yaml.Node) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def _flatten(node: yaml.Node, prefix: str, keys: list[YamlKey]) -> None:
    if len(keys) >= MAX_KEYS:
        return
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            keys.append(YamlKey(path, key.start_mark.line + 1, _scalar_text(value)))
            _flatten(value, path, keys)
    elif isinstance(node, yaml.SequenceNode):
        path = f"{prefix}[]"
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                keys.append(YamlKey(path, item.start_mark.line + 1, str(item.value)))
            else:
                _flatten(item, path, keys)


def _describe(doc: YamlDoc) -> YamlDoc:
    for key in doc.keys:
        if key.path == "kind" and doc.kind is None:
            doc.kind = key.value
        elif key.path == "apiVersion" and doc.api_version is None:
            doc.api_version = key.value
        elif key.path == "metadata.name" and doc.name is None:
            doc.name = key.value
    return doc


def parse_yaml_config(text: str, templated_ok: bool = True) -> tuple[YamlFacts, list[ParseError]]:
    """Keys of every document; templated text (``{{ }}``) is read line by line."""
    if templated_ok and "{{" in text:
        return YamlFacts(documents=_scan_lines(text), templated=True), []
    from mlaudit.index.workflows import compose_yaml

    documents, errors = compose_yaml(text)
    if errors:
        return YamlFacts(), errors
    facts = YamlFacts()
    for node in documents:
        keys: list[YamlKey] = []
        _flatten(node, "", keys)
        facts.documents.append(_describe(YamlDoc(line=node.start_mark.line + 1, keys=keys)))
    return facts, []


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _scan_lines(text: str) -> list[YamlDoc]:
    """Keys of a Helm template from indentation alone: template directives are skipped,
    ``{{ ... }}`` values are kept as text."""
    documents: list[YamlDoc] = []
    doc = YamlDoc(line=1)
    stack: list[tuple[int, str, bool]] = []  # (indent, segment, is a list item marker)
    count = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("---"):
            if doc.keys:
                documents.append(_describe(doc))
            doc, stack = YamlDoc(line=number + 1), []
            continue
        if _TEMPLATE.sub("", stripped).strip() == "":
            continue  # {{- if ... }}, {{ include ... | nindent 4 }}: no key of its own
        indent = len(raw) - len(raw.lstrip())
        body = stripped
        while body.startswith("- ") or body == "-":
            while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and stack[-1][2])):
                stack.pop()
            stack.append((indent, "[]", True))
            rest = body[1:]
            indent += 1 + (len(rest) - len(rest.lstrip()))
            body = rest.strip()
        if not body:
            continue
        match = _KEY_LINE.match(body)
        if match is None:
            if stack and stack[-1][2]:
                path = _path(stack)
                doc.keys.append(YamlKey(path, number, _unquote(body)))
            continue
        while stack and stack[-1][0] >= indent and not (stack[-1][2] and stack[-1][0] < indent):
            stack.pop()
        key = _unquote(match.group("key"))
        stack.append((indent, key, False))
        value = match.group("value")
        value = _unquote(value) if value and value.strip() not in ("|", ">", "|-", ">-") else None
        if count < MAX_KEYS:
            doc.keys.append(YamlKey(_path(stack), number, value or None))
            count += 1
    if doc.keys:
        documents.append(_describe(doc))
    return documents


def _path(stack: list[tuple[int, str, bool]]) -> str:
    path = ""
    for _indent, segment, marker in stack:
        if marker:
            path += "[]"
        else:
            path = f"{path}.{segment}" if path else segment
    return path
