"""6xx: CI/CD for ML."""

from __future__ import annotations

import re

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.index.facts import Assert, Import
from mlaudit.project import Project
from mlaudit.project.ci import CommandLine, ci_commands, python_scripts
from mlaudit.project.symbols import ModuleInfo, match_any
from mlaudit.results import Evidence, Outcome

_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE]-?\d+)?%?$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_INLINE_ASSERT = re.compile(r"assert\s+(?P<left>.+?)\s*(?P<op>>=|<=|>|<)\s*(?P<num>-?\d+(\.\d+)?)")


def _ci_commands(project: Project) -> list[CommandLine]:
    """Every command line CI runs, with make/tox/script targets followed one level."""
    return ci_commands(project)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text.replace("_", " "))} | {
        w.lower() for w in re.findall(r"[A-Za-z0-9_]+", text)
    }


def _threshold(tokens: list[str], flags: tuple[str, ...]) -> tuple[str, str | None] | None:
    """The first threshold flag and its value (``--threshold 0.85``, ``--min-acc=0.9``)."""
    for index, token in enumerate(tokens):
        flag, eq, inline = token.partition("=")
        if not flag.startswith("--") or not match_any(flag, flags):
            continue
        value = inline if eq else (tokens[index + 1] if index + 1 < len(tokens) else None)
        return flag, value
    return None


_SEGMENT_SPLIT = re.compile(r"&&|\|\||;|\|")
_INSTALLERS = (
    ("pip",),
    ("pip3",),
    ("python", "-m", "pip"),
    ("python3", "-m", "pip"),
    ("uv", "pip"),
    ("uv", "add"),
    ("poetry", "add"),
    ("pipx", "install"),
    ("conda", "install"),
    ("mamba", "install"),
    ("apt-get",),
    ("apt",),
)


def _runs_test_command(text: str, test_commands: tuple[str, ...]) -> bool:
    """A shell segment runs a test command (``pytest``, ``make test``), not installs it."""
    for segment in _SEGMENT_SPLIT.split(text):
        tokens = [t.rsplit("/", 1)[-1] if i == 0 else t for i, t in enumerate(segment.split())]
        if not tokens or any(tuple(tokens[: len(i)]) == i for i in _INSTALLERS):
            continue
        for command in test_commands:
            wanted = command.split()
            if any(tokens[i : i + len(wanted)] == wanted for i in range(len(tokens))):
                return True
    return False


def _metric_word(text: str, metrics: set[str]) -> str | None:
    found = _words(text) & metrics
    return sorted(found, key=len, reverse=True)[0] if found else None


def _trivial(number: float | None, op: str) -> bool:
    """A threshold that cannot fail: ``acc > 0``, ``acc >= 0.0``."""
    return number is not None and number <= 0 and op in (">", ">=")


