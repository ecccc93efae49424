"""9xx: the tool's own findings."""

from __future__ import annotations

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.project import Project
from mlaudit.results import Evidence, Finding, Outcome

# Its findings are the index's read errors, located in the file's own text (for a notebook,
# the .ipynb line), not in the joined code of notebook cells that other findings use.
PARSE_ERROR_RULE = "ML901"


@check(PARSE_ERROR_RULE)
def parse_error(project: Project, rule: Rule) -> Outcome:
    """Every file the index could not read, with the parser's message."""
    findings = [
        Finding(rule.code, facts.path, error.line, error.message, col=error.col)
        for _, facts in sorted(project.files.items())
        for error in facts.errors
    ]
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} file problem(s) kept mlaudit from reading part of the repository",
            findings=findings,
        )
    parsed = sum(1 for f in project.files.values() if f.digest and f.lines)
    return Outcome(
        "pass",
        f"all {parsed} parsed files were read",
        [Evidence(f"{parsed} files parsed without error")],
    )
