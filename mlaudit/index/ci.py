"""CI systems other than GitHub Actions, read into the same Step facts, and the files CI
steps call (Makefile targets, tox environments, shell scripts, .dockerignore patterns).

GitLab CI (jobs with ``script``/``before_script``/``after_script``, ``extends`` and local
``include``), Azure Pipelines (``script``/``bash``/``pwsh``/``powershell`` steps), CircleCI
(``run`` steps), Bitbucket Pipelines (``script``) are YAML: one generic walk finds the
script entries and keeps each line. Jenkinsfiles are Groovy: ``sh``/``bat``/``powershell``
steps are found in the text.
"""

from __future__ import annotations

import re

import yaml

from mlaudit.index.facts import ParseError, ScriptCommand, ScriptFacts, Step, WorkflowFacts

# Keys whose value is a shell script (a string or a list of strings), per CI system.
SCRIPT_KEYS = frozenset(
    {
        "script",
        "before_script",
        "after_script",
        "bash",
        "pwsh",
        "powershell",
        "command",
        "run",
        "inlineScript",  # Azure CLI tasks
    }
)
_GITLAB_RESERVED = frozenset(
    {
        "stages",
        "variables",
        "include",
        "default",
        "workflow",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
        "types",
        "pages:deploy",
    }
)


def _mapping(node: yaml.Node | None) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]


def _script_steps(job: str, node: yaml.Node) -> list[Step]:
    """Steps from a script value: one Step per list item, or one for a block."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    steps: list[Step] = []
    for item in items:
        if isinstance(item, yaml.SequenceNode):  # GitLab allows nested lists (anchors)
            steps.extend(_script_steps(job, item))
            continue
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
            continue
        line = item.start_mark.line + 1
        run_line = line + 1 if getattr(item, "style", None) in ("|", ">") else line
        steps.append(Step(job=job, line=line, run=str(item.value), run_line=run_line))
    return steps


def _walk(node: yaml.Node, job: str, parent: str, steps: list[Step], depth: int = 0) -> None:
    """Collect script entries anywhere; a key under ``jobs:`` names the job."""
    if depth > 40:
        return
    if isinstance(node, yaml.MappingNode):
        for key, value in _mapping(node):
            name = str(key.value)
            if name in SCRIPT_KEYS and isinstance(value, (yaml.ScalarNode, yaml.SequenceNode)):
                steps.extend(_script_steps(job or name, value))
                continue
            if name == "task" and isinstance(value, yaml.ScalarNode):  # Azure `- task: X@1`
                line = key.start_mark.line + 1
                steps.append(Step(job=job or name, line=line, uses=str(value.value)))
                continue
            child = name if (parent == "jobs" or not job) else job
            _walk(value, child, name, steps, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _walk(item, job, parent, steps, depth + 1)


def parse_ci_yaml(text: str, kind: str) -> tuple[WorkflowFacts, list[ParseError]]:
    """Script steps of a GitLab, Azure, CircleCI or Bitbucket configuration."""
    from mlaudit.index.workflows import compose_yaml

    documents, errors = compose_yaml(text)
    facts = WorkflowFacts()
    if errors or not documents:
        return facts, errors
    top = documents[0]
    if kind == "gitlab-ci" or kind == "yaml":
        _gitlab(top, facts)
    else:
        steps: list[Step] = []
        _walk(top, "", "", steps)
        facts.steps = steps
        facts.jobs = sorted({s.job for s in steps})
    return facts, []


def _gitlab(top: yaml.Node, facts: WorkflowFacts) -> None:
    jobs = {str(k.value): v for k, v in _mapping(top)}
    extended: set[str] = set()
    for _name, body in jobs.items():
        for key, value in _mapping(body):
            if key.value == "extends":
                names = (
                    [value.value]
                    if isinstance(value, yaml.ScalarNode)
                    else [
                        n.value
                        for n in getattr(value, "value", [])
                        if isinstance(n, yaml.ScalarNode)
                    ]
                )
                extended.update(str(n) for n in names)
    include = jobs.get("include")
    for item in include.value if isinstance(include, yaml.SequenceNode) else [include]:
        if isinstance(item, yaml.ScalarNode) and item.value:
            facts.includes.append(str(item.value).lstrip("/"))
        for key, value in _mapping(item):
            if key.value == "local" and isinstance(value, yaml.ScalarNode):
                facts.includes.append(str(value.value).lstrip("/"))
    for name, body in jobs.items():
        if name in _GITLAB_RESERVED and name not in ("before_script", "after_script"):
            continue
        if name in ("before_script", "after_script"):  # global (deprecated) scripts
            facts.steps.extend(_script_steps("<default>", body))
            continue
        if name.startswith(".") and name not in extended:
            continue  # a hidden template nobody extends never runs
        if not isinstance(body, yaml.MappingNode):
            continue
        facts.jobs.append(name)
        for key, value in _mapping(body):
            if key.value in ("script", "before_script", "after_script"):
                facts.steps.extend(_script_steps(name, value))


_JENKINS_STEP = re.compile(
    r"\b(?:sh|bat|powershell|pwsh)\s*\(?\s*(?:script\s*:\s*)?"
    r"(?:'''(?P<b1>[\s\S]{0,20000}?)'''|\"\"\"(?P<b2>[\s\S]{0,20000}?)\"\"\""
    r"|'(?P<b3>[^'\n]*)'|\"(?P<b4>[^\"\n]*)\")"
)


def parse_jenkinsfile(text: str) -> WorkflowFacts:
    facts = WorkflowFacts()
    stages = [(m.start(), m.group(1)) for m in re.finditer(r"\bstage\s*\(\s*['\"]([^'\"]+)", text)]
    stage_index, stage = 0, ""
    position, line = 0, 1
    for match in _JENKINS_STEP.finditer(text):
        while stage_index < len(stages) and stages[stage_index][0] < match.start():
            stage = stages[stage_index][1]
            stage_index += 1
        group = next(g for g in ("b1", "b2", "b3", "b4") if match.group(g) is not None)
        body_start = match.start(group)
        line += text.count("\n", position, body_start)
        position = body_start
        body = match.group(group)
        run_line = line
        if body.startswith("\n"):
            body, run_line = body[1:], line + 1
        facts.steps.append(Step(job=stage or "<pipeline>", line=line, run=body, run_line=run_line))
    facts.jobs = sorted({s.job for s in facts.steps})
    return facts


# -- files CI steps call ---------------------------------------------------------------------
_MAKE_TARGET = re.compile(r"^(?P<targets>[^\s:=#][^:=#]*?)\s*::?(?!=)\s*(?P<deps>[^;=#]*)")
_MAKE_VAR = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\?|:|::|\+)?=\s*(?P<value>.*)$")


def _joined(lines: list[str]) -> list[tuple[int, str]]:
    """Logical lines (backslash continuations joined) with their first line number."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(lines, start=1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        out.append((start, pending + raw))
        pending = ""
    if pending:
        out.append((start, pending))
    return out