@check("ML603")
def no_evaluation_gate(project: Project, rule: Rule) -> Outcome:
    """A CI step that fails when a held-out metric is below a threshold."""
    eval_words = {w.lower() for w in rule.vocab("eval-commands")}
    flags = rule.vocab("threshold-flags")
    metrics = {m.lower() for m in rule.vocab("metric-names")}
    test_commands = rule.vocab("test-commands")
    gates: list[Evidence] = []
    weak: list[Evidence] = []
    reports: list[Evidence] = []
    runs_tests: list[Evidence] = []
    commands = _ci_commands(project)
    for command in commands:
        tokens = command.text.split()
        words = _words(command.text)
        inline = _INLINE_ASSERT.search(command.text)
        if inline and _metric_word(inline.group("left"), metrics):
            number = float(inline.group("num"))
            target = weak if _trivial(number, inline.group("op")) else gates
            target.append(
                Evidence(
                    f"CI asserts a metric threshold: `{command.text[:100]}`{command.where}",
                    command.path,
                    command.line,
                )
            )
            continue
        if _runs_test_command(command.text, test_commands):
            runs_tests.append(
                Evidence(
                    f"CI runs the tests: `{command.text[:100]}`{command.where}",
                    command.path,
                    command.line,
                )
            )
            continue
        if not words & eval_words and not any(w in command.text.lower() for w in eval_words):
            continue
        threshold = _threshold(tokens, flags)
        if threshold is None:
            if any(w in words for w in eval_words):
                reports.append(
                    Evidence(
                        f"evaluation without a threshold: `{command.text[:100]}`{command.where}",
                        command.path,
                        command.line,
                    )
                )
            continue
        flag, value = threshold
        if value is not None and _NUMBER.match(value) and float(value.rstrip("%")) <= 0:
            weak.append(
                Evidence(
                    f"{flag} {value} cannot fail: `{command.text[:100]}`{command.where}",
                    command.path,
                    command.line,
                )
            )
            continue
        shown = value if value is not None else "(value from a variable)"
        gates.append(
            Evidence(
                f"evaluation gate {flag} {shown}: `{command.text[:100]}`{command.where}",
                command.path,
                command.line,
            )
        )
    if runs_tests:
        for strength, found in _test_metric_assertions(project, metrics):
            (weak if strength == "weak" else gates).append(found)
    if gates:
        return Outcome("pass", "CI fails when a model metric is below its threshold", gates[:5])
    anchor = _workflow_anchor(project)
    if weak:
        return Outcome(
            "partial",
            "CI checks metrics, but only with thresholds that cannot fail or on training data",
            weak[:5],
            anchor=anchor,
        )
    evidence = reports[:3] + runs_tests[:2]
    if not commands:
        reason = "CI configuration runs no commands mlaudit can read"
    elif reports:
        reason = "CI reports metrics but no step fails on a threshold"
    elif runs_tests:
        reason = "CI runs the tests, but no test asserts a model metric against a threshold"
    else:
        reason = "no CI step evaluates the model against a threshold"
    return Outcome("fail", reason, evidence or ([anchor] if anchor else []), anchor=anchor)


def _test_metric_assertions(project: Project, metrics: set[str]) -> list[tuple[str, Evidence]]:
    """Metric threshold assertions in tests: ("gate", ...) or ("weak", ...)."""
    found: list[tuple[str, Evidence]] = []
    for info in project.modules(tests=True):
        if info.path not in project.files or info.path in project.production_paths:
            continue
        for fact in info.facts.asserts:
            strength = _assert_strength(fact, metrics)
            if strength is None:
                continue
            found.append(
                (
                    strength,
                    Evidence(
                        f"test asserts `{fact.left} {fact.op} {fact.right}`"
                        + (" (cannot fail or training-only)" if strength == "weak" else ""),
                        info.path,
                        fact.line,
                    ),
                )
            )
    return found


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _number_on_right(fact: Assert) -> str:
    """The operator as if the threshold were on the right: ``0.5 < auc`` is ``auc > 0.5``."""
    try:
        float(fact.left)
    except ValueError:
        return fact.op
    return _FLIPPED.get(fact.op, fact.op)


def _assert_strength(fact: Assert, metrics: set[str]) -> str | None:
    metric = _metric_word(fact.left, metrics) or _metric_word(fact.right, metrics)
    if metric is None or fact.number is None:
        return None
    scope = fact.scope.lower()
    training_only = ("overfit" in scope or metric == "loss") and not any(
        held in (fact.left + fact.right).lower() for held in ("val", "test", "holdout", "eval")
    )
    if training_only or _trivial(fact.number, _number_on_right(fact)):
        return "weak"
    return "gate"


def _workflow_anchor(project: Project, what: str = "add an evaluation gate") -> Evidence | None:
    workflows = project.files_of("github-workflow")
    if not workflows:
        # Other CI systems (GitLab, Azure, ...): the configuration file the CI trait found.
        ci = project.traits.get("CI")
        located = [e for e in ci.evidence if e.path] if ci is not None else []
        if not located:
            return None
        return Evidence(f"{what} to this CI configuration", located[0].path, located[0].line or 1)
    facts = workflows[0]
    line = facts.workflow.steps[0].line if facts.workflow and facts.workflow.steps else 1
    return Evidence(f"{what} to this workflow", facts.path, line)


