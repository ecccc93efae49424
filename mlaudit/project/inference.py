"""Which request handlers run a model: one definition for the SERVES trait and every
serving, monitoring and deployment check.

A handler predicts when, on its path through the repository's own code, it calls an
inference method (``predict``, ``generate``, ...), calls an object that a model loader
produced (``booster.inplace_predict``, ``session.run``, ``pipe(text)``, wherever the object
lives: a module global, an import from another module, ``self``/class attributes, a dict of
models, ``app.state``), runs a model server's handler (BentoML, KServe, Ray Serve), or, when
none of these is recognised, when the route itself says it predicts (``POST /v1/predict``).
Deciding this in one place keeps the trait and the checks from disagreeing about what a
prediction route is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlaudit.catalog import load_traits_vocabulary
from mlaudit.index.facts import Assign, Call, Function
from mlaudit.project.symbols import FuncRef, ModuleInfo, last_attr, match_any
from mlaudit.results import Evidence, Route

if TYPE_CHECKING:
    from mlaudit.project import Project, Reached

# Method names that run a model they are called on (beside the inference methods).
_RUN_WORDS = ("predict", "infer", "generat", "classif", "score", "detect", "embed", "encode")
_RUN_METHODS = frozenset({"run", "async_run", "remote", "__call__", "forward", "transform"})


def runs_model(method: str) -> bool:
    """``inplace_predict``, ``run``, ``__call__``: a method that runs the model it is called
    on (``eval``, ``to`` or ``get_preprocessor`` do not)."""
    return method in _RUN_METHODS or any(word in method.lower() for word in _RUN_WORDS)


# Dispatch suffixes of model servers: ``runner.predict.run`` (BentoML), ``handle.remote``.
RUNNER_SUFFIXES = (".run", ".async_run", ".remote")
# Frameworks whose handlers exist only to run a model.
MODEL_FRAMEWORKS = frozenset({"bentoml", "kserve", "ray", "sagemaker", "azureml"})
_MAX_DEPTH = 6
# Methods of a model that return the model (or a runner of it).
_MODEL_TO_MODEL = frozenset({"to_runner", "to", "eval", "cuda", "cpu", "half", "float"})


@dataclass(frozen=True)
class ModelCall:
    """The call on a handler's path that runs the model, and how it was recognised."""

    reached: Reached | None  # None: decided by the framework or the route itself
    name: str
    how: str  # "inference method" | "model object" | "framework handler" | "prediction route"


@dataclass
class Handler:
    """A function that answers requests, with every route that reaches it."""

    ref: FuncRef
    routes: list[Route]
    function: Function
    reached: list[Reached] = field(default_factory=list)
    model_call: ModelCall | None = None

    @property
    def route(self) -> Route:
        return self.routes[0]

    @property
    def label(self) -> str:
        return f"{self.route.method} {self.route.path}"

    @property
    def scopes(self) -> set[FuncRef]:
        """The handler and every project function it reaches."""
        found = {self.ref}
        for reached in self.reached:
            found.update(reached.chain)
            ref = reached.target.func if reached.target is not None else None
            if ref is not None:
                found.add(ref)
        return found


# Inference method names that other objects have too (str.encode, a generator's forward):
# they count only on a receiver that reads as a model, or holds one.
GENERIC_METHODS = frozenset({"encode", "embed", "generate", "forward", "infer", "classify"})
_MODEL_WORDS = ("model", "encoder", "embedder", "classifier", "pipe", "net", "llm", "predictor")
_ML_PACKAGES = ("sentence_transformers", "transformers", "torch", "tensorflow", "keras", "vllm")
# What a from_pretrained can load that is not a model.
_NOT_MODELS = ("Tokenizer", "Processor", "FeatureExtractor", "Config", "ImageProcessor")


def model_receiver(name: str) -> bool:
    """Whether the object a method is called on reads as a model (``st_model.encode``)."""
    receiver = name.rpartition(".")[0].lower()
    return receiver.split(".", 1)[0] in _ML_PACKAGES or any(w in receiver for w in _MODEL_WORDS)


