"""What checks produce and what reports render: verdicts, evidence, findings."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlaudit.catalog import Rule

VERDICTS = ("pass", "partial", "fail", "n/a", "ignored")


@dataclass
class Evidence:
    """A file:line that decided a verdict, and one sentence about it."""

    message: str
    path: str | None = None
    line: int | None = None


@dataclass
class Finding:
    """A problem at a place in the code."""

    code: str
    path: str
    line: int
    message: str
    col: int = 1
    end_line: int | None = None
    symbol: str = ""  # enclosing function/class or YAML route: part of the fingerprint
    snippet: str = ""
    fingerprint: str = ""
    suppressed: bool = False
    suppression_kind: str | None = None  # "inSource" (a comment) or "external" (config)
    suppression_reason: str | None = None
    baselined: bool = False  # accepted by --baseline: suppressed with the reason "baseline"
    in_diff: bool | None = None  # --diff-base: on a line changed since the base (None: no diff)
    cell: int | None = None  # notebooks: 0-based cell index (line is the .ipynb line)
    cell_line: int | None = None  # notebooks: 1-based line within the cell


@dataclass
class Outcome:
    """What a check function returns."""

    verdict: str
    reason: str
    evidence: list[Evidence] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Where a repo-level problem should be fixed: the place SARIF attaches it to.
    anchor: Evidence | None = None


@dataclass
class CheckResult:
    """A check's outcome after policy: what every report shows."""

    rule: Rule
    verdict: str
    reason: str
    evidence: list[Evidence] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    anchor: Evidence | None = None
    fingerprint: str = ""  # of the repo-level verdict (scope repo): rule-wide, path-free
    baselined: bool = False  # a repo-level failure accepted by --baseline

    @property
    def open_findings(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]


@dataclass
class Trait:
    name: str
    present: bool
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Route:
    """One HTTP route the project model recognised."""

    method: str
    path: str
    handler: str  # "module.qualname"
    file: str
    line: int
    framework: str
    handler_path: str = ""
    handler_qualname: str = ""


@dataclass
class SectionScore:
    id: str
    title: str
    score: float | None
    checks: int


@dataclass
class ScanResult:
    """Everything a report needs, in a stable order."""

    version: str
    traits: list[Trait]
    checks: list[CheckResult]
    sections: list[SectionScore]
    score: float | None
    routes: list[Route] = field(default_factory=list)
    files_scanned: int = 0
    notes: list[str] = field(default_factory=list)
    # Policy the reports must show: the baseline used (path, matched, stale entries), the
    # --diff-base ref, and the paths a file-restricted scan covered (pre-commit).
    baseline: BaselineUse | None = None
    diff_base: str | None = None
    paths: list[str] | None = None


@dataclass
class BaselineUse:
    path: str
    matched: int
    stale: list[dict[str, object]] = field(default_factory=list)
