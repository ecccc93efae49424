"""The command-line contract: exit codes, selection, output files, `mlaudit rule`,
configuration (validation, ignore-reasons, per-file-ignores), suppression comments, the
terminal report, and the agreement between the rule catalog and the implementations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, check_of, run_cli, scan_json

UNSEEDED = """
import numpy as np
from sklearn.linear_model import LogisticRegression


def main():
    X = np.random.rand(20, 2)
    LogisticRegression().fit(X, X[:, 0] > 0.5)


if __name__ == "__main__":
    main()
"""


def codes(report: dict) -> list[str]:
    return [c["code"] for c in report["checks"]]


# -- exit codes ----------------------------------------------------------------------------
def test_exit_0_when_the_gate_passes(copy_fixture):
    result = run_cli("scan", copy_fixture("training-good"), "--no-cache", "--fail-under", "99")
    assert result.code == 0, result.stdout + result.stderr
    assert "gate failed" not in result.stdout


def test_exit_1_below_fail_under(copy_fixture):
    repo = copy_fixture("training-bad")
    result = run_cli("scan", repo, "-f", "json", "--no-cache", "--fail-under", "99")
    assert result.code == 1
    assert "below --fail-under 99" in result.stderr
    assert result.json()["score"] < 99  # the report is still written


def test_exit_1_on_fail_on_warning(copy_fixture):
    repo = copy_fixture("training-bad")
    assert run_cli("scan", repo, "--no-cache").code == 0  # only warnings: default gate passes
    result = run_cli("scan", repo, "--no-cache", "--fail-on", "warning")
    assert result.code == 1
    assert "gate failed: ML102 unseeded-randomness" in result.stdout


def test_exit_zero_overrides_a_failed_gate(copy_fixture):
    repo = copy_fixture("training-bad")
    result = run_cli(
        "scan", repo, "--no-cache", "--fail-on", "warning", "--fail-under", "99", "--exit-zero"
    )
    assert result.code == 0
    assert "gate failed" in result.stdout  # still reported


def test_fail_under_from_config(make_repo):
    repo = make_repo({"train.py": UNSEEDED, "mlaudit.toml": "fail-under = 99\n"})
    assert run_cli("scan", repo, "--no-cache").code == 1
    assert run_cli("scan", repo, "--no-cache", "--fail-under", "0").code == 0


@pytest.mark.parametrize(
    "args",
    [
        ("--bogus-flag",),
        ("--fail-under", "150"),
        ("--fail-on", "fatal"),
        ("-j", "0"),
    ],
)
def test_exit_2_on_bad_flags(copy_fixture, args):
    result = run_cli("scan", copy_fixture("training-good"), "--no-cache", *args)
    assert result.code == 2
    assert result.stdout == ""
    assert "Error" in result.stderr or "error" in result.stderr


def test_exit_2_on_unknown_rule_in_select(copy_fixture):
    result = run_cli("scan", copy_fixture("training-good"), "--no-cache", "--select", "ML999")
    assert result.code == 2
    assert "ML999" in result.stderr
    assert "internal error" not in result.stderr


def test_exit_2_on_a_path_that_does_not_exist(tmp_path: Path):
    assert run_cli("scan", tmp_path / "missing").code == 2


@pytest.mark.parametrize(
    ("name", "text", "bad_key"),
    [
        (
            "pyproject.toml",
            '[project]\nname = "x"\n\n[tool.mlaudit]\nfail-undr = 80\n',
            "fail-undr",
        ),
        ("mlaudit.toml", 'fail-under = "high"\n', "fail-under"),
        (".mlaudit.toml", 'select = "ML1"\n', "select"),
        ("mlaudit.toml", '[per-file-ignores]\n"tests/*" = "ML102"\n', "per-file-ignores"),
        ("mlaudit.toml", 'fail-on = "fatal"\n', "fail-on"),
    ],
)
def test_exit_2_on_invalid_config_naming_the_key(make_repo, name, text, bad_key):
    repo = make_repo({"train.py": UNSEEDED, name: text})
    result = run_cli("scan", repo, "--no-cache", "-f", "json")
    assert result.code == 2, result.stderr
    assert bad_key in result.stderr
    assert name in result.stderr
    assert result.stdout == ""


def test_exit_2_on_invalid_toml(make_repo):
    repo = make_repo({"train.py": UNSEEDED, "mlaudit.toml": "select = [\n"})
    result = run_cli("scan", repo, "--no-cache")
    assert result.code == 2
    assert "invalid TOML" in result.stderr


def test_exit_2_on_unknown_rule_in_config(make_repo):
    repo = make_repo({"train.py": UNSEEDED, "mlaudit.toml": 'ignore = ["ML777"]\n'})
    result = run_cli("scan", repo, "--no-cache")
    assert result.code == 2
    assert "ML777" in result.stderr


def test_explicit_config_file(make_repo, tmp_path: Path):
    repo = make_repo({"train.py": UNSEEDED})
    config = tmp_path / "elsewhere.toml"
    config.write_text('select = ["ML102"]\n', encoding="utf-8")
    report = run_cli("scan", repo, "--no-cache", "-f", "json", "--config", config).json()
    assert codes(report) == ["ML102"]


def _main_with_exit_hook(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the console entry point in a process that registered an atexit handler."""
    program = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "from mlaudit.cli import main\n"
        f"sys.argv = ['mlaudit', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False, timeout=300
    )