def runner_call(name: str) -> str:
    """``runner.predict.run`` (BentoML runners), ``handle.predict.remote`` (Ray Serve):
    the inference method the call dispatches to."""
    for suffix in RUNNER_SUFFIXES:
        if name.endswith(suffix) and name.count(".") >= 2:
            return name[: -len(suffix)]
    return name


def offloaded_inference(call: Call, inference: set[str]) -> str | None:
    """An inference method passed by reference: ``run_in_threadpool(model.predict, x)``."""
    for arg in call.args:
        if arg.kind == "name" and last_attr(str(arg.value)) in inference:
            return str(arg.value)
    return None


def calls_model_by_name(name: str) -> bool:
    """``self.model(x)``, ``model(x)``: calling a model object directly (torch, keras)."""
    tail = last_attr(name).replace("()", "")
    return tail in ("model", "net", "pipe") or (
        tail.endswith("_model") and tail.split("_", 1)[0] not in _VERBS
    )


# `load_model()`, `current_model()`: functions named for what they do to a model.
_VERBS = frozenset(
    [
        "load",
        "get",
        "build",
        "make",
        "current",
        "create",
        "register",
        "list",
        "update",
        "delete",
        "set",
        "fetch",
        "train",
        "save",
        "activate",
        "compare",
        "resolve",
        "select",
        "find",
        "init",
        "download",
        "upload",
        "reload",
        "deploy",
        "import",
        "export",
        "default",
        "active",
        "latest",
        "best",
    ]
)


_WORD = re.compile(r"[a-z]+")


def route_word(route: Route, words: tuple[str, ...]) -> str | None:
    """The first of ``words`` that starts a word of the route's path or handler name:
    ``predict`` for ``/v1/predict``, ``/models/{name}:infer`` or ``def classify_image``."""
    texts = [route.path.lower(), route.handler_qualname.rsplit(".", 1)[-1].lower()]
    for text in texts:
        tokens = set(_WORD.findall(text))
        for word in words:
            if word in tokens or any(t.startswith(word) for t in tokens):
                return word
    return None


