"""Property-based tests of the small parsers mlaudit owns: requirement lines, the
suppression-comment grammar, route-prefix joining, the YAML line of a CI step, and finding
fingerprints."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlaudit.catalog import load_catalog
from mlaudit.fingerprints import SourceLines, fingerprint_findings
from mlaudit.index.requirements import parse_pyproject, parse_requirements
from mlaudit.index.suppressions import parse_suppressions
from mlaudit.index.workflows import parse_github_workflow
from mlaudit.project.routes import join_paths
from mlaudit.results import CheckResult, Finding

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- requirement lines ------------------------------------------------------------------------
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}([-_.][A-Za-z0-9]{1,4}){0,2}", fullmatch=True)
VERSIONS = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True)
OPERATORS = st.sampled_from(["==", ">=", "<=", "~=", "!=", ">", "<", "==="])


@st.composite
def requirement_lines(draw: st.DrawFn) -> tuple[str, str, bool]:
    """(line, name, pinned) of a requirement pip accepts."""
    name = draw(NAMES)
    extras = draw(st.sampled_from(["", "[cli]", "[a,b]"]))
    op = draw(OPERATORS)
    version = draw(VERSIONS)
    if op == "~=" and "." not in version:
        version += ".0"  # PEP 440: a compatible release names at least two segments
    wildcard = op in ("==", "!=") and draw(st.booleans())
    spec = f"{op}{version}{'.*' if wildcard else ''}"
    marker = draw(st.sampled_from(["", ' ; python_version >= "3.8"', "; sys_platform == 'linux'"]))
    comment = draw(st.sampled_from(["", "  # why", "\t# pinned for CUDA"]))
    space = draw(st.sampled_from(["", " "]))
    line = f"{name}{extras}{space}{spec}{marker}{comment}"
    pinned = op == "===" or (op == "==" and not wildcard)
    return line, name, pinned


NOISE = st.sampled_from(
    ["", "# a comment", "   ", "--index-url https://example.invalid/simple", "-r other.txt"]
)


@SETTINGS
@given(st.lists(st.tuples(requirement_lines(), st.lists(NOISE, max_size=2)), max_size=12))
def test_requirement_lines_keep_name_pin_and_line(
    entries: list[tuple[tuple[str, str, bool], list[str]]],
) -> None:
    lines: list[str] = []
    expected: list[tuple[str, int, bool]] = []
    for (line, name, pinned), noise in entries:
        lines.extend(noise)
        lines.append(line)
        expected.append((name, len(lines), pinned))
    facts, errors = parse_requirements("\n".join(lines) + "\n")
    assert errors == []
    assert [(r.name, r.line, r.pinned) for r in facts.requirements] == expected


@SETTINGS
@given(requirement_lines(), st.sampled_from(["\n", "\r\n"]), st.integers(0, 3))
def test_continuations_and_line_endings_keep_the_first_physical_line(
    entry: tuple[str, str, bool], newline: str, blank: int
) -> None:
    line, name, _ = entry
    head = line.split("#")[0].rstrip()
    text = newline * blank + head + " \\" + newline + "    --hash=sha256:abc" + newline
    facts, errors = parse_requirements(text)
    assert errors == []
    assert [(r.name, r.line) for r in facts.requirements] == [(name, blank + 1)]
    assert facts.requirements[0].pinned  # hashed lines are pinned by their hash
    assert facts.has_hashes


@SETTINGS
@given(st.text(max_size=300))
def test_requirements_parser_never_raises_and_errors_point_at_real_lines(text: str) -> None:
    facts, errors = parse_requirements(text)
    count = max(len(text.splitlines()), 1)
    for error in errors:
        assert 1 <= error.line <= count and error.message
    for requirement in facts.requirements:
        assert 1 <= requirement.line <= count


@SETTINGS
@given(st.text(max_size=300))
def test_pyproject_parser_never_raises(text: str) -> None:
    _, errors = parse_pyproject(text)
    for error in errors:
        assert error.line >= 1 and error.message


# -- suppression comments ---------------------------------------------------------------------
CODES = st.lists(
    st.sampled_from(["ML307", "ML1", "ML102", "unseeded-randomness", "model-loaded-per-request"]),
    min_size=1,
    max_size=3,
)
REASONS = st.text(
    alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" .,_()"),
    max_size=40,
).map(str.strip)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ignore", "file-ignore"]),
            CODES,
            REASONS,
            st.sampled_from(["", "x = load()  ", "RUN pip install x "]),  # code before it
            st.sampled_from(["#", "# ", "#\t"]),
            st.sampled_from(["", " ", " - ", ": ", " \u2014 "]),
        ),
        max_size=6,
    ),
    st.lists(
        st.sampled_from(["", "x = 1", "# mlaudit is great", "# mlaudit: nothing"]), max_size=3
    ),
)
def test_suppression_directives_round_trip(
    directives: list[tuple[str, list[str], str, str, str, str]], filler: list[str]
) -> None:
    lines: list[str] = []
    expected: list[tuple[str, list[str], int, str]] = []
    for kind, codes, reason, before, hash_, lead in directives:
        lines.extend(filler)
        comment = f"{before}{hash_}mlaudit: {kind}[{', '.join(codes)}]"
        lines.append(comment + (lead + reason if reason else ""))
        expected.append(("file" if kind == "file-ignore" else "line", codes, len(lines), reason))
    found = parse_suppressions("\n".join(lines))
    assert [(s.kind, s.codes, s.line, s.reason) for s in found] == expected


@SETTINGS
@given(st.text(max_size=200))
def test_suppression_parser_never_raises_and_lines_are_real(text: str) -> None:
    count = len(text.splitlines())
    for suppression in parse_suppressions(text):
        assert 1 <= suppression.line <= count
        assert suppression.kind in ("line", "file")
        assert all(code.strip() == code and code for code in suppression.codes)


# -- route prefixes ---------------------------------------------------------------------------
SEGMENT = st.from_regex(r"[a-z0-9_{}-]{1,6}", fullmatch=True)


@st.composite
def route_parts(draw: st.DrawFn) -> str:
    segments = draw(st.lists(SEGMENT, max_size=3))
    if not segments:
        return draw(st.sampled_from(["", "/"]))
    lead = draw(st.sampled_from(["", "/"]))
    trail = draw(st.sampled_from(["", "/"]))
    return lead + "/".join(segments) + trail


@SETTINGS
@given(st.lists(route_parts(), max_size=5))
def test_join_paths_one_slash_between_segments_in_order(parts: list[str]) -> None:
    joined = join_paths(*parts)
    assert joined.startswith("/")
    assert "//" not in joined
    segments = [s for part in parts for s in part.split("/") if s]
    assert [s for s in joined.split("/") if s] == segments
    last = next((part for part in reversed(parts) if part), "")
    if segments and not last.endswith("/"):
        assert not joined.endswith("/")  # no trailing slash is invented


@SETTINGS
@given(st.lists(route_parts(), min_size=1, max_size=5), st.integers(0, 5))
def test_join_paths_is_associative(parts: list[str], cut: int) -> None:
    cut = min(cut, len(parts))
    head = parts[:cut]
    assume(any(head))
    assert join_paths(join_paths(*head), *parts[cut:]) == join_paths(*parts)


# -- YAML line of a CI step -------------------------------------------------------------------
STEP_BODIES = st.sampled_from(
    [
        ["uses: actions/checkout@v4"],
        ["name: Test", "run: pytest -q"],
        ["run: |", "  python train.py", "  python eval.py"],
        ["run: >-", "  echo folded"],
        ["uses: actions/setup-python@v5", "with:", "  python-version: '3.11'"],
        ["id: x", "name: 'quoted: colon'", 'run: echo "#not a comment"'],
    ]
)
GAPS = st.lists(st.sampled_from(["", "      # a comment", "   "]), max_size=2)


@SETTINGS
@given(
    st.lists(
        st.lists(st.tuples(GAPS, STEP_BODIES), min_size=1, max_size=4), min_size=1, max_size=3
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["", "# header\n\n", "---\n"]),
)
def test_step_line_is_the_line_of_its_dash_item(
    jobs: list[list[tuple[list[str], list[str]]]], newline: str, header: str
) -> None:
    lines = [*header.splitlines(), "name: ci", "on: [push]", "jobs:"]
    expected: list[tuple[str, int, int | None]] = []
    for index, steps in enumerate(jobs):
        job = f"job{index}"
        lines += [f"  {job}:", "    runs-on: ubuntu-latest", "    steps:"]
        for gaps, body in steps:
            lines += gaps
            lines.append("      - " + body[0])
            dash = len(lines)
            lines += ["        " + rest for rest in body[1:]]
            run_line = None
            for offset, entry in enumerate(body):
                if entry.startswith("run:"):
                    block = entry.rstrip().endswith(("|", ">-", ">"))
                    run_line = dash + offset + (1 if block else 0)
            expected.append((job, dash, run_line))
    facts, errors = parse_github_workflow(newline.join(lines) + newline)
    assert errors == []
    assert [(s.job, s.line, s.run_line) for s in facts.steps] == expected


# -- fingerprints -----------------------------------------------------------------------------
RULE_CODES = sorted(load_catalog())
SOURCE_LINES = st.lists(
    st.from_regex(r"[a-z_]{1,8} = [a-z_]{1,8}\([a-z0-9_, ]{0,12}\)", fullmatch=True),
    min_size=1,
    max_size=12,
    unique=True,
)


def _fingerprints(root: Path, text: str, findings: list[tuple[str, int]]) -> list[str]:
    (root / "m.py").write_text(text)
    catalog = load_catalog()
    made = [Finding(code, "m.py", line, "message") for code, line in findings]
    results = [CheckResult(catalog[f.code], "fail", "", findings=[f]) for f in made]
    fingerprint_findings(results, SourceLines(root))
    return [f.fingerprint for f in made]


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    SOURCE_LINES,
    st.lists(st.tuples(st.sampled_from(RULE_CODES), st.integers(0, 11)), min_size=1, max_size=6),
    st.lists(st.from_regex(r"# [a-z ]{0,20}", fullmatch=True), min_size=1, max_size=5),
    st.integers(0, 12),
)
def test_fingerprints_survive_unrelated_edits_and_tell_findings_apart(
    source: list[str],
    picks: list[tuple[str, int]],
    inserted: list[str],
    where: int,
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        findings = [(code, index % len(source) + 1) for code, index in picks]
        before = _fingerprints(root, "\n".join(source) + "\n", findings)
        # distinct findings (code + source line) get distinct fingerprints; identical ones are
        # told apart by their occurrence index
        assert len(set(before)) == len(before)
        for (code_a, line_a), fp_a in zip(findings, before, strict=True):
            for (code_b, line_b), fp_b in zip(findings, before, strict=True):
                same_basis = code_a == code_b and line_a == line_b
                assert (fp_a.split(":")[0] == fp_b.split(":")[0]) == same_basis
        # insert unrelated lines above some findings: lines move, fingerprints do not
        at = min(where, len(source))
        edited = source[:at] + inserted + source[at:]
        moved = [(code, line + len(inserted) if line > at else line) for code, line in findings]
        after = _fingerprints(root, "\n".join(edited) + "\n", moved)
        assert sorted(after) == sorted(before)
        assert dict(zip(moved, after, strict=False)) == dict(zip(moved, before, strict=False))


# -- extraction of arbitrary content never fails inside mlaudit -------------------------------
YAMLISH = st.lists(
    st.sampled_from(
        [
            "on: push",
            "jobs:",
            "  a:",
            "    steps:",
            "      - run: x",
            "      - uses: a/b@v1",
            "    uses: ./.github/workflows/x.yml",
            "  - *x",
            "x: &x [1]",
            "runs:",
            "  steps: *x",
            "? complex",
            ": key",
            "!!binary aGk=",
            "- [",
            "{a: 1, b: [2, {c: 3}]}",
            "'quoted: value'",
            "\t",
            "---",
            "...",
            "%YAML 1.1",
        ]
    ),
    max_size=12,
).map("\n".join)
DOCKERISH = st.lists(
    st.sampled_from(
        [
            "FROM python:3.11 AS base",
            "RUN a \\",
            "\\",
            "COPY <<EOF /x",
            "EOF",
            'CMD ["a", "b"]',
            "CMD [",
            "ENV A",
            "ENV A=1 B",
            "HEALTHCHECK NONE",
            "ONBUILD RUN x",
            "# escape=`",
            "ARG",
            "USER",
            "",
        ]
    ),
    max_size=10,
).map("\n".join)
CONTENT = {
    "requirements": st.text(max_size=200),
    "pyproject": st.text(max_size=200),
    "github-workflow": st.one_of(YAMLISH, st.text(max_size=100)),
    "dockerfile": st.one_of(DOCKERISH, st.text(max_size=100)),
    "python": st.text(alphabet="()[]{}:=,.+-*/@ \n\tabcdefif\\'\"#lambdanot", max_size=120),
}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_extracting_any_content_reports_problems_without_internal_errors(
    data: st.DataObject,
) -> None:
    from mlaudit.index.extract import extract_bytes

    kind = data.draw(st.sampled_from(sorted(CONTENT)))
    text = data.draw(CONTENT[kind])
    encoded = text.encode("utf-8", errors="surrogatepass")
    name = {"github-workflow": ".github/workflows/ci.yml", "dockerfile": "Dockerfile"}.get(
        kind, f"x.{'py' if kind == 'python' else 'txt'}"
    )
    for mode in ("full", "triage") if kind == "python" else ("full",):
        facts = extract_bytes(name, kind, encoded, mode)
        for error in facts.errors:
            assert not error.message.startswith("internal error"), (kind, text, error)
            assert error.line >= 1 and error.col >= 1


# -- string literal values ----------------------------------------------------------------------
STRING_BODIES = st.text(
    alphabet=st.sampled_from(
        ["a", " ", "'", '"', "\\", "\n", "\r", "\t", "é", "\U0001d518", "{", "N"]
    ),
    max_size=12,
)


@SETTINGS
@given(
    st.sampled_from(["", "r", "R", "u", "U", "b", "rb", "Br", "f"]),
    st.sampled_from(["'", '"', "'''", '"""']),
    STRING_BODIES,
)
def test_string_token_values_agree_with_python(prefix: str, quote: str, body: str) -> None:
    """The quick path for escape-free tokens gives what ``ast.literal_eval`` gives."""
    import ast

    import libcst

    from mlaudit.index.python import string_token_value

    token = f"{prefix}{quote}{body}{quote}"
    try:
        node = libcst.parse_expression(token)
    except Exception:
        assume(False)
        raise
    assume(isinstance(node, libcst.SimpleString) and node.value == token)
    try:
        value = ast.literal_eval(token)
        expected = value if isinstance(value, str) else None
    except Exception:
        expected = None
    assert string_token_value(token) == expected