def test_the_fast_exit_keeps_exit_codes_output_and_atexit_handlers(copy_fixture):
    """main() skips the interpreter's teardown; what a caller sees must not change."""
    repo = str(copy_fixture("training-bad"))
    failed = _main_with_exit_hook("scan", repo, "-f", "json", "--no-cache", "--fail-under", "99")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["score"] < 99  # the whole report was flushed
    assert "atexit ran" in failed.stderr
    passed = _main_with_exit_hook("scan", repo, "--no-cache", "--exit-zero")
    assert passed.returncode == 0 and "atexit ran" in passed.stderr
    usage = _main_with_exit_hook("scan", "--no-such-option")
    assert usage.returncode == 2 and "No such option" in usage.stderr
    assert "atexit ran" in usage.stderr


# -- selection -----------------------------------------------------------------------------
def test_select_by_prefix(copy_fixture):
    report = scan_json(copy_fixture("training-bad"), "--select", "ML1")
    assert codes(report) == [
        "ML101",
        "ML102",
        "ML104",
        "ML105",
        "ML106",
        "ML107",
        "ML108",
        "ML109",
        "ML110",
    ]


@pytest.mark.parametrize("selector", ["ML102", "ml102", "unseeded-randomness"])
def test_select_by_code_or_name(copy_fixture, selector):
    report = scan_json(copy_fixture("training-bad"), "--select", selector)
    assert codes(report) == ["ML102"]


def test_select_comma_separated_and_repeated(copy_fixture):
    report = scan_json(
        copy_fixture("training-bad"), "--select", "ML101,ML104", "--select", "no-evaluation-gate"
    )
    assert codes(report) == ["ML101", "ML104", "ML603"]


@pytest.mark.parametrize(
    ("selector", "gone"),
    [
        ("ML102", {"ML102"}),
        ("ML1", {"ML101", "ML102", "ML104"}),
        ("experiment-tracking", {"ML101"}),
    ],
)
def test_ignore_by_code_prefix_and_name(copy_fixture, selector, gone):
    report = scan_json(copy_fixture("training-bad"), "--ignore", selector)
    assert not gone & set(codes(report))
    assert {"ML603", "ML901"} <= set(codes(report))


def test_select_and_ignore_from_config(make_repo):
    repo = make_repo(
        {
            "train.py": UNSEEDED,
            "pyproject.toml": '[tool.mlaudit]\nselect = ["ML1"]\nignore = ["ML104"]\n',
        }
    )
    assert codes(scan_json(repo)) == [
        "ML101",
        "ML102",
        "ML105",
        "ML106",
        "ML107",
        "ML108",
        "ML109",
        "ML110",
    ]
    # The command line's --select replaces the config's.
    assert codes(scan_json(repo, "--select", "ML9")) == ["ML901"]


