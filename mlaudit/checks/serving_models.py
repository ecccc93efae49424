"""3xx: how models are persisted and read back.

ML301 non-portable-model-format and ML302 unsafe-model-deserialization.
"""

from __future__ import annotations

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.index.facts import Call, Value
from mlaudit.project import Project
from mlaudit.project.symbols import ModuleInfo, match_any
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5


def _feeds_state_dict(info: ModuleInfo, load: Call) -> bool:
    """``model.load_state_dict(torch.load(p))``, or the loaded object (or an item of it)
    passed to ``load_state_dict`` in the same function: weights, not a model object."""
    index = next((i for i, c in enumerate(info.facts.calls) if c is load), None)
    targets = {
        t
        for a in info.facts.assigns
        if a.call is not None and a.call == index and a.scope == load.scope
        for t in a.targets
    }
    for call in info.calls_by_scope.get(load.scope, []):
        if not call.name.endswith("load_state_dict"):
            continue
        for arg in [*call.args, *call.kwargs.values()]:
            if arg.kind == "call" and str(arg.value).endswith("torch.load"):
                return True
            if arg.kind == "name" and str(arg.value).split("[", 1)[0] in targets:
                return True
    return False


def _kwarg_true(call: Call, name: str) -> bool:
    value = call.kwargs.get(name)
    return value is not None and value.kind == "const" and value.value is True


def _is_weights(value: Value | None) -> bool:
    """``torch.save(model.state_dict(), ...)``: tensors, not a pickled model object."""
    if value is None:
        return False
    if value.kind == "call":
        return str(value.value).endswith(("state_dict", "dict"))
    if value.kind in ("dict", "list", "const"):
        return True
    text = str(value.value or "").lower()
    return any(word in text for word in ("state", "ckpt", "checkpoint", "weights"))


_DATA_WORDS = frozenset(
    {
        "result",
        "results",
        "metrics",
        "metric",
        "history",
        "config",
        "cfg",
        "stats",
        "data",
        "dataset",
        "df",
        "frame",
        "vocab",
        "cache",
        "params",
        "report",
        "scores",
        "features",
        "index",
        "records",
    }
)


def _names_data(name: str) -> bool:
    """A variable whose name says it holds data or results rather than a model."""
    tail = name.rsplit(".", 1)[-1].lower()
    return tail in _DATA_WORDS or any(part in _DATA_WORDS for part in tail.split("_"))


@check("ML301")
def non_portable_model_format(project: Project, rule: Rule) -> Outcome:
    """Pickle-family persistence of models, unless a portable export exists too."""
    dumps, loads = rule.vocab("pickle-dumps"), rule.vocab("pickle-loads")
    portable = rule.vocab("portable-exports")
    native = rule.vocab("native-persistence")
    dump_sites: list[tuple[str, Call, str]] = []
    load_sites: list[tuple[str, Call, str]] = []
    exports: list[Evidence] = []
    safe: list[Evidence] = []
    for info in project.modules():
        for call in project.calls_in_module(info.path, dumps, loads, portable, native):
            kinds = [project.call_matches(call, v) for v in (dumps, loads, portable, native)]
            name = project.call_name(info.path, call)
            if kinds[0]:
                first = call.args[0] if call.args else call.kwargs.get("obj")
                if name == "torch.save" and _is_weights(first):
                    safe.append(Evidence("torch.save() of a state_dict", info.path, call.line))
                    continue
                if first is not None and first.kind in ("dict", "list", "const"):
                    continue  # a literal structure is data, not a model
                if first is not None and _names_data(str(first.value)):
                    continue  # `pickle.dump(metrics, f)`: results, not a model
                dump_sites.append((info.path, call, name))
            elif kinds[1]:
                if name == "torch.load" and (
                    _kwarg_true(call, "weights_only") or _feeds_state_dict(info, call)
                ):
                    # tensors for load_state_dict, not a pickled model object
                    safe.append(Evidence("torch.load() of a state_dict", info.path, call.line))
                    continue
                load_sites.append((info.path, call, name))
            elif kinds[2]:
                exports.append(Evidence(f"portable export: {name}()", info.path, call.line))
            elif kinds[3] and len(safe) < MAX_EVIDENCE:
                safe.append(Evidence(f"{name}(): the framework's own format", info.path, call.line))
    sites = dump_sites or load_sites
    if not sites and not exports and safe:
        return Outcome(
            "pass",
            "models are persisted or read in their framework's format, not as pickles",
            safe[:MAX_EVIDENCE],
        )
    if not sites and not exports:
        return Outcome("n/a", "no model is persisted or loaded in the repository")
    if exports:
        evidence = exports[:MAX_EVIDENCE] + [
            Evidence(f"also pickled: {name}()", path, call.line)
            for path, call, name in sites[:MAX_EVIDENCE]
        ]
        return Outcome(
            "pass", f"the model is exported in a portable format ({len(exports)} site(s))", evidence
        )
    if not sites:
        return Outcome("n/a", "no model is persisted or loaded in the repository")
    what = "persisted" if dump_sites else "read back"
    findings = [
        Finding(
            rule.code,
            path,
            call.line,
            f"{name}(): the model is {what} as a pickle, which only loads with the same "
            "library versions and can run code; export ONNX, TorchScript, SavedModel/Keras, "
            "safetensors, a native booster format or skops",
            col=call.col,
            end_line=call.end_line,
            symbol=call.scope,
        )
        for path, call, name in sites
    ]
    return Outcome(
        "fail",
        f"{len(findings)} model(s) {what} only in a pickle-based format, no portable export",
        [],
        findings,
    )


