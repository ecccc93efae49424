"""1xx: evaluation of trained models — held-out evaluation (ML107), training-set scores
(ML108), baselines (ML109) and model cards (ML110)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.index.facts import Call, FileFacts, Value
from mlaudit.project import Project
from mlaudit.project.symbols import ModuleInfo
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5


def _names_in(value: Value) -> list[str]:
    """Variable names an argument reads: ``X_test``, ``test_df[]``, or a call's arguments."""
    if value.kind == "name" and isinstance(value.value, str):
        return [value.value]
    if value.kind in ("call", "list") and value.items:
        return [i for i in value.items if isinstance(i, str)]
    return []


def _held_out(name: str, words: tuple[str, ...]) -> bool:
    parts = [p for p in re.split(r"[^a-z0-9]+", name.lower()) if p]
    return any(part in words or part.rstrip("s") in words for part in parts)


def _last(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


def _call_args(call: Call) -> list[Value]:
    return [*call.args, *call.kwargs.values()]


# -- ML107 -------------------------------------------------------------------------------
@check("ML107")
def no_held_out_evaluation(project: Project, rule: Rule) -> Outcome:
    """Some evaluation on data held out from training: a split, cross-validation, an
    ``evaluate()``, validation data given to fit, or a metric on test/validation data."""
    splits = rule.vocab("split-calls")
    evaluations = rule.vocab("eval-calls")
    metrics = rule.vocab("metric-calls")
    validation_kwargs = set(rule.vocab("validation-kwargs"))
    methods = set(rule.vocab("eval-methods"))
    words = tuple(w.lower() for w in rule.vocab("held-out-words"))
    evidence: list[Evidence] = []
    for info in project.modules():
        candidates = {
            id(c) for c in project.calls_in_module(info.path, splits, evaluations, metrics)
        }
        for call in info.facts.calls:
            if id(call) not in candidates and (
                not call.kwargs or validation_kwargs.isdisjoint(call.kwargs)
            ):
                continue
            split = project.call_matches(call, splits)
            evaluation = None if split else project.call_matches(call, evaluations)
            given_kwargs = not validation_kwargs.isdisjoint(call.kwargs)
            metric = project.call_matches(call, metrics)
            if not (split or evaluation or given_kwargs or metric):
                continue
            name = project.call_name(info.path, call)
            reason = None
            if split:
                reason = f"{name}() holds data out"
            elif evaluation:
                reason = f"{name}() evaluates the model"
            elif given_kwargs:
                given = sorted(validation_kwargs & set(call.kwargs))[0]
                reason = f"{name}({given}=...) validates on held-out data"
            elif metric:
                held = [n for v in _call_args(call) for n in _names_in(v) if _held_out(n, words)]
                if held:
                    reason = f"{name}() on held-out data ({held[0]})"
            if reason is not None:
                evidence.append(Evidence(reason, info.path, call.line))
                break
        else:
            method = next(
                (f for f in info.facts.functions if f.class_name and _last(f.qualname) in methods),
                None,
            )
            if method is not None:
                evidence.append(
                    Evidence(
                        f"{method.qualname}() evaluates on held-out batches", info.path, method.line
                    )
                )
        if len(evidence) >= MAX_EVIDENCE:
            break
    if evidence:
        return Outcome("pass", "models are evaluated on held-out data", evidence)
    anchor = project.trait_anchor("TRAINS")
    return Outcome(
        "fail",
        "models are trained but never evaluated on held-out data (no split, cross-validation, "
        "evaluate() or metric on test/validation data)",
        [anchor] if anchor else [],
        anchor=anchor,
    )


# -- ML108 -------------------------------------------------------------------------------
@dataclass
class _Fit:
    call: Call
    receivers: set[str]  # the estimator, and names bound to `est.fit(...)` (fit returns it)
    data: list[str]


@dataclass
class _Flow:
    """One function, script or notebook: its fits, its scores, its assignments."""

    fits: list[_Fit] = field(default_factory=list)
    scores: list[tuple[Call, str]] = field(default_factory=list)
    assigned: dict[str, list[tuple[int, Value]]] = field(default_factory=dict)


def _receiver(name: str, method: str) -> str | None:
    suffix = "." + method
    return name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else None


def _flows(info: ModuleInfo, project: Project, rule: Rule) -> Iterator[_Flow]:
    score_methods = rule.vocab("score-methods")
    metrics = project.rule("ML107").vocab("metric-calls") if "ML107" in project.rules else ()
    flows: dict[str, _Flow] = {}
    bound: dict[int, list[str]] = {}
    for assign in info.facts.assigns:
        flow = flows.setdefault(assign.scope, _Flow())
        for target in assign.targets:
            flow.assigned.setdefault(target, []).append((assign.line, assign.value))
        if assign.call is not None:
            bound[assign.call] = assign.targets
    for index, call in enumerate(info.facts.calls):
        flow = flows.setdefault(call.scope, _Flow())
        name = call.name
        receiver = _receiver(name, "fit")
        if receiver is not None and call.args:
            # plain variables only: `X[train_idx]` and `X[test_idx]` read different rows
            data = [
                n for v in call.args[:2] for n in _names_in(v) if v.kind == "name" and _plain(n)
            ]
            if data:
                flow.fits.append(_Fit(call, {receiver, *bound.get(index, [])}, data))
            continue
        method = name.rsplit(".", 1)[-1]
        if method in score_methods and "." in name:
            flow.scores.append((call, "method"))
        elif project.call_matches(call, metrics) and not name.endswith(".score"):
            flow.scores.append((call, "metric"))
    yield from flows.values()


def _label(fit: _Fit) -> str:
    plain = sorted(r for r in fit.receivers if "(" not in r)
    return plain[0] if plain else sorted(fit.receivers)[0]


def _reassigned(flow: _Flow, name: str, after: int, before: int) -> bool:
    return any(after < line < before for line, _ in flow.assigned.get(name, []))


def _score_data(flow: _Flow, call: Call, kind: str) -> tuple[str | None, set[str]]:
    """(estimator the score uses, variables of the data it reads)."""
    if kind == "method":
        receiver = call.name.rsplit(".", 1)[0]
        names = {
            str(v.value) if v.kind == "name" and _plain(str(v.value)) else "<expr>"
            for v in call.args[:2]
        }
        return receiver, names
    estimator = None
    data: set[str] = set()
    for value in call.args[:2]:
        candidate = value
        if value.kind == "name" and isinstance(value.value, str):
            # `preds = clf.predict(X)` then `accuracy_score(y, preds)`
            made = [v for line, v in flow.assigned.get(value.value, []) if line <= call.line]
            if made and made[-1].kind == "call" and _is_prediction(made[-1]):
                candidate = made[-1]
        if candidate.kind == "call" and _is_prediction(candidate):
            assert isinstance(candidate.value, str)
            estimator = candidate.value.rsplit(".", 1)[0]
            items = candidate.items or [None]
            data.update(i if isinstance(i, str) and _plain(i) else "<expr>" for i in items)
        elif candidate.kind == "name" and isinstance(candidate.value, str):
            data.add(candidate.value if _plain(candidate.value) else "<expr>")
        else:
            data.add("<expr>")  # an expression mlaudit cannot follow: not the training data
    return estimator, data


def _plain(name: str) -> bool:
    """A plain variable (``X``, ``self.X``), not a subscript or call result."""
    return "[" not in name and "(" not in name


def _is_prediction(value: Value) -> bool:
    name = value.value if isinstance(value.value, str) else ""
    return "." in name and name.rsplit(".", 1)[-1].startswith(("predict", "decision_function"))


@check("ML108")
def evaluated_on_training_data(project: Project, rule: Rule) -> Outcome:
    """A score on the very variables the model was fit on, when it is the flow's only
    evaluation."""
    findings: list[Finding] = []
    clean: list[Evidence] = []
    for info in project.modules():
        for flow in _flows(info, project, rule):
            if not flow.fits or not flow.scores:
                continue
            on_training: list[tuple[Call, _Fit]] = []
            other = 0
            for call, kind in flow.scores:
                estimator, data = _score_data(flow, call, kind)
                match = None
                for fit in flow.fits:
                    if fit.call.line > call.line or not data:
                        continue
                    if estimator is not None and estimator not in fit.receivers:
                        continue
                    # it reads nothing but the training data, unchanged since the fit
                    if data <= set(fit.data) and not any(
                        _reassigned(flow, n, fit.call.line, call.line) for n in data
                    ):
                        match = fit
                        break
                if match is not None:
                    on_training.append((call, match))
                else:
                    other += 1
            if other:
                if len(clean) < MAX_EVIDENCE:
                    call = flow.scores[0][0]
                    clean.append(
                        Evidence(
                            "evaluation on data other than the training set", info.path, call.line
                        )
                    )
                continue  # training-set metrics beside held-out ones are a diagnostic
            for call, fit in on_training:
                findings.append(
                    Finding(
                        rule.code,
                        info.path,
                        call.line,
                        f"{project.call_name(info.path, call)}() scores on "
                        f"{', '.join(fit.data)}, the data "
                        f"{_label(fit)} was fit on at "
                        f"{project.where(info.path, fit.call.line)}, and this flow "
                        "evaluates on nothing else: the metric says how well it memorised",
                        col=call.col,
                        end_line=call.end_line,
                        symbol=call.scope,
                    )
                )
    if findings:
        return Outcome(
            "fail", f"{len(findings)} metric(s) computed only on training data", clean, findings
        )
    if clean:
        return Outcome("pass", "scores are computed on data other than the training set", clean)
    # No flow fits and scores: evaluation, if any, runs apart from training (an evaluate
    # script, a Lightning validation_step), on data the fit never saw in that flow.
    held_out = (
        no_held_out_evaluation(project, project.rule("ML107"))
        if ("ML107" in project.rules)
        else None
    )
    if held_out is not None and held_out.verdict == "pass":
        return Outcome(
            "pass",
            "models are scored apart from the flow that fits them, on held-out data",
            held_out.evidence[:MAX_EVIDENCE],
        )
    return Outcome("n/a", "no flow both fits a model and scores it")


# -- ML109 -------------------------------------------------------------------------------
def _code_baselines(project: Project, rule: Rule) -> Iterator[Evidence]:
    """Dummy models, and names that hold a baseline or the model in production: variables,
    functions (not the class a model is named after) and metric names given to calls."""
    calls = rule.vocab("baseline-calls")
    words = tuple(w.lower() for w in rule.vocab("text-words"))

    def has_word(text: str) -> str | None:
        lower = text.lower()
        return next((w for w in words if w in lower), None)

    for info in project.modules():
        model = next((c for c in info.facts.calls if project.call_matches(c, calls)), None)
        if model is not None:
            name = project.call_name(info.path, model)
            yield Evidence(f"{name}() is a baseline model", info.path, model.line)
            continue
        for call in info.facts.calls:
            if not call.args and not call.kwargs:
                continue
            word = next(
                (
                    has_word(str(v.value))
                    for v in _call_args(call)
                    if v.kind == "const"
                    and isinstance(v.value, str)
                    and _METRIC_NAME.match(v.value)
                    and has_word(v.value)
                ),
                None,
            )
            if word is not None:
                name = project.call_name(info.path, call)
                yield Evidence(f"{name}() records a {word} metric", info.path, call.line)
                break
        for function in info.facts.functions:
            word = has_word(function.qualname.rsplit(".", 1)[-1])
            if word is not None:
                yield Evidence(f"{function.qualname}() names a {word}", info.path, function.line)
                break
        for assign in info.facts.assigns:
            if assign.scope in info.classes and not assign.scope.count("."):
                continue  # a class attribute of a model named "Baseline..." is the model
            word = next((has_word(t) for t in assign.targets if has_word(t)), None)
            if word is not None:
                yield Evidence(f"{assign.targets[0]} holds a {word}", info.path, assign.line)
                break


# A metric or key name (`baseline_rmse`, `champion/f1`), not a command or a path.
_METRIC_NAME = re.compile(r"^[\w.:-]{1,60}$")


def _ci_comparisons(project: Project, rule: Rule) -> Iterator[Evidence]:
    """CI steps that compare metrics with the main branch (``dvc metrics diff main``)."""
    from mlaudit.project.ci import ci_commands

    commands = rule.vocab("comparison-commands")
    for command in ci_commands(project):
        text = " ".join(command.text.split())
        found = next((c for c in commands if c in text), None)
        if found is not None:
            yield Evidence(
                f"CI compares metrics with a previous version: `{text[:80]}`{command.where}",
                command.path,
                command.line,
            )
            return


@check("ML109")
def no_baseline(project: Project, rule: Rule) -> Outcome:
    """A dummy model, a rule-based or previous model, or a baseline metric anywhere."""
    evidence = list(_code_baselines(project, rule)) + list(_ci_comparisons(project, rule))
    words = {w.lower() for w in rule.vocab("text-words")}
    for facts in _text_files(project):
        if facts.kind == "markdown":
            # Prose that mentions a baseline is not one; a heading, table row or line with a
            # number is (the index keeps only those); notes for coding agents under
            # dot-folders are not documentation.
            if any(part.startswith(".") for part in facts.path.split("/")[:-1]):
                continue
            hits = [h for h in facts.words if h.text in words]
            hits += [h for h in facts.headings if any(w in h.text for w in words)]
        else:
            hits = [h for h in facts.words if h.text in words]
        if hits:
            evidence.append(
                Evidence(f"{facts.path} mentions a {hits[0].text}", facts.path, hits[0].line)
            )
    if evidence:
        return Outcome("pass", "a baseline to compare the model against", evidence[:MAX_EVIDENCE])
    anchor = project.trait_anchor("TRAINS")
    return Outcome(
        "fail",
        "no baseline: no dummy or previous model and no baseline metric in code, config or docs",
        [anchor] if anchor else [],
        anchor=anchor,
    )


def _text_files(project: Project) -> list[FileFacts]:
    return project.files_of("markdown", "yaml", "toml", "config")


# -- ML110 -------------------------------------------------------------------------------
SECTIONS = ("training-data", "intended-use", "limitations", "evaluation")


def _card_files(project: Project, rule: Rule) -> list[FileFacts]:
    names = {n.lower() for n in rule.vocab("card-files")}
    hf_keys = set(rule.vocab("hugging-face-keys"))
    cards = []
    for facts in project.files_of("markdown"):
        name = facts.path.rsplit("/", 1)[-1].lower()
        stem = name.rsplit(".", 1)[0]
        if name in names or stem in names or stem.replace("-", "_") in names:
            cards.append(facts)
        elif name == "readme.md" and hf_keys & set(facts.front_matter):
            cards.append(facts)  # a Hugging Face model card: README with YAML metadata
    return cards


@check("ML110")
def missing_model_card(project: Project, rule: Rule) -> Outcome:
    """A model card describing training data, intended use, limitations and evaluation."""
    cards = _card_files(project, rule)
    if not cards:
        readme = next(
            (f for f in project.files_of("markdown") if f.path.lower() == "readme.md"), None
        )
        anchor = (
            Evidence("no model card; README.md is where one would be linked", readme.path, 1)
            if readme is not None
            else project.trait_anchor("TRAINS")
        )
        return Outcome(
            "fail",
            "no model card (MODEL_CARD.md, docs/model_card.md or a Hugging Face card)",
            [anchor] if anchor else [],
            anchor=anchor,
        )
    best: tuple[int, FileFacts, list[Evidence], list[str]] | None = None
    for card in cards:
        found: list[Evidence] = []
        missing: list[str] = []
        for section in SECTIONS:
            words = tuple(w.lower() for w in rule.vocab(f"section-{section}"))
            hit = next((h for h in card.headings if any(w in h.text for w in words)), None)
            if hit is None:
                missing.append(section.replace("-", " "))
            else:
                found.append(
                    Evidence(
                        f"{section.replace('-', ' ')}: heading {hit.text!r}", card.path, hit.line
                    )
                )
        if best is None or len(found) > best[0]:
            best = (len(found), card, found, missing)
    assert best is not None
    _, card, found, missing = best
    if not missing:
        return Outcome("pass", f"{card.path} covers every model-card section", found)
    anchor = Evidence(f"model card {card.path}", card.path, 1)
    return Outcome(
        "partial",
        f"{card.path} lacks sections: {', '.join(missing)}",
        [anchor, *found],
        anchor=anchor,
    )
