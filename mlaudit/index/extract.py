"""Turn one file into FileFacts: read it once, dispatch on its kind, never raise.

Whatever goes wrong in a parser becomes a ParseError fact (an ML901 finding later), so a
single odd file never stops a scan.
"""

from __future__ import annotations

import ast
import hashlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlaudit.index.facts import FileFacts, ParseError, ProcessLine
from mlaudit.index.suppressions import parse_suppressions
from mlaudit.workspace import SourceFile, is_test_path

# Bump when any extractor changes what it records: cached facts of older versions are
# then ignored.
FACTS_VERSION = "23"

MAX_BYTES = 2 * 1024 * 1024  # larger files are reported, not parsed
# Notebooks carry their outputs (plots as base64): the code is a small part of the bytes.
NOTEBOOK_MAX_BYTES = 32 * 1024 * 1024

# Seconds one file may take to extract before it is reported (ML901) instead of waited on.
# MLAUDIT_FILE_TIMEOUT overrides it (0 turns the budget off).
DEFAULT_TIME_BUDGET = 60.0
OVER_BUDGET = "not parsed: extraction took longer than"

# Kinds whose content the index reads; every other kind is known by its path alone.
PARSED_KINDS = frozenset(
    {"python", "requirements", "pyproject", "dockerfile", "github-workflow", "github-action"}
    | {"gitlab-ci", "azure-pipelines", "circleci", "bitbucket", "jenkinsfile"}
    | {"yaml", "compose", "makefile", "config", "shell", "dockerignore"}
    | {"procfile"}
    | {"notebook", "pipfile", "environment", "gitattributes"}
    | {"markdown", "yaml", "toml", "config"}
)

# Kinds read on the chance that they matter: an oversized or binary one is skipped quietly.
QUIET_KINDS = frozenset({"yaml", "config", "shell"})


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def decode(data: bytes) -> str:
    """Text of a file for line-oriented readers; undecodable bytes are replaced."""
    return data.decode("utf-8-sig", errors="replace")


class _OverBudget(BaseException):
    """Raised by the timer inside one file's extraction (a BaseException, so no parser's
    ``except Exception`` swallows it)."""


def time_budget() -> float:
    """The per-file time budget in seconds (0: none)."""
    raw = os.environ.get("MLAUDIT_FILE_TIMEOUT", "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_TIME_BUDGET
    except ValueError:
        value = DEFAULT_TIME_BUDGET
    return max(value, 0.0)


class _Alarm:
    """Whether the armed timer has fired: an interrupt inside CPython's ast construction
    comes out as a SystemError ("AST constructor recursion depth mismatch") that does not
    carry the _OverBudget, so the flag is what tells an interrupted parse."""

    fired = False


def _on_alarm(signum: int, frame: object) -> None:
    _Alarm.fired = True
    raise _OverBudget


@contextmanager
def _budget(seconds: float) -> Iterator[None]:
    """Interrupt the body after ``seconds`` of wall time (POSIX interval timer).

    Works wherever extraction runs: the main thread of the CLI (serial path) and the main
    thread of each pool worker, which is where ProcessPoolExecutor runs its tasks. Elsewhere
    (another thread, no SIGALRM, a timer already armed by the host program) there is no
    budget. The previous handler and timer are restored afterwards. The interrupt lands
    when Python code next runs: a native parser call finishes first.
    """
    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )
    if not usable:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    _Alarm.fired = False
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _Alarm.fired = False


def extract_bytes(path: str, kind: str, data: bytes, mode: str = "full") -> FileFacts:
    """Facts of one file from its bytes, within the per-file time budget.

    For Python, ``mode`` is ``full`` (the libcst pass), ``light`` (imports only, after a
    syntax check) or ``triage`` (decide from the text, in the worker, and record the verdict).
    """
    if kind not in PARSED_KINDS:
        return FileFacts(path=path, kind=kind, digest=digest(data))
    seconds = time_budget()
    try:
        with _budget(seconds):
            return _extract_bytes(path, kind, data, mode)
    except _OverBudget:
        facts = FileFacts(path=path, kind=kind, digest=digest(data))
        facts.errors.append(ParseError(f"{OVER_BUDGET} the {seconds:g}-second budget"))
        return facts


