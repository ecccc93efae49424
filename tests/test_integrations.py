"""Where users run mlaudit: the Markdown, GitHub-annotation and concise formats, several
reports from one scan, SARIF details GitHub code scanning reads, generated rule docs,
baselines, --diff-base, --no-ignores, file-restricted scans, the GitHub Action (actionlint,
zizmor, shellcheck, and its scan step run for real) and the pre-commit hooks (the real
`pre-commit try-repo`)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, check_of, git_init, run_cli, scan_json, write_tree

BIN = Path(sys.executable).parent
DOCS_URL = "https://github.com/mlaudit/mlaudit/blob/main/docs/rules/"


def tool(name: str) -> str:
    """A tool of the test extra, installed next to this interpreter (never skipped)."""
    found = BIN / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    assert which, f"{name} is not installed: pip install -e '.[test]'"
    return which


def sarif_run(repo: Path, *args: str) -> dict[str, Any]:
    result = run_cli("scan", repo, "-f", "sarif", "--no-cache", *args)
    assert result.code in (0, 1), result.stderr
    return result.json()["runs"][0]


def gating(report: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(code, path, line) of the findings that can fail the gate, from a JSON report."""
    return sorted(
        (c["code"], f["path"], f["line"])
        for c in report["checks"]
        for f in c["findings"]
        if not f["suppressed"] and f["in_diff"] is not False
    )


def problems(report: dict[str, Any]) -> int:
    """Open problems at warning level or above: findings, and repo-level checks that fail."""
    count = 0
    for check in report["checks"]:
        if check["severity"] == "note":
            continue
        count += sum(1 for f in check["findings"] if not f["suppressed"])
        if check["scope"] == "repo" and check["verdict"] == "fail":
            count += 1
    return count


# -- several reports from one scan ---------------------------------------------------------
def test_report_option_writes_every_format_of_one_scan(copy_fixture, tmp_path: Path):
    repo = copy_fixture("training-bad")
    out = tmp_path / "out"
    result = run_cli(
        "scan",
        repo,
        "--no-cache",
        "-f",
        "github",
        "--report",
        f"sarif={out / 'r.sarif'}",
        "--report",
        f"json={out / 'r.json'}",
        "--report",
        f"markdown={out / 'r.md'}",
        "--report",
        f"terminal={out / 'r.txt'}",
    )
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("::warning ")
    for fmt, name in (("json", "r.json"), ("sarif", "r.sarif"), ("markdown", "r.md")):
        alone = run_cli("scan", repo, "--no-cache", "-f", fmt)
        assert (out / name).read_text(encoding="utf-8") == alone.stdout, fmt
    score = json.loads((out / "r.json").read_text(encoding="utf-8"))["score"]
    assert f"Overall score: {score:g} / 100" in (out / "r.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", ["sarif", "xml=out.xml", "json="])
def test_report_option_rejects_bad_values(copy_fixture, value):
    result = run_cli("scan", copy_fixture("training-good"), "--no-cache", "--report", value)
    assert result.code == 2
    assert "FORMAT=PATH" in result.stderr


# -- Markdown ------------------------------------------------------------------------------
def test_markdown_summary(copy_fixture):
    repo = copy_fixture("fastapi-bad")
    result = run_cli("scan", repo, "--no-cache", "-f", "markdown")
    assert result.code == 1  # ML307 is an error: the default gate fails
    text = result.stdout
    report = scan_json(repo)
    assert text.startswith(f"## mlaudit: {report['score']:g} / 100 — ❌ gate failed\n")
    assert "| Section | Score | Checks |" in text
    assert f"| Serving infrastructure | {report['sections'][1]['score']:g} |" in text or (
        "| Serving infrastructure |" in text
    )
    assert "### Failing checks" in text
    assert f"[ML307]({DOCS_URL}ML307.md) model-loaded-per-request | error |" in text
    assert "### Top findings" in text
    (finding,) = check_of(report, "ML307")["findings"]
    assert f"`{finding['path']}:{finding['line']}`" in text
    # Failing checks come first by severity: the error before the warnings.
    assert text.index("ML307](") < text.index("ML304](")


