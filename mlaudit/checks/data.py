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
from mlaudit.workspace import is_test_path

MAX_EVIDENCE = 5


@dataclass(frozen=True)
class _Read:
    path: str
    call: Call
    name: str


def _readers(project: Project, extra: tuple[str, ...] = ()) -> list[_Read]:
    """Every data read in production code and notebooks (not in request handlers), in path
    order."""
    memo: dict[tuple[str, ...], list[_Read]] = project.__dict__.setdefault("_ml2_readers", {})
    if extra in memo:
        return memo[extra]
    from mlaudit.project.inference import handlers

    patterns = load_traits_vocabulary()["INGESTS"]["readers"] + extra
    reads: list[_Read] = []
    memo[extra] = reads
    # A request body read in a handler (an uploaded CSV) is serving, not a data source.
    serving = {(ref.path, ref.qualname) for h in handlers(project) for ref in h.scopes}
    for site in project.calls_named(patterns):
        if (site.path, site.call.scope) in serving:
            continue
        name, pattern = site.name, site.pattern
        star = pattern.find("*")
        if star >= 0 and "(" in name[star:] and "(" not in pattern[star:]:
            continue  # `pandas.read_*` is not `pandas.read_csv().to_csv`
        reads.append(_Read(site.path, site.call, name))
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
    near = ingesting | _imported_by(project, ingesting)
    for info in project.modules():
        if info.path in route_files:
            continue  # request schemas validate requests, not training data
        near_data = info.path in near
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


def _imported_by(project: Project, paths: set[str]) -> set[str]:
    """Project modules that the modules at ``paths`` import."""
    found: set[str] = set()
    for path in sorted(paths):
        other = project.symbols.by_path.get(path)
        if other is None:
            continue
        for imp in other.facts.imports:
            target = f"{imp.module}.{imp.name}" if imp.name else imp.module
            for module in (
                project.symbols.defining_module(target, path),
                project.symbols.find_module(imp.module, path),
            ):
                if module is not None:
                    found.add(module)
    return found


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


def _config_key(value: Value) -> str | None:
    """The config key an argument reads: ``cfg.data_path`` or ``cfg["data_path"]``."""
    if value.kind != "name" or not isinstance(value.value, str):
        return None
    text = value.value
    if text.endswith("]"):
        return None  # the subscript key is not kept by the index
    return text.rsplit(".", 1)[-1] if "." in text else None