# -- ML601 / ML602 -----------------------------------------------------------------------------
def _ci_files_evidence(project: Project) -> list[Evidence]:
    ci = project.traits.get("CI")
    return [e for e in ci.evidence if e.path] if ci is not None else []


@check("ML601")
def no_ci(project: Project, rule: Rule) -> Outcome:
    """Any CI configuration: GitHub Actions, GitLab, Azure, CircleCI, Jenkins, Bitbucket."""
    evidence = _ci_files_evidence(project)
    if evidence:
        return Outcome("pass", "CI is configured", evidence)
    return Outcome(
        "fail",
        "no CI configuration (GitHub Actions, GitLab CI, Azure Pipelines, CircleCI, Jenkinsfile, "
        "Bitbucket Pipelines)",
    )


@check("ML602")
def ci_runs_no_tests(project: Project, rule: Rule) -> Outcome:
    """Some CI step (or the make/tox target it calls) runs the test suite."""
    test_commands = rule.vocab("test-commands")
    commands = _ci_commands(project)
    found = [
        Evidence(f"CI runs the tests: `{c.text[:100]}`{c.where}", c.path, c.line)
        for c in commands
        if _runs_test_command(c.text, test_commands)
    ]
    if found:
        return Outcome("pass", "CI runs the test suite", found[:5])
    anchor = _workflow_anchor(project, "add a step that runs the tests")
    reason = (
        "CI configuration runs no commands mlaudit can read"
        if not commands
        else f"none of the {len(commands)} command(s) CI runs is a test runner"
    )
    return Outcome("fail", reason, [anchor] if anchor else [], anchor=anchor)


# -- ML604 untested-feature-code ---------------------------------------------------------------
def _feature_functions(project: Project, rule: Rule) -> list[tuple[str, str, int]]:
    """(path, qualname, line) of feature-engineering functions in production code."""
    names = rule.vocab("feature-function-names")
    modules = rule.vocab("feature-modules")
    found: list[tuple[str, str, int]] = []
    for info in project.modules():
        if info.path.endswith(".ipynb"):
            continue  # a notebook's functions can't be imported by a test (nor a server)
        parts = info.path.removesuffix(".py").split("/")
        in_feature_module = any(match_any(part, modules) for part in parts)
        for function in info.facts.functions:
            if "." in function.qualname or function.qualname.startswith("_"):
                continue
            if in_feature_module or match_any(function.qualname, names):
                found.append((info.path, function.qualname, function.line))
        if in_feature_module:
            for cls in info.facts.classes:
                if "." not in cls.qualname and not cls.qualname.startswith("_"):
                    found.append((info.path, cls.qualname, cls.line))
    return found


@check("ML604")
def untested_feature_code(project: Project, rule: Rule) -> Outcome:
    """Feature-engineering functions that no test imports."""
    functions = _feature_functions(project, rule)
    if not functions:
        return Outcome("n/a", "no feature-engineering functions were found")
    tested: dict[tuple[str, str], Evidence] = {}
    whole_modules: dict[str, Evidence] = {}
    for info in project.modules(tests=True):
        if info.path in project.production_paths:
            continue
        for imp in info.facts.imports:
            dotted = f"{imp.module}.{imp.name}" if imp.name and imp.name != "*" else imp.module
            split = project.symbols.split_module(dotted, info.path)
            module_path = project.symbols.find_module(dotted, info.path)
            if module_path is not None:
                whole_modules.setdefault(
                    module_path, Evidence(f"{info.path} imports {dotted}", info.path, imp.line)
                )
            elif split is not None:
                path, member = split
                tested.setdefault(
                    (path, member.split(".")[0]),
                    Evidence(f"{info.path} imports {member}", info.path, imp.line),
                )
    covered: list[Evidence] = []
    untested: list[Evidence] = []
    for path, name, line in functions:
        hit = tested.get((path, name)) or whole_modules.get(path)
        if hit is not None:
            covered.append(Evidence(f"{name}() is tested: {hit.message}", hit.path, hit.line))
        else:
            untested.append(Evidence(f"{name}() is not imported by any test", path, line))
    if not untested:
        return Outcome("pass", f"all {len(functions)} feature function(s) are tested", covered[:5])
    if covered:
        return Outcome(
            "partial",
            f"{len(untested)} of {len(functions)} feature function(s) are not imported by any test",
            untested[:5] + covered[:3],
            anchor=untested[0],
        )
    return Outcome(
        "fail",
        f"none of the {len(functions)} feature function(s) is imported by a test",
        untested[:5],
        anchor=untested[0],
    )