def test_markdown_stays_comment_sized(make_repo):
    deps = "".join(f"package-{i}>=1.0\n" for i in range(400))
    repo = make_repo({"requirements.txt": deps, "train.py": "import numpy\n"})
    text = run_cli("scan", repo, "--no-cache", "-f", "markdown").stdout
    assert len(text) < 20_000  # GitHub comments hold 65,536 characters
    assert "… and 385 more" in text
    assert text.count("requirements.txt:") == 15


# -- GitHub workflow commands --------------------------------------------------------------
def test_github_annotations(copy_fixture):
    repo = copy_fixture("training-bad")
    # Two checks, so the annotations stay under GitHub's per-step limit of ten.
    chosen = ("--select", "ML102,ML603", "--fail-on", "warning")
    result = run_cli("scan", repo, "--no-cache", "-f", "github", *chosen)
    report = run_cli("scan", repo, "--no-cache", "-f", "json", *chosen).json()
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert (
        "::warning file=train.py,line=14,col=22,title=ML102 unseeded-randomness::"
        "numpy.random.rand() draws randomness" in result.stdout
    )
    # Repo-level failures are annotated at the file where the fix belongs.
    assert any(
        line.startswith("::warning file=.github/workflows/ci.yml,line=7,title=ML603 ")
        for line in lines
    )
    # The message links to the rule documentation, on its own (escaped) line.
    assert f"%0A{DOCS_URL}ML102.md" in result.stdout
    from mlaudit import __version__

    assert lines[-1].startswith(
        f"mlaudit {__version__}: score {report['score']:g} / 100, "
        f"{problems(report)} gating problem(s); gate failed"
    )


def test_github_annotations_respect_the_per_step_limit(make_repo):
    deps = "".join(f"package-{i}>=1.0\n" for i in range(25))
    repo = make_repo({"requirements.txt": deps, "train.py": "import numpy\n"})
    out = run_cli("scan", repo, "--no-cache", "-f", "github").stdout
    warnings = [line for line in out.splitlines() if line.startswith("::warning ")]
    assert len(warnings) == 10  # GitHub shows 10 warnings per step
    assert warnings[-1].startswith("::warning title=mlaudit::16 more warning-level problem(s)")
    assert sum(line.startswith("::warning file=requirements.txt,") for line in warnings) == 9


def test_github_annotation_escaping(make_repo):
    repo = make_repo({"requirements.txt": "a,b:c>=1\n", "train.py": "import numpy\n"})
    # An odd file name with a comma and a colon must not break the command's properties.
    (repo / "requirements.txt").rename(repo / "requirements-x,y.txt")
    out = run_cli("scan", repo, "--no-cache", "-f", "github").stdout
    (line,) = [x for x in out.splitlines() if x.startswith("::warning file=")]
    assert line.startswith("::warning file=requirements-x%2Cy.txt,line=1,")


# -- concise -------------------------------------------------------------------------------
def test_concise_lines(copy_fixture):
    repo = copy_fixture("training-bad")
    result = run_cli("scan", repo, "--no-cache", "-f", "concise", "--fail-on", "warning")
    report = run_cli("scan", repo, "--no-cache", "-f", "json", "--fail-on", "warning").json()
    assert result.code == 1
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("train.py:14:22: ML102 [warning] numpy.random.rand() draws")
        for line in lines
    )
    assert any(
        line.startswith(".github/workflows/ci.yml:7:1: ML603 [warning] no-evaluation-gate")
        for line in lines
    )
    assert lines[-1].startswith(
        f"Found {problems(report)} problem(s); score {report['score']:g} / 100; gate failed: "
    )


