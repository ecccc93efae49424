"""3xx (and ML203): what request handlers do with requests and models.

ML203 fit-in-serving, ML303 unversioned-api-route, ML306 unvalidated-request,
ML308 hard-coded-confidence, ML309 unbounded-batch, ML310 blocking-inference-in-async-handler.
Every one reads the route table and follows each handler through the repository's modules.
"""

from __future__ import annotations

import re

from mlaudit.catalog import Rule, load_traits_vocabulary
from mlaudit.checks import check
from mlaudit.checks.handlers import (
    HANDLER_ONLY,
    HTTP_FRAMEWORKS,
    Handler,
    annotation_classes,
    calls_in_scopes,
    chain_text,
    class_bases,
    handlers,
    prediction_handlers,
    resolve_class,
    validated_in,
)
from mlaudit.index.facts import Value
from mlaudit.project import Project
from mlaudit.project.inference import inference
from mlaudit.project.symbols import ModuleInfo, last_attr, match_any
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5


def _fail_or_pass(
    code: str,
    findings: dict[tuple[str, int, int], Finding],
    fail_reason: str,
    pass_reason: str,
    evidence: list[Evidence],
) -> Outcome:
    if findings:
        ordered = sorted(findings.values(), key=lambda f: (f.path, f.line, f.col))
        return Outcome("fail", fail_reason.format(n=len(ordered)), evidence[:MAX_EVIDENCE], ordered)
    return Outcome("pass", pass_reason, evidence[:MAX_EVIDENCE])


# -- ML203 ---------------------------------------------------------------------------------
@check("ML203")
def fit_in_serving(project: Project, rule: Rule) -> Outcome:
    """``scaler.fit_transform(request_rows)`` inside a handler re-fits per request."""
    methods = set(rule.vocab("fit-methods"))
    ml_modules = load_traits_vocabulary()["TRAINS"]["ml-modules"]
    served = prediction_handlers(project)
    if not served:
        return Outcome("n/a", "no request handler runs a model")
    findings: dict[tuple[str, int, int], Finding] = {}
    for handler in served:
        for reached in handler.reached:
            call = reached.call
            if reached.target is not None and reached.target.kind != "external":
                continue
            if last_attr(call.name) not in methods:
                continue
            info = project.symbols.by_path[reached.path]
            if not project.imports_module(info, ml_modules):
                continue  # `.fit` in a module with no ML library is something else
            key = (reached.path, call.line, call.col)
            name = project.call_name(reached.path, call)
            findings.setdefault(
                key,
                Finding(
                    rule.code,
                    reached.path,
                    call.line,
                    f"{handler.label} → {chain_text(handler, reached)} → {name}(): fitted on "
                    "request data at serving time; fit once in training and load the fitted "
                    "transformer",
                    col=call.col,
                    end_line=call.end_line,
                    symbol=call.scope,
                ),
            )
    evidence = [
        Evidence(f"{h.label} examined: no fit on its path", h.route.file, h.route.line)
        for h in served
    ]
    return _fail_or_pass(
        rule.code,
        findings,
        "{n} fit call(s) run on every request",
        f"none of the {len(served)} prediction handler(s) fits a model or transformer",
        evidence,
    )


# -- ML303 ---------------------------------------------------------------------------------
_VERSION = re.compile(r"(^|/)(v\d+(\.\d+)*|api-?v\d+|\{version\}|<version>)(/|:|$)", re.IGNORECASE)


@check("ML303")
def unversioned_api_route(project: Project, rule: Rule) -> Outcome:
    """A prediction route's full path carries no /v1/ segment."""
    findings: dict[tuple[str, int, int], Finding] = {}
    evidence: list[Evidence] = []
    examined = 0
    for handler in prediction_handlers(project):
        for route in handler.routes:
            if route.framework not in HTTP_FRAMEWORKS:
                continue
            examined += 1
            if _VERSION.search(route.path):
                evidence.append(
                    Evidence(f"{route.method} {route.path} is versioned", route.file, route.line)
                )
                continue
            findings.setdefault(
                (route.file, route.line, 1),
                Finding(
                    rule.code,
                    route.file,
                    route.line,
                    f"{route.method} {route.path}: prediction route without a version segment "
                    "(/v1/...); clients break when the request or response schema changes",
                    symbol=route.handler_qualname,
                ),
            )
    if not examined:
        return Outcome("n/a", "no prediction route with an HTTP path was recognised")
    return _fail_or_pass(
        rule.code,
        findings,
        "{n} prediction route(s) have no version in their path",
        f"all {examined} prediction route(s) carry a version segment",
        evidence,
    )