def parse_makefile(text: str) -> ScriptFacts:
    facts = ScriptFacts()
    variables: dict[str, str] = {}
    target: list[str] = []
    for number, line in _joined(text.splitlines()):
        if line.startswith("\t"):
            command = line.strip().lstrip("@-+").strip()
            if target and command and not command.startswith("#"):
                command = _expand(command, variables)
                for name in target:
                    facts.commands.append(ScriptCommand(name, number, command))
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        var = _MAKE_VAR.match(stripped)
        if var is not None and ":" not in var.group("name"):
            variables[var.group("name")] = var.group("value").strip()
            continue
        match = _MAKE_TARGET.match(stripped)
        if match is None:
            target = []
            continue
        names = [t for t in match.group("targets").split() if not t.startswith(".")]
        target = names
        for name in names:
            if name not in facts.sections:
                facts.sections.append(name)
            deps = [d for d in match.group("deps").split() if not d.startswith("$")]
            if deps:
                facts.depends[name] = deps
        recipe = stripped.split(";", 1)[1].strip() if ";" in stripped else ""
        if recipe:
            for name in names:
                facts.commands.append(ScriptCommand(name, number, _expand(recipe, variables)))
    return facts


_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(command: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return variables.get(match.group(1) or match.group(2), match.group(0))

    for _ in range(3):
        expanded = re.sub(
            r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}", replace, command
        )
        if expanded == command:
            break
        command = expanded
    return command


def parse_tox_ini(text: str) -> ScriptFacts:
    """``commands =`` of every ``[testenv*]`` section (setup.cfg's ``[tox:...]`` too)."""
    facts = ScriptFacts()
    section = ""
    in_commands = False
    for number, line in _joined(text.splitlines()):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            in_commands = False
            if section.startswith(("testenv", "tox:testenv")):
                facts.sections.append(section)
            continue
        if not section.startswith(("testenv", "tox:testenv")):
            continue
        key, eq, value = stripped.partition("=")
        if eq and not line[:1].isspace():
            in_commands = key.strip() in ("commands", "commands_pre")
            value = value.strip()
            if in_commands and value:
                facts.commands.append(ScriptCommand(section, number, value))
            continue
        if in_commands and line[:1].isspace() and stripped and not stripped.startswith("#"):
            facts.commands.append(ScriptCommand(section, number, stripped))
    return facts


def parse_shell(text: str) -> ScriptFacts:
    facts = ScriptFacts()
    first = text.split("\n", 1)[0]
    if first.startswith("#!") and not re.search(r"\b(?:ba|z|da|k)?sh\b", first):
        return facts  # `#!/usr/bin/env python`: not a shell script
    for number, line in _joined(text.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            facts.commands.append(ScriptCommand("", number, stripped))
    return facts


def parse_dockerignore(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


MISE_FILES = frozenset({"mise.toml", ".mise.toml", "mise.local.toml"})


def parse_mise(text: str) -> ScriptFacts:
    """mise tasks (``[tasks.test] run = "uv run pytest"``, ``depends = [...]``): one
    section per task, its ``run`` lines as commands, dependencies like make's."""
    from mlaudit.index.requirements import tomllib

    facts = ScriptFacts()
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):  # broken: nothing CI can be followed into
        return facts
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, dict):
        return facts
    lines = text.splitlines()
    for name, task in tasks.items():
        if isinstance(task, str):
            task = {"run": task}
        if not isinstance(task, dict):
            continue
        facts.sections.append(str(name))
        depends = task.get("depends")
        if isinstance(depends, list):
            facts.depends[str(name)] = [str(d) for d in depends]
        runs = task.get("run")
        for command in runs if isinstance(runs, list) else [runs]:
            if not isinstance(command, str):
                continue
            for offset, part in enumerate(c for c in command.splitlines() if c.strip()):
                line = _find_line(lines, part.strip(), offset)
                facts.commands.append(ScriptCommand(str(name), line, part.strip()))
    return facts


def _find_line(lines: list[str], needle: str, fallback: int) -> int:
    for number, line in enumerate(lines, 1):
        if needle in line:
            return number
    return fallback + 1