# -- SARIF for GitHub code scanning ---------------------------------------------------------
def test_sarif_rule_metadata_for_github(copy_fixture):
    from mlaudit.catalog import SECTIONS, load_catalog

    run = sarif_run(copy_fixture("fastapi-bad"))
    catalog = load_catalog()
    assert run["automationDetails"] == {"id": "mlaudit/"}
    assert run["columnKind"] == "unicodeCodePoints"
    for rule in run["tool"]["driver"]["rules"]:
        entry = catalog[rule["id"]]
        assert rule["helpUri"] == f"{DOCS_URL}{entry.code}.md"
        assert (REPO_ROOT / "docs" / "rules" / f"{entry.code}.md").is_file()
        assert rule["shortDescription"]["text"] == entry.summary
        assert rule["fullDescription"]["text"] == entry.rationale
        assert entry.rationale in rule["help"]["text"]
        if entry.remediation.get("before"):
            assert entry.remediation["before"].strip() in rule["help"]["text"]
            assert "## Example" in rule["help"]["markdown"]
            assert "## Use instead" in rule["help"]["markdown"]
        props = rule["properties"]
        # The section leads the tags; a security rule puts `security` first (GitHub reads it).
        leading = 1 if entry.security_severity else 0
        assert props["tags"][leading] == entry.section and entry.section in SECTIONS
        if entry.security_severity:
            assert "security" in props["tags"]
        assert props["precision"] == entry.precision
        assert (
            props["problem.severity"]
            == {
                "error": "error",
                "warning": "warning",
                "note": "recommendation",
            }[entry.severity]
        )
        assert ("security-severity" in props) == (entry.security_severity is not None)


def test_sarif_security_severity_comes_from_any_catalog_entry():
    from mlaudit.catalog import load_catalog
    from mlaudit.report.sarif import _rule

    rule = dataclasses.replace(load_catalog()["ML307"], security_severity="7.5")
    data = _rule(rule)
    assert data["properties"]["security-severity"] == "7.5"
    assert data["properties"]["tags"][0] == "security"
    assert "security" not in _rule(load_catalog()["ML307"])["properties"]["tags"]


def test_sarif_run_properties_carry_the_scores(copy_fixture):
    repo = copy_fixture("training-bad")
    report = scan_json(repo)
    run = sarif_run(repo)
    assert run["properties"]["score"] == report["score"]
    assert run["properties"]["sections"] == {s["id"]: s["score"] for s in report["sections"]}


# Test vectors of github/codeql-action's src/fingerprints.test.ts (the upload action's own).
LINE_HASH_VECTORS = [
    ("", ["c129715d7a2bc9a3:1"]),
    (
        " a\nb\n  \t\tc\n d",
        ["271789c17abda88f:1", "54703d4cd895b18:1", "180aee12dab6264:1", "a23a3dc5e078b07b:1"],
    ),
    (
        " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End",
        [
            "8b7cf3e952e7aeb2:1",
            "b1ae1287ec4718d9:1",
            "bff680108adb0fcc:1",
            "c6805c5e1288b612:1",
            "b86d3392aea1be30:1",
            "e6ceba753e1a442:1",
        ],
    ),
    *[
        (
            text,
            [
                "e9496ae3ebfced30:1",
                "fb7c023a8b9ccb3f:1",
                "ce8ba1a563dcdaca:1",
                "e20e36e16fcb0cc8:1",
                "b3edc88f2938467e:1",
                "c8e28b0b4002a3a0:1",
                "c129715d7a2bc9a3:1",
            ],
        )
        for text in (
            " hello; \t\nworld!!!\n\n\n  \t\tGreetings\n End\n",
            " hello; \t\nworld!!!\r\r\r  \t\tGreetings\r End\r",
            " hello; \t\r\nworld!!!\r\n\r\n\r\n  \t\tGreetings\r\n End\r\n",
            " hello; \t\nworld!!!\r\n\n\r  \t\tGreetings\r End\r\n",
        )
    ],
    (
        "Lorem ipsum dolor sit amet.\n" * 10,
        [
            *(f"a7f2ff13bc495cf2:{i}" for i in range(1, 7)),
            "a7f2ff1481e87703:1",
            "a9cf91f7bbf1862b:1",
            "55ec222b86bcae53:1",
            "cc97dc7b1d7d8f7b:1",
            "c129715d7a2bc9a3:1",
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), LINE_HASH_VECTORS)
def test_primary_location_line_hash_matches_upload_sarif(text, expected):
    from mlaudit.fingerprints import line_hashes

    assert line_hashes(text) == expected


def test_sarif_results_carry_primary_location_line_hash(copy_fixture):
    from mlaudit.fingerprints import line_hashes

    repo = copy_fixture("training-bad")
    run = sarif_run(repo)
    assert run["results"]
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        text = (repo / location["artifactLocation"]["uri"]).read_text(encoding="utf-8")
        line = location["region"]["startLine"]
        assert (
            result["partialFingerprints"]["primaryLocationLineHash"]
            == (line_hashes(text)[line - 1])
        )


def test_sarif_inline_suppressions_are_kept(make_repo):
    repo = make_repo(
        {
            "requirements.txt": "numpy\n"
            "pandas>=2  # mlaudit: ignore[ML104] pinned by the platform image\n",
            "train.py": "import numpy\n",
        }
    )
    results = [r for r in sarif_run(repo)["results"] if r["ruleId"] == "ML104"]
    assert len(results) == 2
    suppressed = [r for r in results if "suppressions" in r]
    assert [r["suppressions"] for r in suppressed] == [
        [{"kind": "inSource", "justification": "pinned by the platform image"}]
    ]


# -- rule documentation --------------------------------------------------------------------
def test_rule_docs_are_up_to_date():
    from mlaudit.report.rules import rule_docs

    docs_dir = REPO_ROOT / "docs" / "rules"
    expected = rule_docs()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in docs_dir.glob("*.md")}
    assert on_disk == expected, (
        "docs/rules is out of date: run `mlaudit rule --all --format markdown "
        "--write-docs docs/rules` and commit the result"
    )