class ModelObjects:
    """Which names hold a model: what a loader of the catalog (or a repository function
    that returns one) produced, followed through assignments, imports, ``self`` and class
    attributes, dicts of models and ``app.state``."""

    def __init__(self, project: Project, loaders: tuple[str, ...], makers: tuple[str, ...]):
        self.project = project
        self.loaders = loaders
        self.makers = makers
        self._functions: dict[FuncRef, str | None] = {}
        self._state: dict[str, str | None] | None = None

    # -- values ----------------------------------------------------------------------------
    def produces_model(self, name: str) -> str | None:
        """The catalog entry a called name matches: a loader or a model constructor (not
        the tokenizer or config a ``from_pretrained`` can also load)."""
        if any(word in name for word in _NOT_MODELS):
            return None
        return match_any(name, self.loaders) or match_any(name, self.makers)

    def value_source(self, path: str, scope: str, assign: Assign, depth: int) -> str | None:
        """The loader behind an assigned value, if it is a model."""
        value = assign.value
        if value.kind == "call" and isinstance(value.value, str):
            return self.call_source(path, assign.scope or scope, value.value, depth)
        if value.kind == "name" and isinstance(value.value, str):
            return self.source(path, assign.scope or scope, value.value, depth + 1)
        return None

    def call_source(self, path: str, scope: str, called: str, depth: int) -> str | None:
        """What a call expression returns, if it is a model: a loader, a repository function
        that returns a model, or a method of a model (``bento_model.to_runner()``).

        ``called`` is the callee as the index recorded it: its head already resolved through
        the file's imports (``joblib.load``, ``app.model.load_model``), else a local name.
        """
        if depth > _MAX_DEPTH:
            return None
        found = self.produces_model(called)
        if found is not None:
            return found
        symbols = self.project.symbols
        if path not in symbols.by_path:
            return None
        target = symbols.resolve_dotted(called, path) if "." in called else None
        if target is None:
            target = symbols.resolve_call_name(path, scope, called)
        if target is not None and target.kind == "external":
            found = self.produces_model(target.name)
        elif target is not None and target.kind == "function" and target.path:
            found = self.function_source(FuncRef(target.path, target.name), depth + 1)
        if found is not None:
            return found
        owner = called.rpartition(".")[0].replace("()", "")
        if owner and last_attr(called) in _MODEL_TO_MODEL:
            return self.source(path, scope, owner, depth + 1)
        return None

    def function_source(self, ref: FuncRef, depth: int) -> str | None:
        """A repository function that returns a model: it calls a loader (directly or in a
        helper) and is not a handler itself."""
        if ref in self._functions:
            return self._functions[ref]
        self._functions[ref] = None  # recursion guard
        found: str | None = None
        if depth <= _MAX_DEPTH:
            for reached in self.project.walk_calls(ref, max_depth=3):
                name = self.project.call_name(reached.path, reached.call)
                found = self.produces_model(name)
                if found is not None:
                    break
        self._functions[ref] = found
        return found

    # -- names -----------------------------------------------------------------------------
    def source(self, path: str, scope: str, name: str, depth: int = 0) -> str | None:
        """The loader that produced the object a name (as written in ``scope``, its head
        resolved through imports) refers to."""
        if depth > _MAX_DEPTH or not name or name.startswith("<"):
            return None
        symbols = self.project.symbols
        info = symbols.by_path.get(path)
        if info is None:
            return None
        name = name.replace("()", "")
        assign = self._assignment(info, scope, name)
        if assign is not None:
            return self.value_source(path, assign.scope, assign, depth + 1)
        state = _state_attr(name)
        if state is not None:
            return self.state_sources().get(state)
        head, _, rest = name.partition(".")
        dotted = (
            info.bindings[head] + ("." + rest if rest else "") if head in info.bindings else name
        )
        if "." in dotted:  # a module-level object of another module of the repository
            split = symbols.split_module(dotted, path)
            if split is not None and split[0] != path:
                return self.source(split[0], "", split[1], depth + 1)
        owner = name.rpartition(".")[0]
        if owner.endswith("[]"):  # `models[].clf`: an attribute of an item of a holder
            return self.source(path, scope, owner, depth + 1)
        return None

    def _assignment(self, info: ModuleInfo, scope: str, name: str) -> Assign | None:
        found = info.variable(scope, name)
        if found is not None:
            return found
        if name.startswith(("self.", "cls.")):
            cls = _enclosing_class(info, scope)
            if cls is None:
                return None
            attr = name.split(".", 1)[1]
            for (where, target), assign in sorted(info.variables.items()):
                if where == cls and target == attr:
                    return assign  # a class attribute
                if where.startswith(cls + ".") and target in (f"self.{attr}", f"cls.{attr}"):
                    return assign
            return None
        if name.endswith("[]") or "." in name:
            # `models["clf"] = load()` in a startup hook, read in a handler.
            for (_where, target), assign in sorted(info.variables.items()):
                if target == name:
                    return assign
        return None

    def state_sources(self) -> dict[str, str | None]:
        """``app.state.model = load()`` anywhere in production code: attribute -> loader."""
        if self._state is None:
            self._state = {}
            for info in self.project.modules():
                for assign in info.facts.assigns:
                    for target in assign.targets:
                        attr = _state_attr(target)
                        if attr is None or self._state.get(attr):
                            continue
                        self._state[attr] = self.value_source(info.path, assign.scope, assign, 1)
        return self._state


def _state_attr(name: str) -> str | None:
    """``request.app.state.model`` -> ``model``: app-wide state shared by handlers."""
    parts = name.split(".")
    if "state" in parts[:-1]:
        at = len(parts) - 1 - parts[::-1].index("state")
        if at < len(parts) - 1:
            return ".".join(parts[at + 1 :])
    return None


