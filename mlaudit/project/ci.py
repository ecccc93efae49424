"""What CI runs: every command line of every CI system's steps, with the Makefile targets,
tox environments and shell scripts those steps call followed one level.

A command found by following keeps its own file and line (the Makefile recipe line) and
says which CI step ran it (``via``), so evidence points at the line that does the work.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlaudit.index.facts import FileFacts, ScriptFacts, Step

if TYPE_CHECKING:
    from mlaudit.project import Project

CI_KINDS = (
    "github-workflow",
    "github-action",
    "gitlab-ci",
    "azure-pipelines",
    "circleci",
    "bitbucket",
    "jenkinsfile",
)
SEGMENTS = re.compile(r"&&|\|\||;|\|")
# Per-project memo (checks share the command list): keyed weakly on the Project.
_MEMO: weakref.WeakKeyDictionary[Any, dict[str, list[CommandLine]]] = weakref.WeakKeyDictionary()


def _memo(project: Project) -> dict[str, list[CommandLine]]:
    found = _MEMO.get(project)
    if found is None:
        found = _MEMO[project] = {}
    return found


@dataclass(frozen=True)
class CommandLine:
    """One command CI runs, at its file and line; ``via`` is the CI step that called the
    Makefile target, tox environment or script it comes from."""

    path: str
    line: int
    text: str
    via: tuple[str, int] | None = None

    @property
    def where(self) -> str:
        return f" (run by CI at {self.via[0]}:{self.via[1]})" if self.via else ""


def step_commands(path: str, step: Step) -> list[CommandLine]:
    """Logical command lines of one step's script, continuations joined."""
    if not step.run:
        return []
    commands: list[CommandLine] = []
    start = step.run_line or step.line
    pending, pending_line = "", start
    for offset, raw in enumerate(step.run.splitlines()):
        if not pending:
            pending_line = start + offset
        stripped = raw.strip()
        if stripped.endswith("\\") or stripped.endswith("`"):
            pending += stripped[:-1] + " "
            continue
        text = (pending + stripped).strip()
        pending = ""
        if text and not text.startswith("#"):
            commands.append(CommandLine(path, pending_line, text))
    if pending.strip():
        commands.append(CommandLine(path, pending_line, pending.strip()))
    return commands


def _ci_files(project: Project) -> list[FileFacts]:
    files = project.files_of(*CI_KINDS)
    included: list[str] = []
    for facts in files:
        if facts.kind == "gitlab-ci" and facts.workflow is not None:
            included.extend(facts.workflow.includes)
    for path in sorted(set(included)):
        extra = project.files.get(path)
        if extra is not None and extra.workflow is not None and extra not in files:
            files.append(extra)
    return files


def direct_commands(project: Project) -> list[CommandLine]:
    """Every command line written in CI configuration itself."""
    cached = _memo(project).get("ci-direct")
    if cached is not None:
        return list(cached)
    commands: list[CommandLine] = []
    for facts in _ci_files(project):
        if facts.workflow is None:
            continue
        for step in facts.workflow.steps:
            commands.extend(step_commands(facts.path, step))
    _memo(project)["ci-direct"] = commands
    return list(commands)


def ci_commands(project: Project) -> list[CommandLine]:
    """CI commands, then what ``make``/``tox``/scripts they call runs (one level)."""
    cached = _memo(project).get("ci-all")
    if cached is not None:
        return list(cached)
    direct = direct_commands(project)
    result = list(direct)
    seen: set[tuple[str, int]] = set()
    for command in direct:
        for called in followed(project, command):
            key = (called.path, called.line)
            if key in seen:
                continue
            seen.add(key)
            result.append(called)
    _memo(project)["ci-all"] = result
    return list(result)


def _tokens(segment: str) -> list[str]:
    try:
        return shlex.split(segment, comments=False, posix=True)
    except ValueError:
        return segment.split()


