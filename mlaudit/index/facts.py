"""Plain, serialisable facts about the files of a repository.

msgspec Structs: compact, fast to build, and decoded with type validation so a corrupt or
foreign cache entry is rejected instead of trusted.
"""

from __future__ import annotations

from msgspec import Struct, field

Scalar = str | int | float | bool | None


class Value(Struct, array_like=True, omit_defaults=True):
    """An argument or assigned value, reduced to what checks can reason about.

    kind: ``const`` (value is the literal), ``name`` (value is the dotted name, resolved
    through the file's imports), ``call`` (value is the called name), ``list`` (items holds
    the literal elements, None for non-literal ones), ``dict`` (keys holds literal keys),
    ``other`` (an expression mlaudit does not model; value is its libcst node type).
    """

    kind: str
    value: Scalar = None
    items: list[Scalar] | None = None


class Call(Struct, array_like=True, omit_defaults=True):
    """One call expression."""

    name: str  # dotted callee, imports resolved: "joblib.load", "self.load", "helper"
    line: int
    col: int
    end_line: int
    scope: str  # enclosing function qualname ("" at module level), e.g. "Model.predict"
    args: list[Value] = []
    kwargs: dict[str, Value] = {}
    guard: str | None = None  # a name tested for None/falsiness in an enclosing `if`
    conditional: bool = False  # inside an if/try/loop body of its scope
    in_main: bool = False  # inside `if __name__ == "__main__":`
    imported: bool = False  # the name's head was resolved through an import of this file
    awaited: bool = False  # the direct operand of `await`


class Decorator(Struct, array_like=True, omit_defaults=True):
    name: str  # dotted, imports resolved: "app.get", "functools.lru_cache"
    line: int
    called: bool = False
    args: list[Value] = []
    kwargs: dict[str, Value] = {}


class Param(Struct, array_like=True, omit_defaults=True):
    name: str
    annotation: str | None = None  # dotted annotation text, imports resolved
    default: Value | None = None
    # keyword arguments of a Field/Body/Query(...) default or Annotated[...] metadata call
    constraints: dict[str, Value] = {}


class Function(Struct, omit_defaults=True):
    qualname: str  # "load_model", "Predictor.predict", "outer.inner"
    line: int
    end_line: int
    is_async: bool = False
    class_name: str | None = None
    decorators: list[Decorator] = []
    params: list[Param] = []
    globals: list[str] = []
    returns: str | None = None
    model_refs: list[str] = []  # names read in the body that mention a model ("app.state.model")
    # Structural hash of a small body (node types, literals, imported names; local names
    # normalised by first use): equal shapes are the same code under other names.
    shape: str | None = None
    shape_size: int = 0  # tokens hashed into ``shape``


class ClassDef(Struct, omit_defaults=True):
    qualname: str
    line: int
    end_line: int
    bases: list[str] = []
    decorators: list[Decorator] = []


class Import(Struct, array_like=True, omit_defaults=True):
    """``import a.b as c`` binds c -> a.b; ``from a import b`` binds b -> a.b."""

    module: str  # absolute module imported from (relative imports resolved when possible)
    name: str | None  # the imported member for ``from`` imports
    alias: str  # the local binding
    line: int
    level: int = 0  # dots of a relative import that could not be resolved


class Assign(Struct, array_like=True, omit_defaults=True):
    """An assignment at module or class level, or a `self.x = ...` in a method."""

    targets: list[str]
    value: Value
    line: int
    scope: str = ""
    call: int | None = None  # index into PyFacts.calls when the value is a call
    annotation: str | None = None  # `model: Predictor = ...`: the declared type, resolved


class Assert(Struct, array_like=True, omit_defaults=True):
    """``assert left OP right`` with an ordering comparison: how tests state thresholds."""

    line: int
    scope: str
    left: str  # source text of the left operand (at most 80 characters)
    op: str  # "<", "<=", ">", ">="
    right: str
    number: float | None = None  # the numeric literal on either side, if any


class ConstEntry(Struct, array_like=True, omit_defaults=True):
    """A string-keyed entry of a dict literal (outside class bodies) whose value is a number:
    ``{"confidence": 0.95}`` (what a hard-coded response field looks like)."""

    key: str
    value: float
    line: int
    scope: str


class ClassField(Struct, array_like=True, omit_defaults=True):
    """An annotated field in a class body (pydantic/dataclass/attrs schemas).

    ``constraints``: keyword arguments of the ``Field(...)``/``conlist(...)`` call found in
    the default, the annotation or ``Annotated[...]`` metadata.
    """

    cls: str
    name: str
    annotation: str | None
    line: int
    default: Value | None = None
    constraints: dict[str, Value] = {}


class Read(Struct, array_like=True, omit_defaults=True):
    """A read of a request body attribute (``flask.request.json``, ``request.form``)."""

    name: str
    line: int
    scope: str


class PyFacts(Struct, omit_defaults=True):
    """What one Python module (or notebook) says, as far as checks care."""

    module: str  # dotted module name from the path ("app.model")
    depth: str = "full"  # "full": libcst pass; "light": text scan only (imports)
    imports: list[Import] = []
    calls: list[Call] = []
    functions: list[Function] = []
    classes: list[ClassDef] = []
    assigns: list[Assign] = []
    asserts: list[Assert] = []
    has_main: bool = False
    main_line: int | None = None
    const_entries: list[ConstEntry] = []
    class_fields: list[ClassField] = []
    reads: list[Read] = []