# -- ML306 ---------------------------------------------------------------------------------
@check("ML306")
def unvalidated_request(project: Project, rule: Rule) -> Outcome:
    """Raw dict/Request/Any bodies, or request.json reads, with no schema on the path."""
    raw_types = rule.vocab("raw-types")
    body_reads = rule.vocab("body-reads")
    validators = rule.vocab("validators")
    schema_bases = rule.vocab("schema-bases")
    decorators = rule.vocab("validating-decorators")
    served = prediction_handlers(project)
    if not served:
        return Outcome("n/a", "no request handler runs a model")
    findings: dict[tuple[str, int, int], Finding] = {}
    evidence: list[Evidence] = []
    for handler in served:
        raw = _raw_inputs(project, handler, raw_types, body_reads)
        if not raw:
            typed = _typed_body(project, handler, schema_bases) or _framework_input(handler)
            if typed is None:
                validated = validated_in(project, handler, validators, schema_bases, decorators)
                typed = f"input validated by {validated[2]}" if validated else None
            if typed:
                evidence.append(
                    Evidence(f"{handler.label}: {typed}", handler.ref.path, handler.function.line)
                )
            continue
        validated = validated_in(project, handler, validators, schema_bases, decorators)
        if validated is not None:
            path, line, what = validated
            evidence.append(Evidence(f"{handler.label}: body validated by {what}", path, line))
            continue
        for path, line, what in raw:
            findings.setdefault(
                (path, line, 1),
                Finding(
                    rule.code,
                    path,
                    line,
                    f"{handler.label}: {what} reaches the model with no schema validation "
                    "(pydantic, marshmallow, jsonschema)",
                    symbol=handler.ref.qualname,
                ),
            )
    if not findings and not evidence:
        return Outcome("n/a", "no prediction handler takes a request body")
    return _fail_or_pass(
        rule.code,
        findings,
        "{n} prediction input(s) reach the model unvalidated",
        "prediction handlers take typed, validated request bodies",
        evidence,
    )


_SCALARS = frozenset(
    {
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "fastapi.UploadFile",
        "starlette.datastructures.UploadFile",
    }
)


def _raw_inputs(
    project: Project, handler: Handler, raw_types: tuple[str, ...], body_reads: tuple[str, ...]
) -> list[tuple[str, int, str]]:
    """(path, line, description) of each raw input the handler takes or reads."""
    framework = handler.route.framework
    function = handler.function
    found: list[tuple[str, int, str]] = []
    if framework == "lambda":
        params = [p for p in function.params if p.name not in ("self", "context")]
        if params and (params[0].annotation is None or match_any(params[0].annotation, raw_types)):
            found.append((handler.ref.path, function.line, f"the Lambda `{params[0].name}` dict"))
        return found
    if framework in ("fastapi", "litestar", "bentoml", "ray", "kserve"):
        for param in function.params:
            if param.name in ("self", "cls") or param.annotation is None:
                continue
            if (
                param.default is not None
                and param.default.kind == "call"
                and str(param.default.value).endswith(
                    ("Depends", "Provide", "File", "Header", "Path", "Query", "Cookie")
                )
            ):
                continue
            base = param.annotation.split("[", 1)[0].strip()
            if base.endswith("Request"):
                continue  # only a problem when the body is read from it (below)
            if match_any(base, raw_types):
                found.append(
                    (
                        handler.ref.path,
                        function.line,
                        f"parameter `{param.name}: {param.annotation}`",
                    )
                )
    for ref in sorted(handler.scopes, key=lambda r: (r.path, r.qualname)):
        info = project.symbols.by_path.get(ref.path)
        if info is None:
            continue
        for read in info.facts.reads:
            if read.scope == ref.qualname and match_any(read.name, body_reads):
                found.append((ref.path, read.line, f"`{read.name}`"))
        for call in info.calls_by_scope.get(ref.qualname, []):
            if match_any(call.name, body_reads):
                found.append((ref.path, call.line, f"`{call.name}()`"))
    return found


def _framework_input(handler: Handler) -> str | None:
    """Inputs the framework validates: uploads (``bytes = File(...)``, ``UploadFile``),
    scalar query/path parameters by their annotations, BentoML IO descriptors."""
    if handler.route.framework in ("lambda", "sagemaker", "azureml", "gradio", "streamlit"):
        return None
    for deco in handler.function.decorators:
        io = deco.kwargs.get("input")
        if io is not None and io.kind == "call" and str(io.value).startswith("bentoml.io."):
            return f"input parsed by {io.value}()"
    params = [p for p in handler.function.params if p.name not in ("self", "cls")]
    uploads = [
        p
        for p in params
        if (p.default is not None and str(p.default.value).endswith(("File", "Form")))
        or (p.annotation or "").endswith("UploadFile")
    ]
    if uploads:
        return f"upload `{uploads[0].name}` validated by the framework"
    scalars = [p for p in params if (p.annotation or "") in ("str", "int", "float", "bool")]
    if scalars and len(scalars) == len([p for p in params if p.annotation]):
        return f"scalar parameter(s) validated by their annotations ({scalars[0].name})"
    return None