def _extract_bytes(path: str, kind: str, data: bytes, mode: str) -> FileFacts:
    facts = FileFacts(path=path, kind=kind, digest=digest(data))
    if kind not in PARSED_KINDS:
        return facts
    if kind in QUIET_KINDS and (len(data) > MAX_BYTES or b"\0" in data[:8192]):
        return facts  # generic YAML, config and scripts: read only when they are plain text
    limit = NOTEBOOK_MAX_BYTES if kind == "notebook" else MAX_BYTES
    if len(data) > limit:
        facts.errors.append(
            ParseError(f"not parsed: {len(data):,} bytes is over the {limit:,}-byte budget")
        )
        return facts
    if b"\0" in data[:8192]:
        facts.errors.append(ParseError("not parsed: binary content (NUL bytes)"))
        return facts
    text = decode(data)
    facts.lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if kind == "notebook":
        from mlaudit.index.notebook import notebook_code

        notebook = notebook_code(text)
        facts.errors.extend(notebook.errors)
        if not notebook.map.cells:
            _clamp_lines(facts)
            return facts
        facts.notebook = notebook.map
        kind, text = "python", notebook.code
        data = text.encode("utf-8")
    facts.suppressions = parse_suppressions(text)
    if kind == "python" and mode != "full":
        from mlaudit.index.triage import default_triage, light_facts

        if mode == "triage":
            full = default_triage().needs_full_pass(path, text, is_test_path(path))
            mode = facts.triaged = "full" if full else "light"
        if mode == "light" and _compiles(data):
            facts.python = light_facts(path, text)
            return facts
    if kind in ("markdown", "yaml", "toml", "config"):
        from mlaudit.index.text import text_facts

        text_facts(facts, kind, text)
    try:
        before = len(facts.errors)
        _dispatch(facts, kind, data, text)
        if facts.notebook is not None:
            _notebook_error_lines(facts, before)
        _clamp_lines(facts)
    except RecursionError:
        facts.errors.append(ParseError("not parsed: nesting too deep for the parser"))
    except Exception as exc:
        if _interrupted_by_budget(exc):
            raise _OverBudget from exc
        facts.errors.append(
            ParseError(f"internal error while reading: {type(exc).__name__}: {exc}")
        )
    return facts


def _interrupted_by_budget(exc: BaseException) -> bool:
    """Whether the timer's interrupt caused ``exc``: Python wraps an exception raised while
    a class body is being set up (a lazily imported module, say) in a RuntimeError, and
    CPython's ast construction turns it into a SystemError (see _Alarm)."""
    if _Alarm.fired:
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _OverBudget):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _clamp_lines(facts: FileFacts) -> None:
    """Parsers report an error at end of input one line past the last: point inside."""
    last = max(facts.lines, 1)
    for error in facts.errors:
        if error.line > last:
            error.line, error.col = last, 1


def _notebook_error_lines(facts: FileFacts, first: int) -> None:
    """Errors of the joined code of a notebook point at the cell's line in the .ipynb."""
    from mlaudit.index.notebook import locate

    assert facts.notebook is not None
    for error in facts.errors[first:]:
        where = locate(facts.notebook, error.line)
        if where is not None:
            cell, within, line, _ = where
            error.message = f"cell {cell}, line {within}: {error.message}"
            error.line, error.col = line, 1


def _compiles(data: bytes) -> bool:
    """Whether CPython's own compiler accepts the file: the cheap syntax check of a light
    record. Anything it rejects (also syntax newer than this interpreter) gets the full
    libcst pass, which reports a real error as ML901."""
    import io
    import tokenize
    import warnings

    try:
        # As libcst does: decode strictly by the PEP 263 cookie (CPython tolerates bad
        # bytes inside comments; the full pass would not, and both passes must agree).
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        data.decode(encoding)
        # Compiling to a code object (never run) is CPython's cheapest complete syntax
        # check: about twice as fast as ast.parse, which builds Python objects for the tree.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(data, "<mlaudit>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, LookupError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def preload_parsers() -> None:
    """Import the parsers before the time budget is armed or worker processes fork: an
    import is slow and cannot be interrupted cleanly, and forked workers inherit it."""
    import mlaudit.index.dockerfile
    import mlaudit.index.python
    import mlaudit.index.requirements
    import mlaudit.index.text
    import mlaudit.index.workflows  # noqa: F401


def _dispatch(facts: FileFacts, kind: str, data: bytes, text: str) -> None:
    if kind == "python":
        _python(facts, data)
    elif kind == "requirements":
        from mlaudit.index.requirements import parse_requirements

        facts.deps, errors = parse_requirements(text)
        facts.errors.extend(errors)
    elif kind == "pyproject":
        from mlaudit.index.requirements import parse_pyproject

        facts.deps, errors = parse_pyproject(text)
        facts.errors.extend(errors)
    elif kind == "environment":
        from mlaudit.index.requirements import parse_environment

        facts.deps, errors = parse_environment(text)
        facts.errors.extend(errors)
    elif kind == "gitattributes":
        from mlaudit.index.text import gitattributes_facts

        gitattributes_facts(facts, text)
    elif kind == "pipfile":
        from mlaudit.index.requirements import parse_pipfile

        facts.deps, errors = parse_pipfile(text)
        facts.errors.extend(errors)
    elif kind == "dockerfile":
        from mlaudit.index.dockerfile import parse_dockerfile

        facts.docker, errors = parse_dockerfile(text)
        facts.errors.extend(errors)
    elif kind in ("github-workflow", "github-action"):
        from mlaudit.index.workflows import parse_github_workflow

        facts.workflow, errors = parse_github_workflow(text)
        facts.errors.extend(errors)
    elif kind == "procfile":
        facts.processes = parse_procfile(text)
    else:
        _configuration(facts, kind, text)


