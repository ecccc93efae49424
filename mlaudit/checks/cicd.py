"""6xx: CI/CD for ML."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.index.facts import Assert
from mlaudit.project import Project
from mlaudit.project.symbols import match_any
from mlaudit.results import Evidence, Outcome

_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE]-?\d+)?%?$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_INLINE_ASSERT = re.compile(r"assert\s+(?P<left>.+?)\s*(?P<op>>=|<=|>|<)\s*(?P<num>-?\d+(\.\d+)?)")


@dataclass
class CommandLine:
    path: str
    line: int
    text: str


def _ci_commands(project: Project) -> list[CommandLine]:
    """Every command line of every CI step, continuations joined, with its file line."""
    commands: list[CommandLine] = []
    for facts in project.files_of("github-workflow", "github-action"):
        if facts.workflow is None:  # unreadable (binary, over budget): ML901
            continue
        for step in facts.workflow.steps:
            if not step.run:
                continue
            start = step.run_line or step.line
            pending, pending_line = "", start
            for offset, raw in enumerate(step.run.splitlines()):
                if not pending:
                    pending_line = start + offset
                stripped = raw.strip()
                if stripped.endswith("\\"):
                    pending += stripped[:-1] + " "
                    continue
                text = (pending + stripped).strip()
                pending = ""
                if text and not text.startswith("#"):
                    commands.append(CommandLine(facts.path, pending_line, text))
    return commands


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
                    f"CI asserts a metric threshold: `{command.text[:100]}`",
                    command.path,
                    command.line,
                )
            )
            continue
        if _runs_test_command(command.text, test_commands):
            runs_tests.append(
                Evidence(f"CI runs the tests: `{command.text[:100]}`", command.path, command.line)
            )
            continue
        if not words & eval_words and not any(w in command.text.lower() for w in eval_words):
            continue
        threshold = _threshold(tokens, flags)
        if threshold is None:
            if any(w in words for w in eval_words):
                reports.append(
                    Evidence(
                        f"evaluation without a threshold: `{command.text[:100]}`",
                        command.path,
                        command.line,
                    )
                )
            continue
        flag, value = threshold
        if value is not None and _NUMBER.match(value) and float(value.rstrip("%")) <= 0:
            weak.append(
                Evidence(
                    f"{flag} {value} cannot fail: `{command.text[:100]}`",
                    command.path,
                    command.line,
                )
            )
            continue
        shown = value if value is not None else "(value from a variable)"
        gates.append(
            Evidence(
                f"evaluation gate {flag} {shown}: `{command.text[:100]}`",
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
        if info.path not in project.files or info.path in project.production_modules:
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


def _assert_strength(fact: Assert, metrics: set[str]) -> str | None:
    metric = _metric_word(fact.left, metrics) or _metric_word(fact.right, metrics)
    if metric is None or fact.number is None:
        return None
    scope = fact.scope.lower()
    training_only = ("overfit" in scope or metric == "loss") and not any(
        held in (fact.left + fact.right).lower() for held in ("val", "test", "holdout", "eval")
    )
    if training_only or _trivial(fact.number, fact.op):
        return "weak"
    return "gate"


def _workflow_anchor(project: Project) -> Evidence | None:
    workflows = project.files_of("github-workflow")
    if not workflows:
        # Other CI systems (GitLab, Azure, ...): the configuration file the CI trait found.
        ci = project.traits.get("CI")
        located = [e for e in ci.evidence if e.path] if ci is not None else []
        if not located:
            return None
        return Evidence(
            "add an evaluation gate to this CI configuration", located[0].path, located[0].line or 1
        )
    facts = workflows[0]
    line = facts.workflow.steps[0].line if facts.workflow and facts.workflow.steps else 1
    return Evidence("add an evaluation gate to this workflow", facts.path, line)