def _enclosing_class(info: ModuleInfo, scope: str) -> str | None:
    function = info.functions.get(scope)
    if function is not None and function.class_name:
        return function.class_name
    parts = scope.split(".")
    while parts:
        parts.pop()
        candidate = ".".join(parts)
        if candidate in info.classes:
            return candidate
    return None


class Inference:
    """Finds the model call of each handler (memoised on the project)."""

    def __init__(self, project: Project) -> None:
        vocab = load_traits_vocabulary()["SERVES"]
        self.project = project
        self.inference = set(vocab["inference-methods"])
        self.inference_calls: tuple[str, ...] = vocab.get("inference-calls", ())
        self.words: tuple[str, ...] = vocab.get("prediction-words", ())
        health = project.rules.get("ML304")
        self.health_words = (
            tuple(
                p.strip("/").replace("_", "")
                for p in (*health.vocab("liveness-paths"), *health.vocab("readiness-paths"))
            )
            if health is not None
            else ()
        )
        loaders = project.rule("ML307").vocab("loaders") if "ML307" in project.rules else ()
        self.loaders: tuple[str, ...] = loaders
        self.objects = ModelObjects(project, loaders, vocab.get("model-constructors", ()))

    def model_call(self, reached: Reached) -> ModelCall | None:
        """Whether one reached call runs a model."""
        project = self.project
        target = reached.target
        if target is not None and target.kind != "external":
            return None  # the repository's own code: walked into, not a model call itself
        call = reached.call
        full = project.call_name(reached.path, call)
        name = runner_call(full)
        method = last_attr(name)
        if match_any(full, self.inference_calls):
            return ModelCall(reached, full, "inference method")
        if method in self.inference:
            if method not in GENERIC_METHODS or model_receiver(full):
                return ModelCall(reached, name, "inference method")
            loader = self.objects.source(reached.path, call.scope, call.name.rpartition(".")[0])
            if loader is not None:
                return ModelCall(reached, full, f"model object (from {loader}())")
            return None  # `text.encode("utf-8")` is not inference
        passed = offloaded_inference(call, self.inference)
        if passed is not None:  # run_in_threadpool(model.predict, rows)
            return ModelCall(reached, passed, "inference method")
        written = call.name
        for suffix in RUNNER_SUFFIXES:
            if written.endswith(suffix):
                written = written[: -len(suffix)]
                break
        owner, _, attr = written.rpartition(".")
        # A call of a model object itself (`pipe(text)`), or an inference-like method on it
        # (`booster.inplace_predict(x)`, `session.run(None, feeds)`).
        candidates = [written]
        if owner and (runs_model(attr) or written != call.name):
            candidates.append(owner)
        for candidate in candidates:
            if candidate.endswith("()"):  # `session().run(...)`: what a call returns
                loader = self.objects.call_source(reached.path, call.scope, candidate[:-2], 1)
            else:
                loader = self.objects.source(reached.path, call.scope, candidate)
            if loader is not None:
                return ModelCall(reached, full, f"model object (from {loader}())")
        if calls_model_by_name(name):
            return ModelCall(reached, name, "model object")
        return None

    def for_handler(self, handler: Handler) -> ModelCall | None:
        for reached in handler.reached:
            found = self.model_call(reached)
            if found is not None:
                return found
        route = handler.route
        if route.framework in MODEL_FRAMEWORKS:
            return ModelCall(None, f"{route.framework} inference handler", "framework handler")
        return None


def inference(project: Project) -> Inference:
    found = project.__dict__.get("_mlaudit_inference")
    if found is None:
        found = project.__dict__["_mlaudit_inference"] = Inference(project)
    return found  # type: ignore[no-any-return]