def followed(project: Project, command: CommandLine) -> list[CommandLine]:
    """The commands a CI command runs through make, tox or a shell script."""
    out: list[CommandLine] = []
    via = (command.path, command.line)
    for segment in SEGMENTS.split(command.text):
        tokens = _tokens(segment.strip())
        while tokens and ("=" in tokens[0] and not tokens[0].startswith("-")):
            tokens = tokens[1:]  # VAR=value make ...
        if not tokens:
            continue
        head = tokens[0].rsplit("/", 1)[-1]
        if head in ("make", "gmake"):
            out.extend(_make(project, tokens[1:], via))
        elif head == "tox" or tokens[:3] in (["python", "-m", "tox"], ["python3", "-m", "tox"]):
            out.extend(_tox(project, tokens, via))
        elif head == "nox" or tokens[:3] in (["python", "-m", "nox"], ["python3", "-m", "nox"]):
            out.extend(_nox(project, tokens, via))
        elif head in ("docker-compose", "podman-compose") or tokens[:2] == ["docker", "compose"]:
            out.extend(_compose(project, tokens, via))
        elif head == "mise" and len(tokens) > 2 and tokens[1] in ("run", "r"):
            out.extend(_mise(project, tokens[2:], via))
        else:
            script = _script_path(tokens)
            if script is not None:
                facts = project.files.get(script)
                if facts is not None and facts.script is not None and facts.kind == "shell":
                    out.extend(
                        CommandLine(script, c.line, c.text, via) for c in facts.script.commands
                    )
    return out


def _script_path(tokens: list[str]) -> str | None:
    head = tokens[0]
    if head in ("bash", "sh", "zsh", "source", ".") and len(tokens) > 1:
        candidate = next((t for t in tokens[1:] if not t.startswith("-")), None)
    elif head.endswith((".sh", ".bash")):
        candidate = head
    else:
        return None
    if candidate is None:
        return None
    return posixpath.normpath(candidate.lstrip("./") if candidate.startswith("./") else candidate)


def _make(project: Project, args: list[str], via: tuple[str, int]) -> list[CommandLine]:
    directory, makefile, targets = "", None, []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-C", "--directory") and index + 1 < len(args):
            directory, index = args[index + 1], index + 2
            continue
        if arg in ("-f", "--file", "--makefile") and index + 1 < len(args):
            makefile, index = args[index + 1], index + 2
            continue
        if arg.startswith("-C") and len(arg) > 2:
            directory = arg[2:]
        elif not arg.startswith("-") and "=" not in arg:
            targets.append(arg)
        index += 1
    directory = posixpath.normpath(directory) if directory else ""
    names = [makefile] if makefile else ["Makefile", "makefile", "GNUmakefile"]
    facts = None
    path = ""
    for name in names:
        path = posixpath.normpath(posixpath.join(directory, name)) if directory else name
        facts = project.files.get(path)
        if facts is not None and facts.script is not None:
            break
        facts = None
    if facts is None or facts.script is None:
        return []
    script: ScriptFacts = facts.script
    wanted = targets or script.sections[:1]
    # The target's recipe, and the recipes of its prerequisites (`evaluate: train`).
    order: list[str] = []
    for target in wanted:
        for name in (*script.depends.get(target, []), target):
            if name not in order:
                order.append(name)
    return [
        CommandLine(path, c.line, c.text, via)
        for name in order
        for c in script.commands
        if c.section == name
    ]


def _tox(project: Project, tokens: list[str], via: tuple[str, int]) -> list[CommandLine]:
    envs: list[str] = []
    for index, token in enumerate(tokens):
        if token in ("-e", "--env") and index + 1 < len(tokens):
            envs.extend(tokens[index + 1].split(","))
        elif token.startswith("-e") and len(token) > 2:
            envs.extend(token[2:].split(","))
    for name in ("tox.ini", "setup.cfg"):
        facts = project.files.get(name)
        if facts is None or facts.script is None:
            continue
        sections = {
            section
            for section in facts.script.sections
            if not envs
            or section.split(":", 1)[-1] in envs
            or section in ("testenv", "tox:testenv")
        }
        return [
            CommandLine(name, c.line, c.text, via)
            for c in facts.script.commands
            if c.section in sections
        ]
    return []


def _nox(project: Project, tokens: list[str], via: tuple[str, int]) -> list[CommandLine]:
    """``session.run("pytest", ...)`` of the noxfile sessions a ``nox -s`` call selects."""
    sessions: list[str] = []
    for index, token in enumerate(tokens):
        if token in ("-s", "--session", "--sessions", "-e") and index + 1 < len(tokens):
            sessions.extend(tokens[index + 1].split(","))
    info = project.symbols.by_path.get("noxfile.py")
    if info is None:
        return []
    found: list[CommandLine] = []
    for function in info.facts.functions:
        decorator = next((d for d in function.decorators if d.name.startswith("nox.")), None)
        if decorator is None:
            continue
        name = decorator.kwargs.get("name")
        session = str(name.value) if name is not None and name.kind == "const" else None
        session = session or function.qualname
        if sessions and session not in sessions:
            continue
        for call in info.calls_by_scope.get(function.qualname, []):
            if not call.name.endswith(".run") or not call.args:
                continue
            words = [str(a.value) for a in call.args if a.kind == "const" and a.value is not None]
            if words:
                found.append(CommandLine("noxfile.py", call.line, " ".join(words), via))
    return found