class Requirement(Struct, array_like=True, omit_defaults=True):
    """One dependency line of an environment spec."""

    name: str
    spec: str  # the version specifier text ("==1.2", ">=1", "" when none)
    line: int
    pinned: bool
    text: str = ""


class DepsFacts(Struct, omit_defaults=True):
    """Dependencies declared by a requirements file, pyproject, Pipfile or environment.yml."""

    requirements: list[Requirement] = []
    includes: list[str] = []  # -r/-c files referenced
    compiled: bool = False  # a pip-compile (or uv pip compile) header: a lock in disguise
    has_hashes: bool = False
    build_system_only: bool = False


class DockerInstruction(Struct, array_like=True, omit_defaults=True):
    cmd: str  # upper-case instruction
    value: list[str]
    line: int
    end_line: int
    json_form: bool = False
    flags: list[str] = []
    original: str = ""


class DockerFacts(Struct, omit_defaults=True):
    instructions: list[DockerInstruction] = []


class Step(Struct, omit_defaults=True):
    """One CI step (GitHub Actions), or one script line of another CI system."""

    job: str
    line: int
    name: str | None = None
    run: str | None = None
    run_line: int | None = None  # line of the first line of the `run:` text
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict, name="with")


class WorkflowFacts(Struct, omit_defaults=True):
    name: str | None = None
    triggers: list[str] = []
    jobs: list[str] = []
    steps: list[Step] = []
    includes: list[str] = []  # GitLab `include:` local files


class ProcessLine(Struct, array_like=True, omit_defaults=True):
    """One process type of a Procfile: ``web: gunicorn app:app``."""

    name: str
    command: str
    line: int


class ParseError(Struct, array_like=True, omit_defaults=True):
    """A file, or part of one, that could not be read. Becomes an ML901 finding."""

    message: str
    line: int = 1
    col: int = 1


class Suppression(Struct, array_like=True, omit_defaults=True):
    """``# mlaudit: ignore[ML307] reason`` (kind "line") or ``file-ignore`` (kind "file")."""

    kind: str
    codes: list[str]
    line: int
    reason: str = ""
    own_line: bool = True  # the comment stands alone, so it also covers the line below


class YamlKey(Struct, array_like=True, omit_defaults=True):
    """One key of a YAML document: its dotted path (``[]`` for list items), line, and
    scalar value when it has one (``spec.predictor.canaryTrafficPercent``, 12, ``10``)."""

    path: str
    line: int
    value: str | None = None


class YamlDoc(Struct, omit_defaults=True):
    """One document of a YAML file read as configuration (manifests, rules, compose)."""

    line: int
    kind: str | None = None  # Kubernetes-style `kind:`
    api_version: str | None = None
    name: str | None = None  # metadata.name
    keys: list[YamlKey] = []


class YamlFacts(Struct, omit_defaults=True):
    documents: list[YamlDoc] = []
    templated: bool = False  # Helm/Go templating: read line by line, not as YAML


class ScriptCommand(Struct, array_like=True, omit_defaults=True):
    """A command of a Makefile target, a tox env, a nox session or a shell script."""

    section: str  # make target, tox env ("testenv:lint"), nox session; "" for scripts
    line: int
    text: str


class ScriptFacts(Struct, omit_defaults=True):
    commands: list[ScriptCommand] = []
    sections: list[str] = []  # every target/env/session, in file order
    depends: dict[str, list[str]] = {}  # make prerequisites per target


class NotebookCell(Struct, array_like=True, omit_defaults=True):
    """One code cell of a notebook: where its lines are in the joined code and the .ipynb."""

    index: int  # 0-based index over all cells (markdown included)
    start: int  # line of the cell's first line in the joined code
    lines: list[int] = []  # per line of the cell: its line in the .ipynb JSON text
    cols: list[int] = []  # per line of the cell: the column where it starts there


class NotebookMap(Struct, omit_defaults=True):
    cells: list[NotebookCell] = []


class TextHit(Struct, array_like=True, omit_defaults=True):
    """A word or heading found in a prose or config file, with its line."""

    text: str
    line: int


class FileFacts(Struct, omit_defaults=True):
    """Everything the index knows about one file."""

    path: str
    kind: str
    digest: str = ""
    lines: int = 0
    python: PyFacts | None = None
    deps: DepsFacts | None = None
    docker: DockerFacts | None = None
    workflow: WorkflowFacts | None = None
    text_hits: list[str] = []  # for prose/config files: vocabulary words found in the text
    errors: list[ParseError] = []
    suppressions: list[Suppression] = []
    triaged: str = ""  # Python: "full" or "light", triage's verdict on the text (cached)
    yaml: YamlFacts | None = None  # manifests, alert rules, compose files
    script: ScriptFacts | None = None  # Makefile, tox.ini, shell scripts called by CI
    patterns: list[str] = []  # .dockerignore patterns
    processes: list[ProcessLine] = []
    notebook: NotebookMap | None = None  # notebooks: python facts use joined-code lines
    words: list[TextHit] = []  # prose/config files: catalog `text-words` found (lowercased)
    headings: list[TextHit] = []  # markdown: heading texts (lowercased)
    front_matter: list[str] = []  # markdown: keys of a YAML front matter block
    lfs_patterns: list[TextHit] = []  # .gitattributes: patterns with filter=lfs
    machine_paths: list[TextHit] = []  # config files: "key=value" of developer-machine paths