def _typed_body(project: Project, handler: Handler, schema_bases: tuple[str, ...]) -> str | None:
    for param in handler.function.params:
        for path, cls in annotation_classes(project, handler.ref.path, param.annotation):
            if any(match_any(b, schema_bases) for b in class_bases(project, path, cls)):
                return f"body typed as schema {cls}"
    return None


# -- ML308 ---------------------------------------------------------------------------------
@check("ML308")
def hard_coded_confidence(project: Project, rule: Rule) -> Outcome:
    """``confidence=0.95`` in what a prediction handler returns."""
    keys = {k.lower() for k in rule.vocab("confidence-keys")}
    served = prediction_handlers(project)
    if not served:
        return Outcome("n/a", "no request handler runs a model")
    findings: dict[tuple[str, int, int], Finding] = {}
    for handler in served:
        for path, call in calls_in_scopes(project, handler):
            for key, value in call.kwargs.items():
                if key.lower() in keys and _plausible(value.value) and value.kind == "const":
                    findings.setdefault(
                        (path, call.line, 1),
                        _confidence_finding(rule, handler, path, call.line, key, value.value),
                    )
        for ref in handler.scopes:
            info = project.symbols.by_path.get(ref.path)
            if info is None:
                continue
            for entry in info.facts.const_entries:
                if (
                    entry.scope == ref.qualname
                    and entry.key.lower() in keys
                    and _plausible(entry.value)
                ):
                    findings.setdefault(
                        (ref.path, entry.line, 1),
                        _confidence_finding(
                            rule, handler, ref.path, entry.line, entry.key, entry.value
                        ),
                    )
    evidence = [
        Evidence(f"{h.label}: no constant confidence in its response", h.route.file, h.route.line)
        for h in served
    ]
    return _fail_or_pass(
        rule.code,
        findings,
        "{n} response(s) return a constant confidence or score",
        f"none of the {len(served)} prediction handler(s) returns a constant confidence",
        evidence,
    )


def _plausible(value: object) -> bool:
    """A number that reads as a confidence (0 is a placeholder, not a claim)."""
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < float(value) <= 100
    )


def _confidence_finding(
    rule: Rule, handler: Handler, path: str, line: int, key: str, value: object
) -> Finding:
    shown = value if not (isinstance(value, float) and value.is_integer()) else int(value)
    return Finding(
        rule.code,
        path,
        line,
        f"{handler.label} returns a constant {key}={shown}: report the model's own "
        "probability (predict_proba, softmax) or leave the field out",
        symbol=handler.ref.qualname,
    )


# -- ML309 ---------------------------------------------------------------------------------
_LIST_TYPE = re.compile(
    r"(^|[\[\s|,(])(typing\.|collections\.abc\.)?"
    r"(list|List|Sequence|MutableSequence|Set|set|frozenset|FrozenSet|Iterable)\b"
)
_TUPLE_VARIADIC = re.compile(r"(^|[\[\s|,])(typing\.)?(tuple|Tuple)\[[^\]]*\.\.\.")


def _is_list(annotation: str | None) -> bool:
    if not annotation:
        return False
    if annotation.startswith(("pydantic.conlist", "pydantic.conset", "conlist", "conset")):
        return True
    return bool(_LIST_TYPE.search(annotation) or _TUPLE_VARIADIC.search(annotation))