@check("ML205")
def hard_coded_absolute_data_path(project: Project, rule: Rule) -> Outcome:
    """A data reader given a developer-machine path (/home, /Users, C:\\, Colab drive)."""
    machine = [re.compile(p) for p in rule.vocab("machine-path-patterns")]
    reads = _readers(project, rule.vocab("loaders"))
    if not reads:
        return Outcome("n/a", "no data reader or dataset loader is called")
    findings: list[Finding] = []
    evidence: list[Evidence] = []
    configured: dict[str, tuple[str, int, str]] = {}  # config key -> (file, line, path)
    for facts in project.files_of("yaml", "toml", "config"):
        for hit in facts.machine_paths:
            setting, _, location = hit.text.partition("=")
            configured.setdefault(setting, (facts.path, hit.line, location))
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
        via = None
        if literal is None and configured:
            # `pd.read_csv(cfg.data_path)` with `data_path: /home/...` in a config file
            for value in values:
                key = _config_key(value)
                if key is not None and key in configured:
                    via = configured[key]
                    literal = via[2]
                    break
        if literal is None:
            if len(evidence) < MAX_EVIDENCE:
                evidence.append(
                    Evidence(
                        f"{read.name}() reads no developer-machine path", read.path, read.call.line
                    )
                )
            continue
        source = f" (from {via[0]}:{via[1]})" if via else ""
        findings.append(
            Finding(
                rule.code,
                read.path,
                read.call.line,
                f"{read.name}() reads {literal!r}{source}, a path on one developer's machine: the "
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


# -- ML204 -------------------------------------------------------------------------------
def _versioning(project: Project, rule: Rule) -> list[Evidence]:
    """DVC files, git-lfs patterns covering data, Delta Lake/lakeFS, pinned dataset revisions."""
    evidence: list[Evidence] = []
    tracked = project.files_of("dvc")
    for facts in tracked:
        if _tracks_a_model(facts.path):
            continue  # `trained_model.dvc`: the model is versioned, not the data
        evidence.append(Evidence(f"{facts.path}: data versioned with DVC", facts.path, 1))
        break
    dvc_config = next((p for p in project.files if p.startswith(".dvc/")), None)
    if dvc_config is not None and not evidence and not tracked:
        evidence.append(Evidence("DVC is set up (.dvc/)", dvc_config, 1))
    for facts in project.files_of("gitattributes"):
        for pattern in facts.lfs_patterns:
            if _lfs_covers_data(pattern.text):
                evidence.append(
                    Evidence(
                        f"git-lfs tracks {pattern.text} in {facts.path}", facts.path, pattern.line
                    )
                )
                break
    modules = rule.vocab("versioning-modules")
    revision_calls = rule.vocab("revision-calls")
    for info in project.modules():
        for imp in info.facts.imports:
            if imp.module.split(".")[0] in modules:
                evidence.append(Evidence(f"imports {imp.module}", info.path, imp.line))
                break
        for call in info.facts.calls:
            name = project.call_name(info.path, call)
            if match_any(name, revision_calls) and any(
                k in call.kwargs for k in ("revision", "rev", "version", "commit_hash")
            ):
                evidence.append(Evidence(f"{name}() pins a dataset revision", info.path, call.line))
                break
            if name.endswith(".format") and any(
                a.kind == "const" and a.value in ("delta", "iceberg", "hudi") for a in call.args
            ):
                evidence.append(
                    Evidence(
                        f"{name}({call.args[0].value!r}): a versioned table format",
                        info.path,
                        call.line,
                    )
                )
                break
    return evidence


def _tracks_a_model(path: str) -> bool:
    """A ``.dvc`` pointer whose name says it tracks a model file, not data."""
    from mlaudit.workspace import MODEL_EXTENSIONS

    name = path.rsplit("/", 1)[-1]
    if not name.endswith(".dvc"):
        return False  # dvc.yaml / dvc.lock: a pipeline, whose deps are data
    stem = name[: -len(".dvc")].lower()
    ext = stem.rsplit(".", 1)[-1] if "." in stem else ""
    return ext in MODEL_EXTENSIONS or "model" in stem


def _lfs_covers_data(pattern: str) -> bool:
    from mlaudit.index.history import is_data_path

    probe = pattern.replace("**", "data/x").replace("*", "x").rstrip("/")
    return (
        is_data_path(probe)
        or is_data_path(probe + "/x.csv")
        or any(part in ("data", "datasets", "dataset") for part in probe.split("/")[:-1])
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _anchor_file(project: Project) -> str | None:
    for candidate in (".gitattributes", ".gitignore", "dvc.yaml", "README.md", "readme.md"):
        if candidate in project.files:
            return candidate
    trains = project.traits.get("TRAINS")
    if trains and trains.evidence and trains.evidence[0].path:
        return trains.evidence[0].path
    return next(iter(sorted(project.files)), None)


@check("ML204")
def no_data_versioning(project: Project, rule: Rule) -> Outcome:
    """Data versioned (DVC, git-lfs, Delta/lakeFS, pinned revisions); large data files
    in git history are findings."""
    versioning = _versioning(project, rule)
    history = project.history
    anchor_path = _anchor_file(project)
    findings: list[Finding] = []
    where = "in git history" if history.source == "git" else "in the working tree"
    for data in history.large:
        if data.in_tree:
            path, line = data.path, 1
        elif anchor_path is not None:
            path, line = anchor_path, 1
        else:
            continue
        commit = f" in commit {data.added_in[:12]}" if data.added_in else ""
        gone = (
            f", deleted in {data.deleted_in[:12]} but still in the history"
            if data.deleted_in and not data.in_tree
            else ""
        )
        findings.append(
            Finding(
                rule.code,
                path,
                line,
                f"{data.path} ({_megabytes(data.size)}) committed{commit}{gone}: version data "
                "with DVC or git-lfs instead of committing it",
                symbol=data.path,
            )
        )
    note = f" ({history.note})" if history.note else ""
    reads = _readers(project)
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} data file(s) of 1 MB or more {where}{note}",
            versioning[:MAX_EVIDENCE],
            findings,
            anchor=Evidence("data versioning belongs here", anchor_path, 1)
            if anchor_path
            else None,
        )
    if versioning:
        return Outcome("pass", f"data is versioned{note}", versioning[:MAX_EVIDENCE])
    small_files = [d for d in history.small if not is_test_path(d.path)]
    if small_files:
        small = small_files[0]
        return Outcome(
            "partial",
            f"only small data files ({len(small_files)}, under 1 MB) are committed to git and "
            f"nothing versions data{note}",
            [
                Evidence(f"{d.path} ({d.size:,} bytes) is committed", d.path, 1)
                for d in small_files[:MAX_EVIDENCE]
            ],
            anchor=Evidence(f"{small.path} is committed", small.path, 1),
        )
    if reads:
        first = reads[0]
        anchor = Evidence(
            f"{first.name}() reads data no versioning tool tracks", first.path, first.call.line
        )
        return Outcome(
            "fail",
            "data is read from unversioned sources: no DVC, git-lfs, Delta Lake/lakeFS or "
            f"pinned dataset revision{note}",
            [anchor],
            anchor=anchor,
        )
    return Outcome("n/a", f"no dataset is read and no data file is committed{note}")
