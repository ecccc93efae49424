"""2xx: the data pipeline — validation at ingestion (ML201), data versioning (ML204),
absolute developer-machine data paths (ML205). ML202 lives in skew.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlaudit.catalog import Rule, load_traits_vocabulary
from mlaudit.checks import check
from mlaudit.index.facts import Call, Value
from mlaudit.project import Project
from mlaudit.project.symbols import ModuleInfo, match_any
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5


@dataclass(frozen=True)
class _Read:
    path: str
    call: Call
    name: str


def _readers(project: Project, extra: tuple[str, ...] = ()) -> list[_Read]:
    """Every data read in production code and notebooks, in path order."""
    patterns = load_traits_vocabulary()["INGESTS"]["readers"] + extra
    reads = []
    for info in project.modules():
        for call in info.facts.calls:
            name = project.call_name(info.path, call)
            if match_any(name, patterns):
                reads.append(_Read(info.path, call, name))
    return reads


# -- ML201 -------------------------------------------------------------------------------
@check("ML201")
def no_data_validation(project: Project, rule: Rule) -> Outcome:
    """Validation where data is read: a validation library, record validation in the
    ingesting code, or explicit null/range/schema checks on the loaded frame."""
    libraries = rule.vocab("validation-modules")
    calls = rule.vocab("validation-calls")
    checks = rule.vocab("check-calls")
    record_bases = rule.vocab("record-bases")
    reads = _readers(project)
    if not reads:
        return Outcome("n/a", "no dataset is read outside tests")
    ingesting = {r.path for r in reads}
    route_files = {r.handler_path for r in project.routes} | {r.file for r in project.routes}
    evidence: list[Evidence] = []
    for info in project.modules():
        if info.path in route_files:
            continue  # request schemas validate requests, not training data
        near_data = info.path in ingesting or _imported_by(project, info, ingesting)
        for imp in info.facts.imports:
            if imp.module.split(".")[0] in libraries:
                evidence.append(
                    Evidence(
                        f"imports {imp.module}: a data validation library", info.path, imp.line
                    )
                )
                break
        for call in info.facts.calls:
            name = project.call_name(info.path, call)
            if match_any(name, calls):
                evidence.append(Evidence(f"{name}() validates data", info.path, call.line))
                break
            if info.path in ingesting and match_any(name, checks):
                evidence.append(Evidence(f"{name}() checks the loaded data", info.path, call.line))
                break
        if info.path in ingesting:
            for assertion in info.facts.asserts:
                evidence.append(
                    Evidence(
                        f"assert {assertion.left} {assertion.op} {assertion.right} checks a range",
                        info.path,
                        assertion.line,
                    )
                )
                break
        if near_data:
            for cls in info.facts.classes:
                base = next((b for b in cls.bases if match_any(b, record_bases)), None)
                post_init = f"{cls.qualname}.__post_init__" in info.functions
                if base is not None or post_init:
                    what = f"{base} record" if base else "dataclass with __post_init__"
                    evidence.append(
                        Evidence(
                            f"{cls.qualname}: {what} validates rows near ingestion",
                            info.path,
                            cls.line,
                        )
                    )
                    break
    if evidence:
        return Outcome(
            "pass",
            "data is validated where it is read",
            sorted(evidence, key=lambda e: (e.path or "", e.line or 0))[:MAX_EVIDENCE],
        )
    first = reads[0]
    anchor = Evidence(f"{first.name}() reads data with no validation", first.path, first.call.line)
    more = [Evidence(f"{r.name}() reads data", r.path, r.call.line) for r in reads[1:MAX_EVIDENCE]]
    return Outcome(
        "fail",
        f"{len(reads)} data read(s) and no validation (schema library, record validation or "
        "null/range checks on the loaded data)",
        [anchor, *more],
        anchor=anchor,
    )


def _imported_by(project: Project, info: ModuleInfo, paths: set[str]) -> bool:
    """Whether a module that reads data imports this one."""
    for path in paths:
        other = project.symbols.by_path.get(path)
        if other is None:
            continue
        for imp in other.facts.imports:
            target = f"{imp.module}.{imp.name}" if imp.name else imp.module
            found = project.symbols.defining_module(target, path)
            if found == info.path or project.symbols.find_module(imp.module, path) == info.path:
                return True
    return False


# -- ML205 -------------------------------------------------------------------------------
PATH_KWARGS = (
    "path",
    "filepath_or_buffer",
    "io",
    "source",
    "data_files",
    "data_dir",
    "root",
    "fname",
    "file",
    "path_or_buf",
    "uri",
)


def _strings(value: Value, info: ModuleInfo, scope: str) -> list[str]:
    """Literal strings an argument holds, through a constant it names."""
    if value.kind == "const" and isinstance(value.value, str):
        return [value.value]
    if value.kind in ("call", "list") and value.items:
        return [i for i in value.items[:1] if isinstance(i, str)]
    if value.kind == "name" and isinstance(value.value, str):
        assign = info.variable(scope, value.value)
        if assign is not None and assign.value.kind != "name":
            return _strings(assign.value, info, "")
    if value.kind == "other" and isinstance(value.value, str):
        return re.findall(r"""["']([^"']+)["']""", value.value)
    return []


@check("ML205")
def hard_coded_absolute_data_path(project: Project, rule: Rule) -> Outcome:
    """A data reader given a developer-machine path (/home, /Users, C:\\, Colab drive)."""
    machine = [re.compile(p) for p in rule.vocab("machine-path-patterns")]
    reads = _readers(project, rule.vocab("loaders"))
    if not reads:
        return Outcome("n/a", "no data reader or dataset loader is called")
    findings: list[Finding] = []
    evidence: list[Evidence] = []
    for read in reads:
        info = project.symbols.by_path[read.path]
        values = list(read.call.args[:1]) + [
            v for k, v in read.call.kwargs.items() if k in PATH_KWARGS
        ]
        literal = None
        for value in values:
            for text in _strings(value, info, read.call.scope):
                if any(p.match(text) for p in machine):
                    literal = text
                    break
            if literal:
                break
        if literal is None:
            if len(evidence) < MAX_EVIDENCE:
                evidence.append(
                    Evidence(
                        f"{read.name}() reads no developer-machine path", read.path, read.call.line
                    )
                )
            continue
        findings.append(
            Finding(
                rule.code,
                read.path,
                read.call.line,
                f"{read.name}() reads {literal!r}, a path on one developer's machine: the "
                "code runs nowhere else; take the path from config, an argument or a "
                "versioned dataset",
                col=read.call.col,
                end_line=read.call.end_line,
                symbol=read.call.scope,
            )
        )
    if findings:
        return Outcome(
            "fail", f"{len(findings)} data read(s) from developer-machine paths", [], findings
        )
    return Outcome(
        "pass", f"{len(reads)} data read(s), none from a developer-machine path", evidence
    )