_RUNNERS = (("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"), ("hatch", "run"))


def python_scripts(project: Project) -> list[tuple[CommandLine, str]]:
    """The repository's Python modules that CI commands run (``python tools/x.py``,
    ``python -m pkg.tool``), each with the command that runs it."""
    cached = _memo(project).get("ci-python")
    if cached is not None:
        return list(cached)  # type: ignore[arg-type]
    found: list[tuple[CommandLine, str]] = []
    for command in ci_commands(project):
        for segment in SEGMENTS.split(command.text):
            tokens = _tokens(segment.strip())
            while tokens and "=" in tokens[0] and not tokens[0].startswith("-"):
                tokens = tokens[1:]
            for runner in _RUNNERS:
                if tuple(tokens[: len(runner)]) == runner:
                    tokens = tokens[len(runner) :]
            if not tokens or not tokens[0].rsplit("/", 1)[-1].startswith("python"):
                continue
            args = [t for t in tokens[1:] if t not in ("-u", "-B", "-O")]
            path: str | None = None
            if len(args) >= 2 and args[0] == "-m":
                path = project.symbols.find_module(args[1])
            elif args and args[0].endswith(".py"):
                candidate = posixpath.normpath(args[0])
                path = candidate if candidate in project.symbols.by_path else None
            if path is not None:
                found.append((command, path))
    _memo(project)["ci-python"] = found  # type: ignore[assignment]
    return list(found)


def _compose(project: Project, tokens: list[str], via: tuple[str, int]) -> list[CommandLine]:
    """``docker compose -f test.yml up``/``run svc``: the command or entrypoint of the
    services it starts, which is what the CI step really runs."""
    files: list[str] = []
    for index, token in enumerate(tokens):
        if token in ("-f", "--file") and index + 1 < len(tokens):
            files.append(posixpath.normpath(tokens[index + 1]))
    if not any(t in ("up", "run") for t in tokens):
        return []
    defaults = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
    if not files:
        files = [name for name in defaults if name in project.files][:1]
    found: list[CommandLine] = []
    for path in files:
        facts = project.files.get(path)
        if facts is None or facts.yaml is None:
            continue
        for doc in facts.yaml.documents:
            parts: dict[tuple[str, int], list[str]] = {}
            for key in doc.keys:
                segments = key.path.split(".")
                if len(segments) < 3 or segments[0] != "services" or key.value is None:
                    continue
                if segments[2].rstrip("[]") in ("command", "entrypoint"):
                    parts.setdefault((".".join(segments[:3]).rstrip("[]"), key.line), [])
                    parts[(".".join(segments[:3]).rstrip("[]"), key.line)].append(key.value)
            for (_where, line), words in sorted(parts.items(), key=lambda kv: kv[0][1]):
                found.append(CommandLine(path, line, " ".join(words), via))
    return found


def _mise(project: Project, args: list[str], via: tuple[str, int]) -> list[CommandLine]:
    """``mise run test``: the task's commands and those of the tasks it depends on (and of
    the tasks its commands run in turn, ``run = ["mise run a", "mise run b"]``)."""
    facts = next(
        (project.files[n] for n in ("mise.toml", ".mise.toml") if n in project.files), None
    )
    if facts is None or facts.script is None:
        return []
    script = facts.script
    path = facts.path
    wanted = [a for a in args if not a.startswith("-")][:1]
    found: list[CommandLine] = []
    seen: set[str] = set()
    while wanted:
        name = wanted.pop(0)
        if name in seen or name not in script.sections:
            continue
        seen.add(name)
        wanted[:0] = script.depends.get(name, [])
        for command in script.commands:
            if command.section != name:
                continue
            tokens = command.text.split()
            if tokens[:2] in (["mise", "run"], ["mise", "r"]) and len(tokens) > 2:
                wanted.append(tokens[2])
                continue
            found.append(CommandLine(path, command.line, command.text, via))
    return found
