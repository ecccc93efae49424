"""CI workflows read through PyYAML's composer, so every fact keeps its line.

Composing builds nodes without constructing Python objects: no tags are executed and
aliases are not expanded.
"""

from __future__ import annotations

import yaml

from mlaudit.index.facts import ParseError, Step, WorkflowFacts


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    result: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode):
            result[str(key.value)] = value
    return result


def compose_yaml(text: str) -> tuple[list[yaml.Node], list[ParseError]]:
    """All documents of a YAML file as node trees, or the parser's error with its line."""
    try:
        return [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None], []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        col = mark.column + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [ParseError(f"invalid YAML: {problem}", line, col)]


def _run_line(node: yaml.Node) -> int:
    """First line of a ``run:`` script: block scalars start on the line after ``|``."""
    line = node.start_mark.line + 1
    style = getattr(node, "style", None)
    return line + 1 if style in ("|", ">") else line


def parse_github_workflow(text: str) -> tuple[WorkflowFacts, list[ParseError]]:
    documents, errors = compose_yaml(text)
    facts = WorkflowFacts()
    if errors or not documents:
        return facts, errors
    top = _mapping(documents[0])
    facts.name = _scalar(top.get("name"))
    triggers = top.get("on") or top.get("true")  # YAML 1.1 reads a bare `on` as true
    if isinstance(triggers, yaml.ScalarNode):
        facts.triggers = [str(triggers.value)]
    elif isinstance(triggers, yaml.SequenceNode):
        facts.triggers = [str(n.value) for n in triggers.value if isinstance(n, yaml.ScalarNode)]
    elif isinstance(triggers, yaml.MappingNode):
        facts.triggers = list(_mapping(triggers))
    if "runs" in top:  # a composite action: action.yml
        runs = _mapping(top["runs"])
        facts.steps.extend(_steps("<action>", runs.get("steps")))
        return facts, errors
    for job_name, job in _mapping(top.get("jobs")).items():
        facts.jobs.append(job_name)
        body = _mapping(job)
        if "uses" in body:  # a job calling a reusable workflow
            node = body["uses"]
            facts.steps.append(
                Step(job=job_name, line=node.start_mark.line + 1, uses=_scalar(node))
            )
        facts.steps.extend(_steps(job_name, body.get("steps")))
    return facts, errors


def _steps(job: str, node: yaml.Node | None) -> list[Step]:
    steps: list[Step] = []
    if not isinstance(node, yaml.SequenceNode):
        return steps
    for item in node.value:
        step = _mapping(item)
        run = step.get("run")
        with_ = {
            k: str(v.value)
            for k, v in _mapping(step.get("with")).items()
            if isinstance(v, yaml.ScalarNode)
        }
        steps.append(
            Step(
                job=job,
                line=item.start_mark.line + 1,
                name=_scalar(step.get("name")),
                run=_scalar(run),
                run_line=_run_line(run) if run is not None else None,
                uses=_scalar(step.get("uses")),
                with_=with_,
            )
        )
    return steps
