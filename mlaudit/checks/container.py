"""7xx: container images (Dockerfiles read through BuildKit's parser)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.checks.serving_runtime import base_image_server
from mlaudit.index.facts import DockerInstruction, FileFacts
from mlaudit.project import Project
from mlaudit.project.deploy import documents, probes
from mlaudit.project.symbols import match_any
from mlaudit.results import Evidence, Finding, Outcome
from mlaudit.workspace import is_test_path

_ROOT_USERS = frozenset({"root", "0", "root:root", "0:0", "root:0", "0:root"})
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?")


@dataclass
class Stage:
    """One build stage: its FROM, its name, and the instructions in it."""

    image: str
    name: str | None
    line: int
    instructions: list[DockerInstruction] = field(default_factory=list)


def stages(facts: FileFacts) -> list[Stage]:
    found: list[Stage] = []
    for instruction in facts.docker.instructions if facts.docker else []:
        if instruction.cmd == "FROM":
            value = list(instruction.value)
            name = value[2] if len(value) >= 3 and value[1].upper() == "AS" else None
            found.append(Stage(value[0] if value else "", name, instruction.line))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def _args(facts: FileFacts) -> dict[str, str]:
    """ARG defaults, for resolving ``USER ${APP_USER}`` and ``FROM ${BASE}``."""
    values: dict[str, str] = {}
    for instruction in facts.docker.instructions if facts.docker else []:
        if instruction.cmd in ("ARG", "ENV"):
            for item in instruction.value:
                key, eq, default = item.partition("=")
                if eq:
                    values[key] = default.strip("\"'")
    return values


def _resolve(text: str, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(2) or m.group(0)), text)


def dockerfiles(project: Project) -> list[FileFacts]:
    """Production Dockerfiles: not tests, not dev containers."""
    return [
        f
        for f in project.files_of("dockerfile")
        if f.docker is not None and ".devcontainer/" not in f.path and not is_test_path(f.path)
    ]


def _exempt(image: str, rule: Rule) -> str | None:
    return match_any(image.lower(), rule.vocab("exempt-images"))


def _stage_chain(all_stages: list[Stage], stage: Stage) -> list[Stage]:
    """The stage and the earlier stages it is built FROM, nearest first."""
    chain = [stage]
    by_name = {s.name: s for s in all_stages if s.name}
    current = stage
    while current.image in by_name and by_name[current.image] not in chain:
        current = by_name[current.image]
        chain.append(current)
    return chain


@check("ML701")
def container_runs_as_root(project: Project, rule: Rule) -> Outcome:
    """The final stage of every image switches to a non-root USER."""
    findings: list[Finding] = []
    evidence: list[Evidence] = []
    exempt: list[Evidence] = []
    files = dockerfiles(project)
    for facts in files:
        all_stages = stages(facts)
        if not all_stages:
            continue
        values = _args(facts)
        final = all_stages[-1]
        chain = _stage_chain(all_stages, final)
        base = _resolve(chain[-1].image, values)
        pattern = _exempt(base, rule)
        if pattern is not None:
            exempt.append(
                Evidence(
                    f"base image {base} runs as a non-root platform user", facts.path, final.line
                )
            )
            continue
        user = None
        for stage in chain:
            users = [i for i in stage.instructions if i.cmd == "USER" and i.value]
            if users:
                user = users[-1]
                break
        if user is None:
            findings.append(
                Finding(
                    rule.code,
                    facts.path,
                    final.line,
                    f"the final stage (FROM {final.image}) sets no USER: the container runs "
                    "as root; add a non-root user and `USER` it",
                    symbol=f"FROM {final.image}",
                )
            )
            continue
        name = _resolve(user.value[0], values).strip()
        if name.lower() in _ROOT_USERS or name.lower().startswith(("root:", "0:")):
            findings.append(
                Finding(
                    rule.code,
                    facts.path,
                    user.line,
                    f"the final stage runs as `USER {user.value[0]}` (root)",
                    symbol=f"USER {user.value[0]}",
                )
            )
        else:
            evidence.append(Evidence(f"final stage runs as USER {name}", facts.path, user.line))
    if not files:
        return Outcome("n/a", "no production Dockerfile (dev containers are not audited)")
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} image(s) run as root",
            evidence[:5] + exempt[:2],
            findings,
        )
    if not evidence and not exempt:
        return Outcome("n/a", "no Dockerfile has a FROM instruction")
    return Outcome("pass", "every image runs as a non-root user", (evidence + exempt)[:5])


# -- ML702 -------------------------------------------------------------------------------------
def _command_text(stage_list: list[Stage]) -> tuple[DockerInstruction | None, str]:
    """The last CMD/ENTRYPOINT of a stage chain and the command it runs."""
    entry: DockerInstruction | None = None
    cmd: DockerInstruction | None = None
    for stage in reversed(stage_list):
        for instruction in stage.instructions:
            if instruction.cmd == "ENTRYPOINT":
                entry = instruction
            elif instruction.cmd == "CMD":
                cmd = instruction
    parts = [" ".join(i.value) for i in (entry, cmd) if i is not None]
    return (entry or cmd), " ".join(parts)


def serving_images(
    project: Project, rule: Rule
) -> list[tuple[FileFacts, Stage, list[Stage], DockerInstruction, str]]:
    """Images whose command starts the serving process (a server, or a module with routes)."""
    servers = rule.vocab("server-commands")
    route_modules = {r.handler_path for r in project.routes} | {
        o.path for o in project.route_objects
    }
    found = []
    for facts in dockerfiles(project):
        all_stages = stages(facts)
        if not all_stages:
            continue
        chain = _stage_chain(all_stages, all_stages[-1])
        instruction, text = _command_text(chain)
        if instruction is None:
            # No CMD of its own: a serving base image (tiangolo/uvicorn-gunicorn) starts it.
            root = chain[0]
            server = base_image_server(project, root.image) if root.image else None
            if server is None:
                continue
            instruction = DockerInstruction("FROM", [root.image], root.line, root.line)
            text = server
        words = text.replace("[", " ").replace("]", " ").replace(",", " ").split()
        serves = any(w.rsplit("/", 1)[-1] in servers for w in words) or any(
            w.strip("\"'") in route_modules
            or w.strip("\"'").replace(".", "/") + ".py" in route_modules
            for w in words
        )
        if serves:
            found.append((facts, all_stages[-1], chain, instruction, text))
    return found


@check("ML702")
def no_container_healthcheck(project: Project, rule: Rule) -> Outcome:
    """A HEALTHCHECK in the serving image, or Kubernetes probes for it."""
    images = serving_images(project, rule)
    if not images:
        return Outcome("n/a", "no Dockerfile starts the serving process (CMD/ENTRYPOINT)")
    live, ready = probes(project)
    live.extend(_compose_healthchecks(project))
    findings: list[Finding] = []
    evidence: list[Evidence] = []
    values_cache: dict[str, dict[str, str]] = {}
    for facts, final, chain, _instruction, text in images:
        values = values_cache.setdefault(facts.path, _args(facts))
        base = _resolve(chain[-1].image, values)
        if _exempt(base, rule) is not None:
            evidence.append(
                Evidence(
                    f"platform image {base}: the platform checks health", facts.path, final.line
                )
            )
            continue
        checks = [i for s in chain for i in s.instructions if i.cmd == "HEALTHCHECK"]
        last = checks[-1] if checks else None
        if last is not None and last.value[:1] != ["NONE"]:
            evidence.append(Evidence("HEALTHCHECK in the serving image", facts.path, last.line))
            continue
        if live or ready:
            evidence.extend((live + ready)[:2])
            continue
        reason = "HEALTHCHECK NONE" if last is not None else "no HEALTHCHECK"
        findings.append(
            Finding(
                rule.code,
                facts.path,
                final.line,
                f"serving image (`{text[:60]}`) has {reason} and no Kubernetes "
                "liveness/readiness probe was found",
                symbol=f"FROM {final.image}",
            )
        )
    if findings:
        return Outcome(
            "fail", f"{len(findings)} serving image(s) without a health check", evidence, findings
        )
    return Outcome("pass", "the serving image has a health check", evidence[:5])


def _compose_healthchecks(project: Project) -> list[Evidence]:
    """``healthcheck:`` of compose services (``disable: true`` and ``test: [NONE]`` aside)."""
    found: list[Evidence] = []
    for facts, doc in documents(project):
        if facts.kind != "compose":
            continue
        for key in doc.keys:
            parts = key.path.split(".")
            if len(parts) != 3 or parts[0] != "services" or parts[2] != "healthcheck":
                continue
            inner = {
                k.path[len(key.path) + 1 :]: k.value
                for k in doc.keys
                if k.path.startswith(key.path + ".")
            }
            if (inner.get("disable") or "").lower() == "true" or inner.get("test[]") == "NONE":
                continue
            found.append(
                Evidence(f"compose healthcheck of service {parts[1]}", facts.path, key.line)
            )
    return found


# -- ML704 -------------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    text = pattern.strip().lstrip("/").rstrip("/")
    out = ""
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
            continue
        if text.startswith("**", index):
            out += ".*"
            index += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        index += 1
    return re.compile(f"^{out}(?:/.*)?$")


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore ``patterns`` exclude ``path`` (relative to the context)."""
    result = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        if pattern.strip() in ("", "."):
            continue
        if _pattern_regex(pattern).match(path):
            result = not negate
    return result