def _configuration(facts: FileFacts, kind: str, text: str) -> None:
    """CI systems, deployment YAML and the files CI steps call (index/ci.py, manifests.py)."""
    from mlaudit.index import ci, manifests

    if kind in ("gitlab-ci", "azure-pipelines", "circleci", "bitbucket"):
        facts.workflow, errors = ci.parse_ci_yaml(text, kind)
        facts.errors.extend(errors)
    elif kind == "jenkinsfile":
        facts.workflow = ci.parse_jenkinsfile(text)
    elif kind in ("yaml", "compose"):
        if kind == "compose" or manifests.wanted(text):
            facts.yaml, errors = manifests.parse_yaml_config(text)
            facts.errors.extend(errors)
        if kind == "yaml" and "script:" in text and not facts.errors and "{{" not in text:
            # Possibly a file a GitLab `include:` brings in: its jobs count when included.
            workflow, errors = ci.parse_ci_yaml(text, "yaml")
            if workflow.steps and not errors:
                facts.workflow = workflow
    elif kind == "makefile":
        facts.script = ci.parse_makefile(text)
    elif kind == "toml" and path_name(facts.path) in ci.MISE_FILES:
        facts.script = ci.parse_mise(text)
    elif kind == "config":
        if "testenv" in text:
            facts.script = ci.parse_tox_ini(text)
    elif kind == "shell":
        facts.script = ci.parse_shell(text)
    elif kind == "dockerignore":
        facts.patterns = ci.parse_dockerignore(text)


def path_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def parse_procfile(text: str) -> list[ProcessLine]:
    """``name: command`` lines of a Procfile (Heroku, Dokku, foreman, honcho)."""
    result = []
    for number, raw in enumerate(text.splitlines(), 1):
        name, sep, command = raw.partition(":")
        name = name.strip()
        if sep and name and not name.startswith("#") and name.replace("-", "_").isidentifier():
            result.append(ProcessLine(name, command.strip(), number))
    return result


def _python(facts: FileFacts, data: bytes) -> None:
    import libcst as cst

    from mlaudit.index.python import extract, parse_python

    tree, too_deep = _cpython_parse(data)
    if too_deep is not None:
        facts.errors.append(too_deep)
        return
    try:
        module = parse_python(data)
    except cst.ParserSyntaxError as exc:
        facts.errors.append(_syntax_error(data, exc))
        return
    except (UnicodeDecodeError, SyntaxError) as exc:
        # libcst decodes by the PEP 263 cookie (UTF-8 by default) and raises SyntaxError
        # for bytes that are not in that encoding.
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        facts.errors.append(ParseError(f"cannot decode as Python source: {reason}"))
        return
    facts.python = extract(module, facts.path, tree, data)


def _cpython_parse(data: bytes) -> tuple[ast.Module | None, ParseError | None]:
    """CPython's parse of the file: the guard of the libcst parse, and the tree positions
    are read from (positions.py); None when CPython rejects the file (newer syntax, say).

    libcst's native parser overflows its stack (the process dies) on nesting deeper than
    CPython accepts: thousands of unary operators, lambdas, brackets. CPython's parser
    refuses those first, cheaply and safely, so its verdict guards the libcst parse."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(data), None
    except (RecursionError, MemoryError) as exc:
        if _interrupted_by_budget(exc):
            raise _OverBudget from exc
        return None, ParseError("not parsed: nesting too deep for the parser")
    except SyntaxError as error:
        if "too many nested parentheses" in (error.msg or ""):
            message = f"syntax error: {error.msg}"
            return None, ParseError(message, error.lineno or 1, error.offset or 1)
    except (ValueError, OverflowError):
        pass
    return None, None


def _syntax_error(data: bytes, exc: Exception) -> ParseError:
    """The clearest account of a syntax error: CPython's message and position when its
    parser rejects the file too (it points at the offending token), else libcst's."""
    import ast

    try:
        ast.parse(data)
    except SyntaxError as error:
        if error.lineno:
            return ParseError(f"syntax error: {error.msg}", error.lineno, error.offset or 1)
    except (ValueError, RecursionError, MemoryError, OverflowError):
        pass
    line = getattr(exc, "raw_line", 1) or 1
    column = (getattr(exc, "raw_column", 0) or 0) + 1
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
    return ParseError(f"syntax error: {message}", line, column)


def extract_file(root: Path, source: SourceFile) -> FileFacts:
    """Read and extract one file; an unreadable file becomes a ParseError fact."""
    try:
        data = (root / source.path).read_bytes() if source.kind in PARSED_KINDS else b""
    except OSError as exc:
        facts = FileFacts(path=source.path, kind=source.kind)
        facts.errors.append(ParseError(f"cannot read: {exc.strerror or exc}"))
        return facts
    return extract_bytes(source.path, source.kind, data)