def test_rule_docs_command_writes_them(tmp_path: Path):
    target = tmp_path / "rules"
    result = run_cli("rule", "--all", "--format", "markdown", "--write-docs", target)
    assert result.code == 0, result.stderr
    for path in (REPO_ROOT / "docs" / "rules").glob("*.md"):
        assert (target / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    page = run_cli("rule", "ML307", "--format", "markdown").stdout
    assert page == (target / "ML307.md").read_text(encoding="utf-8")
    for heading in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
        assert heading in page


# -- baseline ------------------------------------------------------------------------------
def prepend(path: Path, text: str) -> None:
    path.write_text(text + path.read_text(encoding="utf-8"), encoding="utf-8")


def test_baseline_passes_today_and_fails_on_one_new_finding(copy_fixture, tmp_path: Path):
    repo = copy_fixture("training-bad")
    gate = ("--fail-on", "warning")
    assert run_cli("scan", repo, "--no-cache", *gate).code == 1
    made = run_cli("baseline", repo, "--no-cache")
    assert made.code == 0, made.stderr
    baseline = repo / ".mlaudit-baseline.json"
    data = json.loads(baseline.read_text(encoding="utf-8"))
    # Every open problem: findings and the repo-level checks that fail (ML101, ML603, ...).
    assert len(data["entries"]) == problems(scan_json(repo, *gate))
    assert all("line" not in entry for entry in data["entries"])

    today = run_cli("scan", repo, "--no-cache", *gate, "--baseline", baseline, "-f", "json")
    assert today.code == 0, today.stderr
    report = today.json()
    assert gating(report) == []
    assert report["policy"]["baseline"] == {
        "path": ".mlaudit-baseline.json",
        "matched": len(data["entries"]),
        "stale": [],
    }
    for finding in check_of(report, "ML102")["findings"]:
        assert finding["baselined"] and finding["suppression_reason"] == "baseline"
    # Verdicts and scores do not move: a baseline accepts debt, it does not pay it.
    assert check_of(report, "ML102")["verdict"] == "fail"
    assert check_of(report, "ML101")["baselined"] is True
    assert report["score"] == scan_json(repo)["score"]

    # Unrelated edits above the old findings, and one new finding.
    prepend(repo / "train.py", "# Copyright the churn team.\n\n")
    prepend(repo / "requirements.txt", "# runtime dependencies\n")
    with (repo / "requirements.txt").open("a", encoding="utf-8") as handle:
        handle.write("joblib>=1.3\n")
    later = run_cli("scan", repo, "--no-cache", *gate, "--baseline", baseline, "-f", "json")
    assert later.code == 1
    report = later.json()
    assert gating(report) == [("ML104", "requirements.txt", 5)]
    assert report["policy"]["baseline"]["matched"] == len(data["entries"])
    assert "ML104 unpinned-dependencies: 1 warning finding(s)" in later.stderr

    # The SARIF keeps the baselined results, suppressed as external with "baseline".
    run = sarif_run(repo, "--baseline", str(baseline))
    suppressed = [r for r in run["results"] if r.get("suppressions")]
    assert len(suppressed) == len(data["entries"])
    assert all(
        r["suppressions"] == [{"kind": "external", "justification": "baseline"}] for r in suppressed
    )
    (new,) = [r for r in run["results"] if "suppressions" not in r]
    assert new["locations"][0]["physicalLocation"]["region"]["startLine"] == 5


def test_baseline_reports_stale_entries(copy_fixture):
    repo = copy_fixture("training-bad")
    assert run_cli("baseline", repo, "--no-cache").code == 0
    (repo / "requirements.txt").write_text(
        "pandas==2.2.2\nscikit-learn\nnumpy~=1.26\n", encoding="utf-8"
    )
    report = scan_json(repo, "--baseline", str(repo / ".mlaudit-baseline.json"))
    stale = report["policy"]["baseline"]["stale"]
    assert [(s["code"], s["path"]) for s in stale] == [("ML104", "requirements.txt")]
    assert "pandas" in stale[0]["message"]
    assert any("1 stale entry" in note for note in report["notes"])


@pytest.mark.parametrize("content", [None, "not json", '{"entries": []}'])
def test_bad_baseline_file_exits_2(copy_fixture, content):
    repo = copy_fixture("training-good")
    target = repo / "baseline.json"
    if content is not None:
        target.write_text(content, encoding="utf-8")
    result = run_cli("scan", repo, "--no-cache", "--baseline", target)
    assert result.code == 2
    assert "--baseline" in result.stderr
    assert "internal error" not in result.stderr


def test_no_ignores_shows_everything(make_repo):
    repo = make_repo(
        {
            "requirements.txt": "pandas>=2  # mlaudit: ignore[ML104] platform image\nnumpy\n",
            "scripts/requirements.txt": "requests\n",
            "train.py": "from sklearn.svm import SVC\n\nSVC().fit([[0], [1]], [0, 1])\n",
            "mlaudit.toml": '[per-file-ignores]\n"scripts/*" = ["ML104"]\n'
            '[ignore-reasons]\nML101 = "tracked by the platform"\n',
        }
    )
    assert run_cli("baseline", repo, "--no-cache").code == 0
    baseline = str(repo / ".mlaudit-baseline.json")
    normal = scan_json(repo, "--baseline", baseline)
    assert gating(normal) == []
    assert check_of(normal, "ML101")["verdict"] == "ignored"
    audit = scan_json(repo, "--baseline", baseline, "--no-ignores")
    assert gating(audit) == [
        ("ML104", "requirements.txt", 1),
        ("ML104", "requirements.txt", 2),
        ("ML104", "scripts/requirements.txt", 1),
    ]
    assert check_of(audit, "ML101")["verdict"] == "fail"
    assert audit["policy"]["baseline"] is None
    assert any("--no-ignores" in note for note in audit["notes"])


# -- --diff-base ---------------------------------------------------------------------------
def test_diff_base_gates_only_changed_lines(copy_fixture):
    repo = copy_fixture("training-bad")
    git_init(repo)
    gate = ("--fail-on", "warning")
    everything = scan_json(repo)
    clean = run_cli("scan", repo, "--no-cache", *gate, "--diff-base", "HEAD", "-f", "json")
    assert clean.code == 0, clean.stderr  # nothing changed: nothing gates
    report = clean.json()
    assert report["policy"]["diff_base"] == "HEAD"
    # Repo-level verdicts are still shown and scored.
    assert check_of(report, "ML101")["verdict"] == "fail"
    assert check_of(report, "ML603")["verdict"] == "fail"
    assert report["score"] == everything["score"]
    assert all(f["in_diff"] is False for c in report["checks"] for f in c["findings"])

    prepend(repo / "requirements.txt", "# runtime\n")  # changed, but no finding on it
    with (repo / "requirements.txt").open("a", encoding="utf-8") as handle:
        handle.write("joblib>=1.3\n")
    (repo / "tools").mkdir()
    (repo / "tools" / "requirements.txt").write_text("requests\n", encoding="utf-8")
    changed = run_cli("scan", repo, "--no-cache", *gate, "--diff-base", "HEAD", "-f", "json")
    assert changed.code == 1
    assert gating(changed.json()) == [
        ("ML104", "requirements.txt", 5),
        ("ML104", "tools/requirements.txt", 1),  # untracked: new
    ]
    markdown = run_cli("scan", repo, "--no-cache", "--diff-base", "HEAD", "-f", "markdown")
    assert "### New findings" in markdown.stdout
    unchanged = sum(
        1 for c in changed.json()["checks"] for f in c["findings"] if f["in_diff"] is False
    )
    assert f"Not gating: {unchanged} on lines unchanged since HEAD." in markdown.stdout


def test_diff_base_with_an_unknown_ref_exits_2(copy_fixture):
    repo = copy_fixture("training-good")
    git_init(repo)
    result = run_cli("scan", repo, "--no-cache", "--diff-base", "no-such-branch")
    assert result.code == 2
    assert "no-such-branch" in result.stderr


def test_parse_unified_diff():
    from mlaudit.baseline import parse_unified_diff

    diff = (
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -3,0 +4,2 @@\n+a\n+b\n"
        "@@ -10 +12 @@\n-c\n+d\n@@ -20,3 +22,0 @@\n-e\n"
        "diff --git a/gone.py b/gone.py\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
        'diff --git "a/sp ace.py" "b/sp ace.py"\n--- "a/sp ace.py"\n+++ "b/sp ace.py"\n'
        "@@ -1 +1 @@\n-x\n+y\n"
    )
    assert parse_unified_diff(diff) == {"x.py": {4, 5, 12}, "sp ace.py": {1}}


# -- file arguments (pre-commit) -----------------------------------------------------------
def test_scan_of_named_files_reports_only_their_code_findings(copy_fixture):
    repo = copy_fixture("training-bad")
    git_init(repo)
    result = run_cli(
        "scan", "train.py", "--no-cache", "-f", "json", "--fail-on", "warning", cwd=repo
    )
    assert result.code == 1
    report = result.json()
    assert [c["scope"] for c in report["checks"]] == ["code"] * len(report["checks"])
    assert {f["path"] for c in report["checks"] for f in c["findings"]} == {"train.py"}
    assert len(check_of(report, "ML102")["findings"]) == 3
    assert check_of(report, "ML104")["verdict"] == "pass"
    assert report["score"] is None
    assert report["policy"]["paths"] == ["train.py"]
    other = run_cli("scan", "README.md", "--no-cache", "--fail-on", "warning", cwd=repo)
    assert other.code == 0, other.stdout
    # From elsewhere, the repository is found from the named file.
    elsewhere = run_cli("scan", repo / "train.py", "--no-cache", "-f", "json", cwd=repo.parent)
    assert elsewhere.json()["policy"]["paths"] == ["train.py"]
    assert len(check_of(elsewhere.json(), "ML102")["findings"]) == 3


def test_named_files_honour_exclude_with_force_exclude(copy_fixture):
    repo = copy_fixture("training-bad")
    (repo / "mlaudit.toml").write_text('exclude = ["train.py"]\n', encoding="utf-8")
    git_init(repo)
    args = ("--no-cache", "-f", "json", "--fail-on", "warning")
    named = run_cli("scan", "train.py", *args, cwd=repo).json()
    assert len(check_of(named, "ML102")["findings"]) == 3  # named: audited, as in ruff
    forced = run_cli("scan", "train.py", "--force-exclude", *args, cwd=repo)
    assert forced.code == 0
    assert all(not c["findings"] for c in forced.json()["checks"])


def test_named_file_outside_the_repository_exits_2(copy_fixture, tmp_path: Path):
    repo = copy_fixture("training-good")
    git_init(repo)
    outside = tmp_path / "elsewhere.py"
    outside.write_text("x = 1\n", encoding="utf-8")
    result = run_cli("scan", outside, "--no-cache", cwd=repo)
    assert result.code == 2
    assert "outside the repository" in result.stderr


# -- the GitHub Action ---------------------------------------------------------------------
def action() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))