def _unsafe(call: Call, name: str, safe_loaders: tuple[str, ...]) -> str | None:
    """Why a deserialisation call is unsafe, or None when it is the safe variant."""
    if name == "torch.load":
        return None if _kwarg_true(call, "weights_only") else "without weights_only=True"
    if name == "numpy.load":
        return "with allow_pickle=True" if _kwarg_true(call, "allow_pickle") else None
    if name in ("yaml.load", "yaml.load_all"):
        loader = call.kwargs.get("Loader") or (call.args[1] if len(call.args) > 1 else None)
        if loader is not None and match_any(str(loader.value), safe_loaders):
            return None
        return "without a safe Loader"
    return "runs arbitrary code from the file"


@check("ML302")
def unsafe_model_deserialization(project: Project, rule: Rule) -> Outcome:
    """pickle/joblib/dill loads, torch.load without weights_only, unsafe yaml, remote code."""
    unsafe = rule.vocab("unsafe-loads")
    kwargs = rule.vocab("unsafe-kwargs")
    safe_loaders = rule.vocab("safe-loaders")
    modules = project.modules()
    if not modules:
        return Outcome("n/a", "no Python code")
    findings: list[Finding] = []
    safe: list[Evidence] = []
    examined = 0
    for info in modules:
        for call in info.facts.calls:
            flagged = next((k for k in kwargs if _kwarg_true(call, k)), None)
            name = project.call_name(info.path, call)
            if flagged is not None:
                reason = (
                    f"{name}(..., {flagged}=True) downloads and runs code from the model repository"
                )
            elif match_any(name, unsafe):
                examined += 1
                why = _unsafe(call, name, safe_loaders)
                if why is None:
                    if len(safe) < MAX_EVIDENCE:
                        safe.append(Evidence(f"{name}() in its safe form", info.path, call.line))
                    continue
                reason = f"{name}() {why}: loading an untrusted file executes code"
            else:
                continue
            findings.append(
                Finding(
                    rule.code,
                    info.path,
                    call.line,
                    reason,
                    col=call.col,
                    end_line=call.end_line,
                    symbol=call.scope,
                )
            )
    if findings:
        return Outcome("fail", f"{len(findings)} unsafe deserialisation call(s)", safe, findings)
    if not examined:
        framework = _safe_loads(project, rule)
        if framework:
            return Outcome(
                "pass",
                "models and files are read through safe loaders only",
                framework[:MAX_EVIDENCE],
            )
        return Outcome("n/a", f"no pickle, torch, numpy or yaml load in {len(modules)} module(s)")
    return Outcome("pass", f"all {examined} deserialisation call(s) use their safe form", safe)


def _safe_loads(project: Project, rule: Rule) -> list[Evidence]:
    """Loads that need no check: framework loaders (``from_pretrained`` without remote code,
    ``mlflow.*.load_model``, ``load_from_checkpoint``) and safe parsers (``yaml.safe_load``)."""
    names = rule.vocab("safe-loads")
    found: list[Evidence] = []
    for info in project.modules():
        for call in info.facts.calls:
            name = project.call_name(info.path, call)
            if match_any(name, names):
                found.append(Evidence(f"{name}() reads safely", info.path, call.line))
                break
        if len(found) >= MAX_EVIDENCE:
            break
    return found