def _validating_import(
    project: Project, info: ModuleInfo, modules: tuple[str, ...]
) -> tuple[Import, str] | None:
    """A project module a test imports that itself imports a validation library (the
    pandera schemas of the package under test)."""
    for imp in info.facts.imports:
        for dotted in (f"{imp.module}.{imp.name}" if imp.name else "", imp.module):
            path = project.symbols.find_module(dotted, info.path) if dotted else None
            if path is None or path not in project.production_paths:
                continue
            library = _validation_library(project, path, modules)
            if library is not None:
                return imp, library
            break
    return None


def _validation_library(project: Project, path: str, modules: tuple[str, ...]) -> str | None:
    """The validation library a production module imports (memoised per module)."""
    memo: dict[str, str | None] = project.__dict__.setdefault("_mlaudit_validation_imports", {})
    if path not in memo:
        memo[path] = next(
            (
                i.module
                for i in project.symbols.by_path[path].facts.imports
                if match_any(i.module, modules) or i.module.split(".")[0] in modules
            ),
            None,
        )
    return memo[path]


# -- ML605 no-data-validation-in-ci ------------------------------------------------------------
@check("ML605")
def no_data_validation_in_ci(project: Project, rule: Rule) -> Outcome:
    """CI validates data: a validation tool or script, or tests that use a validation library."""
    vocabulary = tuple(w.lower() for w in rule.vocab("validation-commands"))
    modules = rule.vocab("validation-modules")
    commands = _ci_commands(project)
    direct: list[Evidence] = []
    for command in commands:
        text = command.text.lower()
        word = next((w for w in vocabulary if _has_word(text, w)), None)
        if word is not None:
            direct.append(
                Evidence(
                    f"CI validates data ({word}): `{command.text[:100]}`{command.where}",
                    command.path,
                    command.line,
                )
            )
    if direct:
        return Outcome("pass", "CI runs data validation", direct[:5])
    test_runs = [c for c in commands if _runs_test_command(c.text, rule.vocab("test-commands"))]
    anchor = _workflow_anchor(project, "add a data-validation step")
    if test_runs:
        in_tests: list[Evidence] = []
        for info in project.modules(tests=True):
            if info.path in project.production_paths:
                continue
            imp = next(
                (
                    i
                    for i in info.facts.imports
                    if match_any(i.module, modules) or i.module.split(".")[0] in modules
                ),
                None,
            )
            if imp is not None:
                in_tests.append(
                    Evidence(f"{info.path} validates data with {imp.module}", info.path, imp.line)
                )
                continue
            through = _validating_import(project, info, modules)
            if through is not None:
                imp, library = through
                in_tests.append(
                    Evidence(
                        f"{info.path} tests {imp.module}, which validates data with {library}",
                        info.path,
                        imp.line,
                    )
                )
        if in_tests:
            run = test_runs[0]
            return Outcome(
                "pass",
                "CI runs tests that validate data",
                [
                    *in_tests[:4],
                    Evidence(f"CI runs the tests: `{run.text[:80]}`", run.path, run.line),
                ],
            )
    return Outcome(
        "fail",
        "no CI step validates data (great_expectations, pandera, soda, a validate-data script, "
        "or tests using a validation library)",
        [anchor] if anchor else [],
        anchor=anchor,
    )


