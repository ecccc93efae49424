"""3xx: how the serving process is started and stopped.

ML305 no-graceful-shutdown and ML311 debug-server read the same entry points: Dockerfile
CMD/ENTRYPOINT (exec or shell form), Procfile process lines, and ``__main__`` blocks that
start a server.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from fnmatch import fnmatch

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.checks.handlers import HANDLER_ONLY, handlers
from mlaudit.index.facts import Call, DockerInstruction
from mlaudit.project import Project
from mlaudit.project.inference import lambda_adapter
from mlaudit.project.symbols import ModuleInfo, match_any
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5


@dataclass
class EntryPoint:
    """A command that starts a process: a Dockerfile CMD/ENTRYPOINT or a Procfile line."""

    path: str
    line: int
    words: list[str]  # the command, split as the shell would
    shell_form: bool  # run through /bin/sh -c (exec form with `sh -c` counts too)
    exec_prefixed: bool
    text: str


def entry_points(project: Project) -> list[EntryPoint]:
    """Commands that start processes: Dockerfile CMD/ENTRYPOINT (or the start command a
    serving base image brings), Procfile lines, and server starts in shell scripts."""
    result: list[EntryPoint] = []
    base_images = _base_image_servers(project)
    for facts in project.files_of("dockerfile"):
        if facts.docker is None:
            continue
        last: dict[str, DockerInstruction] = {}
        base: DockerInstruction | None = None
        for instruction in facts.docker.instructions:
            if instruction.cmd == "FROM":
                last = {}
                base = instruction
            elif instruction.cmd in ("CMD", "ENTRYPOINT"):
                last[instruction.cmd] = instruction
        for instruction in sorted(last.values(), key=lambda i: i.line):
            result.append(_docker_entry(facts.path, instruction))
        if not last and base is not None and base.value:
            server = base_image_server(project, base.value[0], base_images)
            if server is not None:
                text = f"{server} (the start command of base image {base.value[0]})"
                result.append(EntryPoint(facts.path, base.line, [server], False, False, text))
    for facts in project.files_of("shell"):
        for command in facts.script.commands if facts.script is not None else []:
            words = _split(command.text)
            if words[:1] == ["exec"]:
                words = words[1:]
            if _server(words, project.rule("ML305").vocab("servers")) is not None:
                result.append(
                    EntryPoint(facts.path, command.line, words, False, False, command.text)
                )
    for facts in project.files_of("procfile"):
        for process in facts.processes:
            words = _split(process.command)
            # Heroku runs Procfile commands with a shell, but the process still gets signals
            # when it replaces it; only wrappers count as shell form here.
            shell, prefixed, words = _unwrap(words, False)
            result.append(
                EntryPoint(facts.path, process.line, words, shell, prefixed, process.command)
            )
    return result


def base_image_server(
    project: Project, image: str, pairs: list[tuple[str, str]] | None = None
) -> str | None:
    """The server a base image's own CMD starts (``tiangolo/uvicorn-gunicorn`` ->
    gunicorn), or None."""
    name = image.split("@", 1)[0].rsplit(":", 1)[0].lower()
    pairs = _base_image_servers(project) if pairs is None else pairs
    return next((server for pattern, server in pairs if fnmatch(name, pattern)), None)


def _base_image_servers(project: Project) -> list[tuple[str, str]]:
    """(image pattern, server) pairs: base images whose own CMD starts the app server."""
    pairs = []
    for entry in (
        project.rule("ML305").vocab("serving-base-images") if "ML305" in project.rules else ()
    ):
        pattern, _, server = entry.partition("=")
        if server:
            pairs.append((pattern.strip().lower(), server.strip()))
    return pairs


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _unwrap(words: list[str], shell: bool) -> tuple[bool, bool, list[str]]:
    """Peel ``sh -c "..."`` and a leading ``exec``: (shell form, exec-prefixed, command)."""
    if len(words) >= 3 and words[0].rsplit("/", 1)[-1] in ("sh", "bash") and words[1] == "-c":
        return _unwrap(_split(words[2]), True)
    if words[:1] == ["exec"]:
        return shell, True, words[1:]
    return shell, False, words


def _docker_entry(path: str, instruction: DockerInstruction) -> EntryPoint:
    if instruction.json_form:
        words = list(instruction.value)
        shell = False
    else:
        words = _split(" ".join(instruction.value))
        shell = True
    shell, prefixed, words = _unwrap(words, shell)
    text = " ".join(instruction.value)
    return EntryPoint(path, instruction.line, words, shell, prefixed, text)


def _server(
    words: list[str], servers: tuple[str, ...], scripts: set[str] | None = None
) -> str | None:
    """The server an entry point starts (``uvicorn``, ``flask run``, ``python app.py``).

    ``scripts``: repository paths and module names whose ``__main__`` starts a server; a
    ``python script.py`` that is not one of them (a training job) starts no server."""
    if not words:
        return None
    head = words[0].rsplit("/", 1)[-1]
    if head.startswith("python") and len(words) > 2 and words[1] == "-m":
        if scripts is not None and words[2] in scripts:
            return f"python -m {words[2]}"
        head, words = words[2], words[2:]
    if head in servers:
        if head == "flask" and "run" in words:
            return "flask run"  # `flask --app app run`: options may come first
        if head in ("flask", "bentoml", "serve", "streamlit") and len(words) > 1:
            return f"{head} {words[1]}"
        return head
    if head.startswith("python") and len(words) > 1 and words[1].endswith(".py"):
        script = words[1].lstrip("./")
        if scripts is None or any(script == p or p.endswith("/" + script) for p in scripts):
            return f"python {words[1]}"
    return None


def server_scripts(project: Project, starters: tuple[str, ...]) -> set[str]:
    """Paths and module names of modules that start a server when run as a script."""
    found: set[str] = set()
    for run in main_runs(project, starters):
        info = project.symbols.by_path[run.path]
        found.update({run.path, info.facts.module})
    return found


@dataclass
class MainRun:
    """A server started from code (``uvicorn.run``, ``app.run``) in a module."""

    path: str
    call: Call
    name: str
    server: str  # "uvicorn", "flask-dev", ...


def main_runs(project: Project, starters: tuple[str, ...]) -> list[MainRun]:
    """Servers started from code, in module and call order (memoised: four checks ask)."""
    memo: dict[int, tuple[tuple[str, ...], list[MainRun]]]
    memo = project.__dict__.setdefault("_mlaudit_main_runs", {})
    known = memo.get(id(starters))
    if known is None or known[0] is not starters:
        known = (starters, _main_runs(project, starters))
        memo[id(starters)] = known
    return known[1]


def _main_runs(project: Project, starters: tuple[str, ...]) -> list[MainRun]:
    found: list[MainRun] = []
    flask_apps = {(o.path, o.var) for o in project.route_objects if o.framework == "flask"}
    for info in project.modules():
        for call in info.facts.calls:
            if project.call_matches(call, starters):
                name = project.call_name(info.path, call)
                found.append(MainRun(info.path, call, name, name.split(".")[0]))
                continue
            owner, _, method = call.name.rpartition(".")
            if (
                method == "run"
                and owner
                and _is_flask_app(project, info, owner, flask_apps, call.scope)
            ):
                found.append(MainRun(info.path, call, call.name, "flask-dev"))
    return found


def _is_flask_app(
    project: Project, info: ModuleInfo, owner: str, apps: set[tuple[str, str]], scope: str = ""
) -> bool:
    """Whether ``owner`` (of ``owner.run()``) is a Flask app: built here, imported, or
    returned by an application factory (``app = create_app()``, ``create_app().run()``)."""
    if (info.path, owner) in apps:
        return True
    if owner.endswith("()"):
        return _is_factory(project, info.path, scope, owner[:-2])
    assign = info.variable(scope, owner)
    if assign is not None and assign.value.kind == "call" and isinstance(assign.value.value, str):
        return _is_factory(project, info.path, assign.scope, assign.value.value)
    dotted = info.bindings.get(owner)
    if dotted is None:
        return False
    split = project.symbols.split_module(dotted, info.path)
    return split is not None and split in apps


def _is_factory(project: Project, path: str, scope: str, called: str) -> bool:
    """A repository function that builds a Flask app (the app object is created in it)."""
    symbols = project.symbols
    target = symbols.resolve_dotted(called, path) if "." in called else None
    if target is None:
        target = symbols.resolve_call_name(path, scope, called)
    if target is None or target.kind != "function" or target.path is None:
        return False
    return any(
        o.framework == "flask"
        and o.role == "app"
        and o.path == target.path
        and o.scope == target.name
        for o in project.route_objects
    )


# -- ML305 ---------------------------------------------------------------------------------
@check("ML305")
def no_graceful_shutdown(project: Project, rule: Rule) -> Outcome:
    servers = rule.vocab("servers")
    draining = rule.vocab("draining-servers")
    frameworks = rule.vocab("draining-frameworks")
    hooks = rule.vocab("shutdown-hooks")
    shutdown_kwargs = rule.vocab("shutdown-kwargs")
    settings = rule.vocab("shutdown-settings")
    signals = rule.vocab("shutdown-signals")
    signal_calls = rule.vocab("signal-calls")
    starters = rule.vocab("server-starts")
    every = handlers(project)
    if every and all(h.route.framework in HANDLER_ONLY for h in every):
        kinds = ", ".join(sorted({h.route.framework for h in every}))
        return Outcome(
            "n/a", f"handler-style serving ({kinds}): the platform owns the process lifecycle"
        )
    adapter = lambda_adapter(project)
    if adapter is not None:
        return Outcome(
            "n/a",
            "the app runs inside a Lambda handler: the platform owns the process lifecycle",
            [adapter],
        )
    evidence: list[Evidence] = []
    findings: list[Finding] = []
    dev_server: list[Evidence] = []
    for info in project.modules():
        candidates = {id(c) for c in project.calls_in_module(info.path, hooks, signal_calls)}
        for call in info.facts.calls:
            keys = [key for key in shutdown_kwargs if key in call.kwargs] if call.kwargs else []
            if not keys and id(call) not in candidates:
                continue
            hooked, signalled = (
                project.call_matches(call, hooks),
                project.call_matches(call, signal_calls),
            )
            name = project.call_name(info.path, call)
            hook = hooked and _is_shutdown_hook(name, call)
            handler = signalled and any(
                sig in str(call.args[0].value) for sig in signals if call.args
            )
            if hook or handler:
                evidence.append(Evidence(f"shutdown handling: {name}()", info.path, call.line))
            for key in keys:
                if key in call.kwargs:
                    evidence.append(
                        Evidence(f"shutdown handling: {name}({key}=...)", info.path, call.line)
                    )
        for function in info.facts.functions:
            for deco in function.decorators:
                if deco.name.endswith(".on_event") and any(
                    a.value == "shutdown" for a in deco.args
                ):
                    evidence.append(
                        Evidence(
                            f"shutdown event handler {function.qualname}()", info.path, deco.line
                        )
                    )
        for assign in info.facts.assigns:
            setting = next((t for t in assign.targets if t in settings), None)
            if not assign.scope and setting is not None:
                evidence.append(Evidence(f"server setting {setting}", info.path, assign.line))
        framework = next(
            (
                imported
                for i in info.facts.imports
                for imported in (i.module, f"{i.module}.{i.name}" if i.name else "")
                if imported and match_any(imported, frameworks)
            ),
            None,
        )
        if framework is not None:
            evidence.append(
                Evidence(
                    f"{framework} drains in-flight requests on SIGTERM",
                    info.path,
                    info.facts.imports[0].line,
                )
            )
    scripts = server_scripts(project, starters)
    for entry in entry_points(project):
        server = _server(entry.words, servers, scripts)
        if server is None:
            continue
        if entry.shell_form and not entry.exec_prefixed:
            findings.append(
                Finding(
                    rule.code,
                    entry.path,
                    entry.line,
                    f"`{entry.text}` starts {server} through /bin/sh, which does not pass "
                    'SIGTERM on: use the exec form (CMD ["..."]) or `exec`',
                    symbol="CMD",
                )
            )
            continue
        if server == "flask run" or server.endswith("runserver"):
            dev_server.append(
                Evidence(f"development server `{entry.text}`", entry.path, entry.line)
            )
        elif server.split()[0] in draining:
            evidence.append(
                Evidence(f"{server} receives SIGTERM and drains requests", entry.path, entry.line)
            )
    served_from_entry = bool(evidence) and any(
        e.path in {p.path for p in entry_points(project)} for e in evidence
    )
    for run in main_runs(project, starters):
        if run.server == "flask-dev":
            if (run.call.in_main or not run.call.scope) and not served_from_entry:
                dev_server.append(
                    Evidence(f"Flask development server {run.name}()", run.path, run.call.line)
                )
        elif run.server in draining:
            evidence.append(
                Evidence(
                    f"{run.name}() serves with {run.server}, which drains on SIGTERM",
                    run.path,
                    run.call.line,
                )
            )
    for item in dev_server:
        assert item.path is not None and item.line is not None
        findings.append(
            Finding(
                rule.code,
                item.path,
                item.line,
                f"{item.message} in a production entry point: it neither drains requests on "
                "SIGTERM nor is meant for production; serve with gunicorn/uvicorn",
            )
        )
    anchor = project.app_anchor()
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} entry point(s) keep SIGTERM from the server or run a "
            "development server",
            evidence[:MAX_EVIDENCE],
            findings,
            anchor=anchor,
        )
    if evidence:
        return Outcome(
            "pass", "shutdown is handled: " + evidence[0].message, evidence[:MAX_EVIDENCE]
        )
    return Outcome(
        "fail",
        "no shutdown handling: no lifespan/shutdown hook, SIGTERM handler, or server started "
        "so that it drains on SIGTERM (uvicorn, gunicorn) was found",
        [anchor] if anchor else [],
        anchor=anchor,
    )


def _is_shutdown_hook(name: str, call: Call) -> bool:
    if name.endswith(("on_event", "add_event_handler")):
        return any(a.value == "shutdown" for a in call.args[:1])
    return True


# -- ML311 ---------------------------------------------------------------------------------
_DEBUG_FLAG = re.compile(r"^--(reload|debug|debugger|reload-dir.*)$")


@check("ML311")
def debug_server(project: Project, rule: Rule) -> Outcome:
    servers = project.rule("ML305").vocab("servers") if "ML305" in project.rules else ()
    starters = rule.vocab("server-starts")
    debug_kwargs = rule.vocab("debug-kwargs")
    debug_apps = rule.vocab("debug-apps")
    scripts = server_scripts(project, starters)
    findings: dict[tuple[str, int], Finding] = {}
    evidence: list[Evidence] = []
    for entry in entry_points(project):
        server = _server(entry.words, servers, scripts) if servers else None
        if server is None:
            continue
        flags = [w for w in entry.words if _DEBUG_FLAG.match(w.split("=", 1)[0])]
        if flags:
            findings[(entry.path, entry.line)] = Finding(
                rule.code,
                entry.path,
                entry.line,
                f"`{entry.text}` runs {server} with {flags[0]} in the production entry point: "
                "auto-reload and debuggers watch files, leak tracebacks and can execute code",
                symbol="CMD",
            )
        else:
            evidence.append(
                Evidence(
                    f"`{entry.text}` starts {server} without debug flags", entry.path, entry.line
                )
            )
    for facts in project.files_of("dockerfile"):
        if facts.docker is None:  # unreadable (binary, over budget): an ML901 finding
            continue
        for instruction in facts.docker.instructions:
            if instruction.cmd != "ENV":
                continue
            text = " ".join(instruction.value)
            if re.search(r"FLASK_DEBUG[= ]\s*(1|true)\b|FLASK_ENV[= ]\s*development", text, re.I):
                findings[(facts.path, instruction.line)] = Finding(
                    rule.code,
                    facts.path,
                    instruction.line,
                    f"`ENV {text}` turns on Flask's debug mode in the image",
                    symbol="ENV",
                )
    for run in main_runs(project, starters):
        flag = next(
            (k for k in debug_kwargs if k in run.call.kwargs and run.call.kwargs[k].value is True),
            None,
        )
        if flag is not None:
            findings[(run.path, run.call.line)] = Finding(
                rule.code,
                run.path,
                run.call.line,
                f"{run.name}({flag}=True) starts a development server with "
                f"{'auto-reload' if flag == 'reload' else 'the debugger'}; turn it off in the "
                "production entry point",
                col=run.call.col,
                symbol=run.call.scope,
            )
        else:
            evidence.append(
                Evidence(f"{run.name}() without debug or reload", run.path, run.call.line)
            )
    for info in project.modules():
        for call in info.facts.calls:
            name = project.call_name(info.path, call)
            if match_any(name, debug_apps) and any(
                k in call.kwargs and call.kwargs[k].value is True for k in debug_kwargs
            ):
                findings[(info.path, call.line)] = Finding(
                    rule.code,
                    info.path,
                    call.line,
                    f"{name}(debug=True) returns tracebacks to clients",
                    col=call.col,
                    symbol=call.scope,
                )
    if findings:
        ordered = sorted(findings.values(), key=lambda f: (f.path, f.line))
        return Outcome(
            "fail",
            f"{len(ordered)} debug or auto-reload setting(s) in production entry points",
            evidence[:MAX_EVIDENCE],
            ordered,
        )
    if evidence:
        return Outcome(
            "pass", "the server is started without debug or reload", evidence[:MAX_EVIDENCE]
        )
    return Outcome("n/a", "no server start was found (Dockerfile CMD, Procfile, __main__ block)")