def _contexts(project: Project) -> dict[str, list[tuple[str, int, str]]]:
    """Build contexts: each Dockerfile's directory, and compose `build:` contexts."""
    contexts: dict[str, list[tuple[str, int, str]]] = {}
    for facts in dockerfiles(project):
        directory = posixpath.dirname(facts.path)
        contexts.setdefault(directory, []).append((facts.path, 1, "Dockerfile"))
    for facts, doc in documents(project):
        if facts.kind != "compose":
            continue
        base = posixpath.dirname(facts.path)
        for key in doc.keys:
            parts = key.path.split(".")
            is_build = len(parts) == 3 and parts[0] == "services" and parts[2] == "build"
            is_context = len(parts) == 4 and parts[2] == "build" and parts[3] == "context"
            if (is_build or is_context) and key.value and "://" not in key.value:
                directory = posixpath.normpath(posixpath.join(base, key.value))
                if directory == ".":
                    directory = ""
                if directory.startswith(".."):
                    continue
                contexts.setdefault(directory, []).append((facts.path, key.line, "compose build"))
    return contexts


@check("ML704")
def no_dockerignore(project: Project, rule: Rule) -> Outcome:
    """A .dockerignore that keeps data, models and .git out of every build context."""
    contexts = _contexts(project)
    if not contexts:
        return Outcome("n/a", "no Dockerfile")
    failing: list[Evidence] = []
    partial: list[Evidence] = []
    passing: list[Evidence] = []
    anchor: Evidence | None = None
    heavy_any = False
    for directory, users in sorted(contexts.items()):
        prefix = f"{directory}/" if directory else ""
        heavy = [
            f.path[len(prefix) :]
            for f in project.workspace.files
            if f.kind in ("data", "model") and f.path.startswith(prefix)
        ]
        if not directory and project.workspace.is_git:
            heavy.insert(0, ".git")
        if not heavy:
            continue
        heavy_any = True
        user_path, user_line, _ = users[0]
        ignore = project.files.get(f"{prefix}.dockerignore")
        per_file = project.files.get(f"{user_path}.dockerignore")
        ignore = per_file or ignore
        shown = ", ".join(heavy[:3]) + (f" and {len(heavy) - 3} more" if len(heavy) > 3 else "")
        where = directory or "the repository root"
        if ignore is None:
            failing.append(
                Evidence(
                    f"build context {where} holds {shown} and has no .dockerignore",
                    user_path,
                    user_line,
                )
            )
            anchor = anchor or Evidence(
                f"add a .dockerignore beside {user_path}", user_path, user_line
            )
            continue
        left = [p for p in heavy if not ignored(p, ignore.patterns)]
        if left:
            shown = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
            partial.append(Evidence(f"{ignore.path} does not exclude {shown}", ignore.path, 1))
        else:
            passing.append(
                Evidence(
                    f"{ignore.path} excludes the {len(heavy)} data/model/.git path(s) of "
                    "the build context",
                    ignore.path,
                    1,
                )
            )
    if not heavy_any:
        return Outcome("n/a", "no build context holds data files, model files or .git")
    if failing:
        return Outcome(
            "fail",
            "a build context holds data, models or .git and has no .dockerignore",
            failing + partial,
            anchor=anchor,
        )
    if partial:
        return Outcome(
            "partial",
            ".dockerignore leaves data, models or .git in the build context",
            partial,
            anchor=partial[0],
        )
    return Outcome("pass", ".dockerignore keeps data, models and .git out of the build", passing)