# -- output --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "sarif", "terminal"])
def test_output_file(copy_fixture, tmp_path: Path, fmt):
    target = tmp_path / f"report.{fmt}"
    result = run_cli("scan", copy_fixture("training-bad"), "--no-cache", "-f", fmt, "-o", target)
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    text = target.read_text(encoding="utf-8")
    if fmt == "json":
        assert check_of(json.loads(text), "ML102")["verdict"] == "fail"
    elif fmt == "sarif":
        assert json.loads(text)["version"] == "2.1.0"
    else:
        assert "Overall score" in text
        assert "\x1b[" not in text  # no colour codes in a file


# -- mlaudit rule --------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["ML307", "model-loaded-per-request", "ml307"])
def test_rule_docs_by_code_or_name(key):
    result = run_cli("rule", key)
    assert result.code == 0, result.stderr
    out = result.stdout
    assert out.startswith("ML307 model-loaded-per-request\n")
    for heading in ("## Why it matters", "## How to fix", "Before:", "After:", "## References"):
        assert heading in out
    assert "severity" in out and "applies when SERVES" in out


def test_rule_docs_json():
    data = run_cli("rule", "ML102", "-f", "json").json()
    assert data["code"] == "ML102"
    assert data["name"] == "unseeded-randomness"
    assert "numpy.random.seed" in data["vocabulary"]["seed-calls-global"]


def test_rule_all_text_lists_every_rule():
    from mlaudit.catalog import load_catalog

    result = run_cli("rule", "--all")
    assert result.code == 0
    for rule in load_catalog().values():
        assert rule.code in result.stdout
        assert rule.name in result.stdout


def test_rule_all_json():
    from mlaudit.catalog import load_catalog

    data = run_cli("rule", "--all", "--format", "json").json()
    assert [r["code"] for r in data] == sorted(load_catalog())
    assert all(r["summary"] and r["remediation"]["text"] for r in data)


def test_unknown_rule_exits_2():
    result = run_cli("rule", "ML999")
    assert result.code == 2
    assert "ML999" in result.stderr
    assert result.stdout == ""