@check("ML309")
def unbounded_batch(project: Project, rule: Rule) -> Outcome:
    """List fields of request schemas with no maximum length."""
    bounds = set(rule.vocab("bound-keywords"))
    schema_bases = project.rule("ML306").vocab("schema-bases") if "ML306" in project.rules else ()
    validator_decorators = rule.vocab("field-validators")
    frame_calls = rule.vocab("frame-calls")
    ml306 = project.rules.get("ML306")
    raw_types = ml306.vocab("raw-types") if ml306 else ()
    body_reads = ml306.vocab("body-reads") if ml306 else ()
    findings: dict[tuple[str, int, int], Finding] = {}
    evidence: list[Evidence] = []
    schemas: dict[tuple[str, str], Handler] = {}
    list_fields = 0
    for handler in prediction_handlers(project):
        for param in handler.function.params:
            if param.name in ("self", "cls"):
                continue
            if _is_list(param.annotation) and _bounded(param.constraints, bounds):
                list_fields += 1
                evidence.append(
                    Evidence(
                        f"{handler.label}: parameter `{param.name}` has a maximum length",
                        handler.ref.path,
                        handler.function.line,
                    )
                )
            elif _is_list(param.annotation):
                list_fields += 1
                findings.setdefault(
                    (handler.ref.path, handler.function.line, 1),
                    Finding(
                        rule.code,
                        handler.ref.path,
                        handler.function.line,
                        f"{handler.label}: parameter `{param.name}: {param.annotation}` accepts "
                        "a list of any length; bound it (Body(max_length=...)/conlist)",
                        symbol=handler.ref.qualname,
                    ),
                )
            for found in annotation_classes(project, handler.ref.path, param.annotation):
                schemas.setdefault(found, handler)
        responses = _response_classes(project, handler)
        for reached in handler.reached:
            target = reached.target
            if (
                target is not None
                and target.kind == "class"
                and target.path
                and (target.path, target.name) not in responses
            ):
                schemas.setdefault((target.path, target.name), handler)
            owner = reached.call.name.rpartition(".")[0]
            if owner and last_attr(reached.call.name) in _VALIDATE_METHODS:
                found_cls = resolve_class(project, reached.path, reached.call.scope, owner)
                if found_cls is not None:
                    schemas.setdefault(found_cls, handler)
        batch = _raw_batch(project, handler, raw_types, body_reads, frame_calls)
        if batch is not None:
            list_fields += 1
            path, line, what = batch
            findings.setdefault(
                (path, line, 1),
                Finding(
                    rule.code,
                    path,
                    line,
                    f"{handler.label}: the raw request body becomes {what} with any number "
                    "of rows; validate it with a schema whose list has a maximum length",
                    symbol=handler.ref.qualname,
                ),
            )
    # Nested schemas: the classes the request schemas' fields name (two levels).
    queue = list(schemas.items())
    examined: set[tuple[str, str]] = set()
    while queue:
        (path, cls), handler = queue.pop(0)
        if (path, cls) in examined or len(examined) > 200:
            continue
        if not any(match_any(b, schema_bases) for b in class_bases(project, path, cls)):
            continue
        examined.add((path, cls))
        info = project.symbols.by_path[path]
        validated_fields = _validated_fields(info, cls, validator_decorators)
        for field in info.facts.class_fields:
            if field.cls != cls:
                continue
            for nested in annotation_classes(project, path, field.annotation):
                if nested not in schemas:
                    schemas[nested] = handler
                    queue.append((nested, handler))
            if not _is_list(field.annotation):
                continue
            list_fields += 1
            if _bounded(field.constraints, bounds):
                evidence.append(
                    Evidence(f"{cls}.{field.name} has a maximum length", path, field.line)
                )
                continue
            if field.name in validated_fields:
                evidence.append(
                    Evidence(
                        f"{cls}.{field.name} is checked by a field validator", path, field.line
                    )
                )
                continue
            findings.setdefault(
                (path, field.line, 1),
                Finding(
                    rule.code,
                    path,
                    field.line,
                    f"{cls}.{field.name}: {field.annotation} has no maximum length, so "
                    f"{handler.label} accepts a batch of any size; use "
                    "Field(max_length=...) or conlist(..., max_length=...)",
                    symbol=cls,
                ),
            )
    if not findings and not list_fields:
        return Outcome("n/a", "no request schema of a prediction handler accepts a list")
    return _fail_or_pass(
        rule.code,
        findings,
        "{n} request list(s) have no maximum length",
        f"all {list_fields} list field(s) of request schemas are bounded",
        evidence,
    )


_VALIDATE_METHODS = frozenset({"model_validate", "model_validate_json", "parse_obj", "parse_raw"})


def _response_classes(project: Project, handler: Handler) -> set[tuple[str, str]]:
    """Classes a handler answers with (its return annotation, ``response_model=``): their
    lists are what the service sends, not what it accepts."""
    texts = [handler.function.returns or ""]
    for deco in handler.function.decorators:
        model = deco.kwargs.get("response_model")
        if model is not None and model.kind == "name":
            texts.append(str(model.value))
    found: set[tuple[str, str]] = set()
    for text in texts:
        found.update(annotation_classes(project, handler.ref.path, text))
    return found