def test_action_passes_inputs_through_env_only():
    data = action()
    assert data["runs"]["using"] == "composite"
    assert set(data["outputs"]) >= {"score", "exit-code", "sarif-file"}
    runs = [step for step in data["runs"]["steps"] if "run" in step]
    assert runs
    for step in runs:
        assert "${{" not in step["run"], step["name"]
        assert step["shell"] == "bash"
    uses = [step["uses"] for step in data["runs"]["steps"] if "uses" in step]
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref
    upload = next(s for s in data["runs"]["steps"] if "upload-sarif" in s.get("uses", ""))
    assert upload["with"]["category"] == "${{ inputs.sarif-category }}"
    assert data["inputs"]["sarif-category"]["default"] == "mlaudit"
    install = next(s for s in runs if s["name"] == "Install mlaudit")
    assert '"$ACTION_PATH"' in install["run"]  # the action's own version of mlaudit


def lint_tree(tmp_path: Path) -> Path:
    """A repository holding the action and the example workflow, plus a workflow using the
    action from the same repository with every input, so actionlint checks the inputs."""
    root = tmp_path / "lint"
    inputs = "\n".join(f"          {name}: x" for name in action()["inputs"])
    write_tree(
        root,
        {
            ".github/workflows/example.yml": (
                REPO_ROOT / "examples" / "github-workflow.yml"
            ).read_text(encoding="utf-8"),
            ".github/workflows/local.yml": "name: local\non: [push]\npermissions: {}\n"
            "jobs:\n  audit:\n    name: audit\n    runs-on: ubuntu-latest\n"
            "    permissions:\n      contents: read\n      security-events: write\n"
            "    steps:\n"
            "      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0\n"
            "        with:\n          persist-credentials: false\n"
            "      - uses: ./\n        id: audit\n        with:\n" + inputs + "\n"
            "      - env:\n          SCORE: ${{ steps.audit.outputs.score }}\n"
            '        run: echo "$SCORE"\n',
        },
    )
    shutil.copy(REPO_ROOT / "action.yml", root / "action.yml")
    git_init(root)  # actionlint finds the project by its git repository
    return root


