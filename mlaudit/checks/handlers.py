"""What the serving checks share: request handlers, the functions they reach, the model calls
among those, and whether a request body goes through a schema.

Computed from the route table and the call graph of the project model; memoised on the
project object so the dozen serving checks walk each handler once.
"""

from __future__ import annotations

import re

from mlaudit.index.facts import Call
from mlaudit.project import Project, Reached
from mlaudit.project.inference import Handler, handlers, prediction_handlers
from mlaudit.project.symbols import FuncRef, ModuleInfo, last_attr, match_any

# Frameworks whose route rows are HTTP paths a client calls (others are handler-style rows:
# a Lambda handler, a Gradio/Streamlit app).
HTTP_FRAMEWORKS = frozenset(
    {"fastapi", "flask", "starlette", "litestar", "aiohttp", "django", "bentoml", "ray", "kserve"}
)
HANDLER_ONLY = frozenset({"lambda", "gradio", "streamlit", "sagemaker", "azureml"})

# The handler model lives in the project layer (the SERVES trait reads it too); the checks
# import it from here with the schema helpers below.
__all__ = [
    "HANDLER_ONLY",
    "HTTP_FRAMEWORKS",
    "Handler",
    "annotation_classes",
    "calls_in_scopes",
    "chain_text",
    "class_bases",
    "handlers",
    "is_schema_class",
    "prediction_handlers",
    "resolve_class",
    "validated_in",
]


def chain_text(handler: Handler, reached: Reached | None) -> str:
    """``predict() → predict_one() → load_model()``: how a handler reaches a call."""
    if reached is None:
        return _short(handler.ref)
    return " → ".join(_short(ref) for ref in reached.chain)


def _short(ref: FuncRef) -> str:
    return ref.qualname.rsplit(".", 1)[-1] + "()" if ref.qualname else f"<script {ref.path}>"


def calls_in_scopes(project: Project, handler: Handler) -> list[tuple[str, Call]]:
    """Every call made in the handler and the project functions it reaches."""
    result: list[tuple[str, Call]] = []
    for ref in sorted(handler.scopes, key=lambda r: (r.path, r.qualname)):
        result.extend((ref.path, call) for call in project.symbols.calls_in(ref))
    return result


# -- schemas -----------------------------------------------------------------------------
def class_bases(project: Project, path: str, cls: str, depth: int = 0) -> list[str]:
    """External base classes of a project class, through its project bases."""
    info = project.symbols.by_path.get(path)
    classdef = info.classes.get(cls) if info else None
    if classdef is None or depth > 6:
        return []
    result: list[str] = []
    for base in classdef.bases:
        target = project.symbols.resolve_dotted(base, path) if "." in base else None
        if target is None:
            target = project.symbols.resolve_call_name(path, "", base)
        if target is not None and target.kind == "class" and target.path:
            result.extend(class_bases(project, target.path, target.name, depth + 1))
        else:
            result.append(target.name if target is not None else base)
    for deco in classdef.decorators:
        result.append(deco.name)
    return result


def is_schema_class(project: Project, path: str, cls: str, bases: tuple[str, ...]) -> bool:
    return any(match_any(b, bases) for b in class_bases(project, path, cls))


def resolve_class(project: Project, path: str, scope: str, name: str) -> tuple[str, str] | None:
    """The project class a (dotted, maybe import-resolved) name refers to."""
    target = project.symbols.resolve_dotted(name, path) if "." in name else None
    if target is None or target.kind != "class":
        target = project.symbols.resolve_call_name(path, scope, name)
    if target is not None and target.kind == "class" and target.path:
        return target.path, target.name
    return None


_TYPE_WORD = re.compile(r"[A-Za-z_][\w.]*")


def annotation_classes(
    project: Project, path: str, annotation: str | None
) -> list[tuple[str, str]]:
    """Project classes named anywhere in an annotation text (``list[Item] | None``)."""
    if not annotation:
        return []
    found = []
    for word in _TYPE_WORD.findall(annotation):
        resolved = resolve_class(project, path, "", word)
        if resolved is not None and resolved not in found:
            found.append(resolved)
    return found


def validated_in(
    project: Project,
    handler: Handler,
    validators: tuple[str, ...],
    schema_bases: tuple[str, ...],
    decorators: tuple[str, ...] = (),
) -> tuple[str, int, str] | None:
    """Where the handler's path validates a payload: (path, line, what), else None."""
    for deco in handler.function.decorators:
        if match_any(deco.name, decorators):
            return (handler.ref.path, deco.line, f"@{deco.name}")
    for reached in handler.reached:
        call = reached.call
        name = project.call_name(reached.path, call)
        if match_any(name, validators):
            return (reached.path, call.line, f"{name}()")
        target = reached.target
        if (
            target is not None
            and target.kind == "class"
            and target.path
            and is_schema_class(project, target.path, target.name, schema_bases)
        ):
            return (reached.path, call.line, f"{target.name}(...) schema")
        owner = call.name.rpartition(".")[0]
        if owner and last_attr(call.name) in _VALIDATING_METHODS:
            cls = resolve_class(project, reached.path, call.scope, owner)
            if cls is None:
                cls = _instance_class(project, reached.path, call.scope, owner)
            if cls is not None and is_schema_class(project, cls[0], cls[1], schema_bases):
                return (reached.path, call.line, f"{call.name}() schema")
    return None


_VALIDATING_METHODS = frozenset(
    {
        "model_validate",
        "model_validate_json",
        "parse_obj",
        "parse_raw",
        "load",
        "loads",
        "validate",
        "validate_python",
        "from_dict",
        "convert",
    }
)


def _instance_class(project: Project, path: str, scope: str, name: str) -> tuple[str, str] | None:
    info: ModuleInfo = project.symbols.by_path[path]
    assign = info.variable(scope, name)
    if assign is None:
        return None
    built = project.symbols.instance_class(path, scope, assign)
    if built is not None and built.kind == "class" and built.path:
        return built.path, built.name
    return None
