"""Checks: small pure functions from the project model to an Outcome.

Each check is registered under its catalog code; the catalog entry says when it applies.
A check never parses a file: what it needs is a fact of the index or the project model.
"""

from __future__ import annotations

from collections.abc import Callable

from mlaudit.catalog import Rule
from mlaudit.project import Project
from mlaudit.results import Outcome

CheckFunction = Callable[[Project, Rule], Outcome]

REGISTRY: dict[str, CheckFunction] = {}


def check(code: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under its catalog code."""

    def register(function: CheckFunction) -> CheckFunction:
        if code in REGISTRY:
            raise ValueError(f"check {code} registered twice")
        REGISTRY[code] = function
        return function

    return register


def load_checks() -> dict[str, CheckFunction]:
    """Import every check module so that their registrations run."""
    from mlaudit.checks import (  # noqa: F401
        build_pinning,
        cicd,
        container,
        data,
        deployment,
        evaluation,
        model_development,
        monitoring,
        serving,
        serving_api,
        serving_models,
        serving_runtime,
        skew,
        tool,
    )

    return REGISTRY


def not_applicable(rule: Rule, project: Project) -> Outcome:
    """The n/a outcome, saying which trait is missing."""
    missing = [
        t
        for t in rule.applies_when.replace(" and ", " ").replace(" or ", " ").split()
        if not project.has_trait(t)
    ]
    what = ", ".join(missing) if missing else rule.applies_when
    return Outcome("n/a", f"applies when {rule.applies_when}; not detected: {what}")