def test_actionlint_accepts_the_action_and_the_example_workflow(tmp_path: Path):
    root = lint_tree(tmp_path)
    completed = subprocess.run(
        [tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck")],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # actionlint does check the local action's inputs: a misspelt one is an error.
    local = root / ".github" / "workflows" / "local.yml"
    local.write_text(
        local.read_text(encoding="utf-8").replace("fail-under: x", "fail-undr: x"),
        encoding="utf-8",
    )
    broken = subprocess.run(
        [tool("actionlint"), "-no-color"], cwd=root, capture_output=True, text=True, check=False
    )
    assert broken.returncode == 1 and "fail-undr" in broken.stdout


def test_zizmor_accepts_the_action_and_the_example_workflow():
    completed = subprocess.run(
        [
            tool("zizmor"),
            "--offline",
            "--no-progress",
            "--config",
            str(REPO_ROOT / ".github" / "zizmor.yml"),
            "--persona",
            "pedantic",
            str(REPO_ROOT / "action.yml"),
            str(REPO_ROOT / "examples" / "github-workflow.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "No findings" in completed.stdout


def test_shellcheck_accepts_the_action_scripts(tmp_path: Path):
    for index, step in enumerate(s for s in action()["runs"]["steps"] if "run" in s):
        script = tmp_path / f"step{index}.sh"
        # GitHub runs composite bash steps as `bash --noprofile --norc -eo pipefail {0}`.
        script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"], "utf-8")
        completed = subprocess.run(
            [tool("shellcheck"), "--shell=bash", str(script)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, f"{step['name']}: {completed.stdout}"


@pytest.mark.parametrize(("fixture", "code"), [("training-good", "0"), ("fastapi-bad", "1")])
def test_action_scan_step_runs(copy_fixture, tmp_path: Path, fixture, code):
    """Run the action's scan step as the runner would, with mlaudit already installed."""
    repo = copy_fixture(fixture)
    runner_temp = tmp_path / "runner"
    venv_bin = runner_temp / "mlaudit-venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "mlaudit").symlink_to(BIN / "mlaudit")
    (venv_bin / "python").symlink_to(sys.executable)
    step = next(s for s in action()["runs"]["steps"] if s.get("id") == "scan")
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {
        **os.environ,
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        "INPUT_PATH": ".",
        "INPUT_FAIL_UNDER": "50",
        "INPUT_FAIL_ON": "error",
        "INPUT_BASELINE": "",
        "INPUT_DIFF_BASE": "",
        "INPUT_RESULTS_DIR": "mlaudit-results",
    }
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    report = json.loads((repo / "mlaudit-results" / "mlaudit.json").read_text())
    assert values["score"] == str(report["score"])
    assert values["exit-code"] == code
    assert values["sarif-file"] == "mlaudit-results/mlaudit.sarif"
    assert json.loads((repo / values["sarif-file"]).read_text())["version"] == "2.1.0"
    assert summary.read_text(encoding="utf-8").startswith("## mlaudit: ")
    if code == "1":
        assert "::error file=app/model.py," in completed.stdout


# -- pre-commit ----------------------------------------------------------------------------
HOOK_REPO_FILES = ("mlaudit", "rules", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's hooks in a throwaway git repository (works from a fresh clone, a
    worktree or an sdist alike)."""
    root = tmp_path_factory.mktemp("hooks") / "mlaudit"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mlaudit_cache")
    for name in HOOK_REPO_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy(source, root / name)
    git_init(root, "hooks")
    return root


def try_repo(hook_repo: Path, target: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [tool("pre-commit"), "try-repo", str(hook_repo), "--all-files", "--color", "never"],
        cwd=target,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def hook_lines(output: str) -> dict[str, str]:
    """{hook name: Passed/Failed} from pre-commit's output."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(mlaudit(?: \(repository\))?)\.+(Passed|Failed)$", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_pre_commit_hooks_with_the_real_pre_commit(hook_repo: Path, copy_fixture):
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {h["id"]: h for h in hooks}
    assert by_id["mlaudit-repo"]["pass_filenames"] is False
    assert "--force-exclude" in by_id["mlaudit"]["entry"]

    good = copy_fixture("fastapi-good")
    git_init(good)
    passed = try_repo(hook_repo, good)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert hook_lines(passed.stdout) == {"mlaudit": "Passed", "mlaudit (repository)": "Passed"}

    bad = copy_fixture("fastapi-bad")
    (bad / "mlaudit.toml").write_text('exclude = ["train.py"]\n', encoding="utf-8")
    git_init(bad)
    failed = try_repo(hook_repo, bad)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert hook_lines(failed.stdout) == {"mlaudit": "Failed", "mlaudit (repository)": "Failed"}
    (finding,) = check_of(scan_json(bad), "ML307")["findings"]
    where = f"{finding['path']}:{finding['line']}:{finding['column']}"
    assert f"{where}: ML307 [error]" in failed.stdout
    assert "train.py:" not in failed.stdout  # excluded, though pre-commit named it


# -- SARIF with every kind of policy still passes the validator -----------------------------
def test_sarif_with_baseline_diff_and_suppressions_validates(copy_fixture, tmp_path: Path):
    from tests.test_reports import validate_sarif

    repo = copy_fixture("training-bad")
    (repo / "mlaudit.toml").write_text(
        '[per-file-ignores]\n"requirements.txt" = ["ML104"]\n', encoding="utf-8"
    )
    git_init(repo)
    assert run_cli("baseline", repo, "--no-cache", "--select", "ML102").code == 0
    prepend(repo / "train.py", "# header\n")
    target = tmp_path / "policy.sarif"
    args = ("--baseline", repo / ".mlaudit-baseline.json", "--diff-base", "HEAD")
    result = run_cli("scan", repo, "--no-cache", "-f", "sarif", "-o", target, *args)
    assert result.code in (0, 1), result.stderr
    run = json.loads(target.read_text(encoding="utf-8"))["runs"][0]
    kinds = sorted(
        (s["kind"], s["justification"]) for r in run["results"] for s in r.get("suppressions", [])
    )
    assert ("external", "baseline") in kinds
    assert ("external", "per-file-ignores: requirements.txt") in kinds
    assert run["properties"]["diffBase"] == "HEAD"
    assert run["properties"]["baseline"]["path"] == ".mlaudit-baseline.json"
    terminal = run_cli("scan", repo, "--no-cache", *args).stdout
    assert "(baselined)" in terminal
    validated = validate_sarif(target)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    if os.environ.get("SARIF_REQUIRE_MULTITOOL") == "1":
        assert "ok multitool: 0 error(s)" in validated.stdout, validated.stdout