def test_python_m_version():
    from mlaudit import __version__

    completed = subprocess.run(
        [sys.executable, "-m", "mlaudit", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert __version__ in completed.stdout
    assert run_cli("--version").stdout == completed.stdout


# -- policy --------------------------------------------------------------------------------
def test_ignore_reasons_show_the_check_as_ignored(copy_fixture):
    repo = copy_fixture("training-bad")
    (repo / "mlaudit.toml").write_text(
        '[ignore-reasons]\nML101 = "runs are tracked by the platform team\'s scheduler"\n'
        '"no-evaluation-gate" = "evaluation happens in the release pipeline"\n',
        encoding="utf-8",
    )
    report = scan_json(repo)
    ml101 = check_of(report, "ML101")
    assert ml101["verdict"] == "ignored"
    assert ml101["reason"] == "runs are tracked by the platform team's scheduler"
    ml603 = check_of(report, "ML603")
    assert ml603["verdict"] == "ignored"
    assert ml603["reason"] == "evaluation happens in the release pipeline"
    assert report["summary"]["verdicts"]["ignored"] == 2
    terminal = run_cli("scan", repo, "--no-cache").stdout
    assert "IGNORED ML101" in terminal
    assert "tracked by the platform team" in terminal


def test_ignored_repo_check_does_not_fail_the_gate(make_repo):
    files = {"train.py": UNSEEDED.replace("np.random.rand", "np.zeros")}
    plain = make_repo(files, name="plain")
    assert (
        run_cli("scan", plain, "--no-cache", "--select", "ML101", "--fail-on", "warning").code == 1
    )
    waived = make_repo(
        {**files, "mlaudit.toml": '[ignore-reasons]\nML101 = "prototype"\n'}, name="waived"
    )
    assert (
        run_cli("scan", waived, "--no-cache", "--select", "ML101", "--fail-on", "warning").code == 0
    )


def test_per_file_ignores_mark_findings_suppressed(make_repo):
    repo = make_repo(
        {
            "scripts/train.py": UNSEEDED,
            "mlaudit.toml": '[per-file-ignores]\n"scripts/*" = ["unseeded-randomness"]\n',
        }
    )
    report = scan_json(repo)
    check = check_of(report, "ML102")
    assert check["findings"], "the finding is kept, marked suppressed"
    for finding in check["findings"]:
        assert finding["suppressed"] is True
        assert finding["suppression_kind"] == "external"
        assert "scripts/*" in finding["suppression_reason"]
    assert check["verdict"] == "pass"
    assert report["summary"]["open_findings"] == report["summary"]["findings"] - len(
        check["findings"]
    )


def test_file_ignore_comment(make_repo):
    repo = make_repo(
        {
            "train.py": "# mlaudit: file-ignore[ML102] exploratory script, seeds do not matter\n"
            + UNSEEDED.lstrip("\n"),
        }
    )
    check = check_of(scan_json(repo), "ML102")
    (finding,) = check["findings"]
    assert finding["suppressed"] is True
    assert finding["suppression_kind"] == "inSource"
    assert finding["suppression_reason"] == "exploratory script, seeds do not matter"
    assert check["verdict"] == "pass"


def test_line_ignore_comment_on_the_line_above(make_repo):
    source = UNSEEDED.replace(
        "    X = np.random.rand(20, 2)",
        "    # mlaudit: ignore[unseeded-randomness] synthetic smoke data\n"
        "    X = np.random.rand(20, 2)",
    )
    report = scan_json(make_repo({"train.py": source}))
    (finding,) = check_of(report, "ML102")["findings"]
    assert finding["suppressed"] and finding["suppression_reason"] == "synthetic smoke data"


def test_suppressed_findings_do_not_fail_the_gate(make_repo):
    plain = make_repo({"train.py": UNSEEDED}, name="plain")
    args = ("--no-cache", "--select", "ML102", "--fail-on", "warning")
    assert run_cli("scan", plain, *args).code == 1
    silenced = make_repo(
        {
            "train.py": UNSEEDED.replace(
                "np.random.rand(20, 2)", "np.random.rand(20, 2)  # mlaudit: ignore[ML102] demo"
            )
        },
        name="silenced",
    )
    result = run_cli("scan", silenced, *args, "-f", "json")
    assert result.code == 0, result.stderr
    assert result.json()["summary"]["suppressed"] == 1


# -- terminal report -----------------------------------------------------------------------
def test_terminal_report(copy_fixture):
    repo = copy_fixture("training-bad")
    score = scan_json(repo)["score"]
    result = run_cli("scan", repo, "--no-cache")
    out = result.stdout
    assert "Traits" in out
    assert "✓ TRAINS" in out and "✓ CI" in out and "· SERVES" in out
    assert "FAIL    ML102 unseeded-randomness" in out
    assert "FAIL    ML603 no-evaluation-gate" in out
    assert ".github/workflows/ci.yml:12 CI runs the tests: `pytest`" in out  # evidence line
    assert "train.py:14:" in out and "train.py:20:" in out  # findings with file:line
    assert "requirements.txt:2:1 scikit-learn is not pinned" in out
    assert "N/A     ML307 model-loaded-per-request" in out
    assert f"Overall score: {score:g} / 100" in out and score < 50
    assert "\x1b[" not in out


def test_terminal_pass_verdict_shows_its_evidence(copy_fixture):
    out = run_cli("scan", copy_fixture("training-good"), "--no-cache").stdout
    assert "PASS    ML102 unseeded-randomness" in out
    assert "src/utils.py:12 numpy.random.seed() fixes a seed" in out
    assert "PASS    ML603" in out and ".github/workflows/ci.yml:21" in out
    assert "Overall score: 100 / 100" in out


# -- catalog and implementations -----------------------------------------------------------
def test_catalog_and_implementations_agree():
    from mlaudit.checks import load_checks

    catalog_codes = {p.stem for p in (REPO_ROOT / "rules").glob("ML*.yaml")}
    assert catalog_codes, "no rule files found"
    assert catalog_codes == set(load_checks())


def test_every_catalog_entry_validates_against_the_schema():
    import jsonschema

    schema = json.loads((REPO_ROOT / "rules" / "schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    names = set()
    for path in sorted((REPO_ROOT / "rules").glob("ML*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(data)]
        assert errors == [], f"{path.name}: {errors}"
        assert data["code"] == path.stem
        assert data["name"] not in names
        names.add(data["name"])