def handlers(project: Project) -> list[Handler]:
    """Every route handler, in a stable order, with its reachable calls and model call
    (memoised: the trait and a dozen checks read it)."""
    cached = project.__dict__.get("_mlaudit_handlers")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    finder = inference(project)
    grouped: dict[FuncRef, list[Route]] = {}
    for route in project.routes:
        grouped.setdefault(FuncRef(route.handler_path, route.handler_qualname), []).append(route)
    result: list[Handler] = []
    for ref, routes in sorted(grouped.items(), key=lambda kv: (kv[0].path, kv[0].qualname)):
        function = project.function(ref)
        if function is None and not ref.qualname:  # a script rerun per request (Streamlit)
            function = Function(qualname="", line=routes[0].line, end_line=routes[0].line)
        if function is None:
            continue
        handler = Handler(ref, routes, function, list(project.walk_calls(ref)))
        handler.model_call = finder.for_handler(handler)
        result.append(handler)
    project.__dict__["_mlaudit_handlers"] = result
    return result


def prediction_handlers(project: Project) -> list[Handler]:
    """Handlers that run a model, or whose route says it predicts when the repository
    holds ML code: what every serving check calls a prediction route."""
    cached = project.__dict__.get("_mlaudit_prediction_handlers")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    finder = inference(project)
    result = []
    for handler in handlers(project):
        if handler.model_call is None:
            word = _named_prediction(project, finder, handler)
            if word is None:
                continue
            handler.model_call = ModelCall(
                None, f"route named for prediction ({word!r})", "prediction route"
            )
        result.append(handler)
    project.__dict__["_mlaudit_prediction_handlers"] = result
    return result


def _named_prediction(project: Project, finder: Inference, handler: Handler) -> str | None:
    """A prediction word in a route's path or handler name, in a repository with ML code
    (health and docs routes excluded)."""
    if not finder.words or not uses_ml(project):
        return None
    health = finder.health_words
    for route in handler.routes:
        if route.method not in ("POST", "GET", "PUT", "ANY", "WEBSOCKET", "LAMBDA"):
            continue
        if health and route_word(route, health) is not None:
            continue  # `/predict/health` checks the service, it does not predict
        word = route_word(route, finder.words)
        if word is not None:
            return word
    return None


def uses_ml(project: Project) -> bool:
    """Whether production code imports an ML library or a model loader's module."""
    cached = project.__dict__.get("_mlaudit_uses_ml")
    if cached is None:
        vocab = load_traits_vocabulary()
        roots = set(vocab["TRAINS"]["ml-modules"]) | set(vocab["SERVES"].get("ml-serving", ()))
        roots |= {loader.split(".", 1)[0] for loader in inference(project).loaders}
        roots.discard("*")
        cached = any(
            imp.module.split(".", 1)[0] in roots
            for info in project.modules()
            for imp in info.facts.imports
        )
        project.__dict__["_mlaudit_uses_ml"] = cached
    return bool(cached)


def prediction_routes(project: Project) -> list[Route]:
    """The routes of the prediction handlers, in route-table order."""
    keys = {h.ref for h in prediction_handlers(project)}
    return [r for r in project.routes if FuncRef(r.handler_path, r.handler_qualname) in keys]


def lambda_adapter(project: Project) -> Evidence | None:
    """A Lambda handler that runs the web app through an adapter (``Mangum(app)``): the
    app's routes are Lambda invocations, and the platform owns the process."""
    cached = project.__dict__.get("_mlaudit_lambda_adapter", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    adapters = project.rule("ML305").vocab("lambda-adapters") if "ML305" in project.rules else ()
    found: Evidence | None = None
    for handler in handlers(project):
        if handler.route.framework != "lambda" or found is not None:
            continue
        for reached in handler.reached:
            name = project.call_name(reached.path, reached.call)
            if match_any(name, adapters):
                message = f"{handler.label} runs the app through {name}()"
                found = Evidence(message, reached.path, reached.call.line)
                break
    if found is None and adapters:
        # ``handler = Mangum(app)`` at module level: the handler Lambda calls is the adapter.
        for info in project.modules():
            if info.path not in project.production_paths:
                continue
            for call in info.facts.calls:
                if call.scope or not call.args:
                    continue
                name = project.call_name(info.path, call)
                if match_any(name, adapters):
                    found = Evidence(
                        f"the Lambda handler is {name}() over the app", info.path, call.line
                    )
                    break
            if found is not None:
                break
    project.__dict__["_mlaudit_lambda_adapter"] = found
    return found