def _has_word(text: str, word: str) -> bool:
    return re.search(r"(?<![A-Za-z0-9])" + re.escape(word) + r"(?![A-Za-z0-9])", text) is not None


# -- ML606 no-integration-test -----------------------------------------------------------------
@check("ML606")
def no_integration_test(project: Project, rule: Rule) -> Outcome:
    """A test that calls the service: a test client, or an HTTP client against a URL."""
    clients = rule.vocab("client-calls")
    client_modules = rule.vocab("client-modules")
    found: list[Evidence] = []
    for info in project.modules(tests=True):
        if info.path in project.production_paths:
            continue
        for call in info.facts.calls:
            name = project.call_name(info.path, call)
            if match_any(name, clients):
                found.append(
                    Evidence(f"test calls the service through {name}()", info.path, call.line)
                )
                break
        else:
            imp = next(
                (i for i in info.facts.imports if i.module.split(".")[0] in client_modules), None
            )
            if imp is not None:
                found.append(
                    Evidence(f"test imports {imp.module} to call the service", info.path, imp.line)
                )
    http_calls = rule.vocab("http-calls")
    for command, path in python_scripts(project):
        info = project.symbols.by_path[path]
        smoke = next(
            (c for c in info.facts.calls if match_any(project.call_name(path, c), http_calls)),
            None,
        )
        if smoke is not None:
            found.append(
                Evidence(
                    f"CI runs {path} (`{' '.join(command.text.split())[:60]}`), which calls "
                    f"the service with {project.call_name(path, smoke)}()",
                    path,
                    smoke.line,
                )
            )
            break
    if found:
        return Outcome("pass", "a test calls the service", found[:5])
    anchor = project.app_anchor()
    return Outcome(
        "fail",
        "no test calls the service (TestClient, Flask test_client, httpx/requests against the app)",
        [anchor] if anchor else [],
        anchor=anchor,
    )


# -- ML607 no-load-test ------------------------------------------------------------------------
@check("ML607")
def no_load_test(project: Project, rule: Rule) -> Outcome:
    """A load test: locust, k6, vegeta, wrk, ab, hey... as a file, an import or a command."""
    tools = set(rule.vocab("load-test-tools"))
    paths = rule.vocab("load-test-paths")
    modules = rule.vocab("load-test-modules")
    found: list[Evidence] = []
    for source in project.workspace.files:
        if match_any(source.path, paths) or match_any(source.path.rsplit("/", 1)[-1], paths):
            found.append(Evidence(f"load test script: {source.path}", source.path, 1))
    for info in project.modules(tests=True):
        imp = next((i for i in info.facts.imports if i.module.split(".")[0] in modules), None)
        if imp is not None:
            found.append(Evidence(f"load test with {imp.module}", info.path, imp.line))
    command_sources: list[tuple[str, int, str]] = [
        (c.path, c.line, c.text) for c in _ci_commands(project)
    ]
    for path, facts in sorted(project.files.items()):
        if facts.script is not None:
            command_sources.extend((path, c.line, c.text) for c in facts.script.commands)
    for path, line, text in command_sources:
        for segment in _SEGMENT_SPLIT.split(text):
            tokens = segment.split()
            if tokens and tokens[0].rsplit("/", 1)[-1] in tools:
                found.append(Evidence(f"load test command: `{segment.strip()[:80]}`", path, line))
                break
    unique = list({(e.path, e.line): e for e in found}.values())
    if unique:
        return Outcome("pass", "the repository has a load test", unique[:5])
    anchor = project.app_anchor()
    return Outcome(
        "fail",
        "no load test (locust, k6, vegeta, wrk, ab, hey scripts or commands)",
        [anchor] if anchor else [],
        anchor=anchor,
    )