def _raw_batch(
    project: Project,
    handler: Handler,
    raw_types: tuple[str, ...],
    body_reads: tuple[str, ...],
    frame_calls: tuple[str, ...],
) -> tuple[str, int, str] | None:
    """A raw, unvalidated body turned into a frame or array: a batch of any size
    (``payload = request.json; pd.DataFrame(payload)``, a Lambda ``event``)."""
    if not _raw_inputs(project, handler, raw_types, body_reads):
        return None
    bodies = {p.name for p in handler.function.params if p.annotation is None}
    for ref in handler.scopes:
        info = project.symbols.by_path.get(ref.path)
        for assign in info.facts.assigns if info is not None else []:
            value = str(assign.value.value or "")
            if assign.scope == ref.qualname and match_any(value, body_reads):
                bodies.update(assign.targets)
    for reached in handler.reached:
        name = project.call_name(reached.path, reached.call)
        if not match_any(name, frame_calls):
            continue
        args = [str(a.value) for a in reached.call.args if a.kind in ("name", "call")]
        heads = {a.split("[", 1)[0].split(".", 1)[0] for a in args}
        if heads & bodies or any(match_any(a, body_reads) for a in args):
            return (reached.path, reached.call.line, f"{name}()")
    return None


def _bounded(constraints: dict[str, Value], bounds: set[str]) -> bool:
    return any(k in bounds for k in constraints)


def _validated_fields(info: ModuleInfo, cls: str, decorators: tuple[str, ...]) -> set[str]:
    names: set[str] = set()
    for function in info.facts.functions:
        if function.class_name != cls:
            continue
        for deco in function.decorators:
            if match_any(deco.name, decorators) or last_attr(deco.name) in (
                "validator",
                "field_validator",
            ):
                names.update(str(a.value) for a in deco.args if a.kind == "const")
    return names


# -- ML310 ---------------------------------------------------------------------------------
@check("ML310")
def blocking_inference_in_async_handler(project: Project, rule: Rule) -> Outcome:
    """``async def`` handlers that call ``model.predict`` on the event loop."""
    offload = rule.vocab("offload-calls")
    finder = inference(project)
    served = prediction_handlers(project)
    if not served:
        return Outcome("n/a", "no request handler runs a model")
    findings: dict[tuple[str, int, int], Finding] = {}
    evidence: list[Evidence] = []
    async_count = 0
    for handler in served:
        if handler.route.framework in HANDLER_ONLY:
            continue
        if not handler.function.is_async:
            evidence.append(
                Evidence(
                    f"{handler.label}: sync handler, run in the server's threadpool",
                    handler.ref.path,
                    handler.function.line,
                )
            )
            continue
        async_count += 1
        before = len(findings)
        offloads = _offload_ranges(project, handler, offload)
        for reached in handler.reached:
            call = reached.call
            if call.awaited or finder.model_call(reached) is None:
                continue
            if any(
                reached.path == p and s == call.scope and a <= call.line <= b
                for p, s, a, b in offloads
            ):
                continue
            name = project.call_name(reached.path, call)
            findings.setdefault(
                (reached.path, call.line, call.col),
                Finding(
                    rule.code,
                    reached.path,
                    call.line,
                    f"{handler.label} → {chain_text(handler, reached)} → {name}(): synchronous "
                    "inference inside `async def` blocks the event loop; make the handler a "
                    "plain `def` or run the call in a threadpool (run_in_threadpool, "
                    "asyncio.to_thread)",
                    col=call.col,
                    end_line=call.end_line,
                    symbol=call.scope,
                ),
            )
        if offloads and len(findings) == before:
            path, _scope, line, _end = offloads[0]
            evidence.append(
                Evidence(f"{handler.label}: inference offloaded to a thread", path, line)
            )
        elif len(findings) == before:
            evidence.append(
                Evidence(
                    f"{handler.label}: async handler with no synchronous inference call found",
                    handler.ref.path,
                    handler.function.line,
                )
            )
    if not findings and not async_count:
        return Outcome("n/a", "no prediction handler runs in an event loop (none is async)")
    return _fail_or_pass(
        rule.code,
        findings,
        "{n} blocking inference call(s) in async handlers",
        f"no async prediction handler ({async_count}) blocks the event loop with inference",
        evidence,
    )


def _offload_ranges(
    project: Project, handler: Handler, offload: tuple[str, ...]
) -> list[tuple[str, str, int, int]]:
    ranges = []
    for path, call in calls_in_scopes(project, handler):
        if match_any(project.call_name(path, call), offload) or match_any(call.name, offload):
            ranges.append((path, call.scope, call.line, call.end_line))
    return ranges


__all__ = ["handlers"]
