"""Reports: the JSON report against its schema, SARIF against the official validator and
GitHub's expectations, stable fingerprints, and byte-for-byte determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, REPO_ROOT, SHARED, check_of, run_cli, scan_json

FIXTURE_NAMES = (
    sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []
)
# The shared validator beside the repository; SARIF_VALIDATOR overrides it (a git worktree
# does not sit beside shared/).
VALIDATOR = Path(os.environ.get("SARIF_VALIDATOR") or SHARED / "sarif" / "validate-sarif")


def report_schema() -> dict[str, Any]:
    return json.loads(
        (REPO_ROOT / "mlaudit" / "schemas" / "report.schema.json").read_text(encoding="utf-8")
    )


def sarif_of(path: Path, *args: str) -> dict[str, Any]:
    result = run_cli("scan", path, "-f", "sarif", "--no-cache", *args)
    assert result.code in (0, 1), result.stderr
    return result.json()


def report_paths(report: dict[str, Any]) -> Iterator[str]:
    """Every path a JSON report mentions."""
    for trait in report["traits"]:
        yield from (e["path"] for e in trait["evidence"] if e["path"] is not None)
    for check in report["checks"]:
        yield from (e["path"] for e in check["evidence"] if e["path"] is not None)
        if check["location"] and check["location"]["path"] is not None:
            yield check["location"]["path"]
        yield from (f["path"] for f in check["findings"])
    yield from (r["file"] for r in report["routes"])


def sarif_uris(sarif: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for run in sarif["runs"]:
        for result in run["results"]:
            for location in result["locations"]:
                yield location["physicalLocation"]["artifactLocation"]


def validate_sarif(path: Path) -> subprocess.CompletedProcess[str]:
    """Run validate-sarif. The Microsoft SARIF Multitool (GitHub rules) runs when
    SARIF_MULTITOOL points at it (CI installs it from npm); SARIF_REQUIRE_MULTITOOL=1 makes
    its absence a failure."""
    assert VALIDATOR.is_file(), f"validate-sarif not found at {VALIDATOR} (set SARIF_VALIDATOR)"
    env = {**os.environ, "PYTHON": sys.executable}
    if env.get("SARIF_MULTITOOL"):
        env["SARIF_MULTITOOL"] = str(Path(env["SARIF_MULTITOOL"]).resolve())
    return subprocess.run(
        ["bash", str(VALIDATOR), str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )


def test_fixtures_exist():
    assert {"training-bad", "training-good", "broken-syntax"} <= set(FIXTURE_NAMES)


# -- JSON ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_json_report_validates_and_paths_are_relative(copy_fixture, name):
    import jsonschema

    repo = copy_fixture(name)
    report = scan_json(repo)
    validator = jsonschema.Draft202012Validator(report_schema())
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(report)]
    assert errors == []
    assert report["checks"], "no check ran"
    for path in report_paths(report):
        assert not path.startswith(("/", "./")) and ":" not in path[:3], path
        assert "\\" not in path, path
        assert str(repo) not in path
        assert (repo / path).exists(), f"{path} is not a file of the repository"


def test_json_summary_counts(copy_fixture):
    report = scan_json(copy_fixture("training-bad"))
    every = [f for c in report["checks"] for f in c["findings"]]
    assert report["summary"]["findings"] == len(every)
    assert report["summary"]["open_findings"] == sum(not f["suppressed"] for f in every)
    assert sum(report["summary"]["verdicts"].values()) == len(report["checks"])


# -- SARIF ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_sarif_passes_the_official_validator(copy_fixture, tmp_path: Path, name):
    repo = copy_fixture(name)
    target = tmp_path / f"{name}.sarif"
    result = run_cli("scan", repo, "-f", "sarif", "--no-cache", "-o", target)
    assert result.code in (0, 1), result.stderr
    validated = validate_sarif(target)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "ok schema+github" in validated.stdout
    if os.environ.get("SARIF_REQUIRE_MULTITOOL") == "1":
        assert "ok multitool: 0 error(s)" in validated.stdout, validated.stdout


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_sarif_rules_uris_and_fingerprints(copy_fixture, name):
    repo = copy_fixture(name)
    report = scan_json(repo)
    sarif = sarif_of(repo)
    (run,) = sarif["runs"]
    ran = [c["code"] for c in report["checks"] if c["verdict"] != "ignored"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ran
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"]
        assert all(v for v in result["partialFingerprints"].values())
    for location in sarif_uris(sarif):
        assert location["uriBaseId"] == "%SRCROOT%"
        uri = location["uri"]
        assert not uri.startswith(("/", "file:")) and "://" not in uri and "\\" not in uri, uri
        assert (repo / uri).is_file(), uri
    # Every open finding of the JSON report is a SARIF result at the same place.
    expected = sorted(
        (c["code"], f["path"], f["line"], f["fingerprint"])
        for c in report["checks"]
        for f in c["findings"]
    )
    actual = sorted(
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["partialFingerprints"]["mlaudit/v1"],
        )
        for r in run["results"]
        if "verdict" not in r.get("properties", {})
    )
    assert actual == expected


def test_sarif_suppressed_findings_carry_suppressions(copy_fixture):
    repo = copy_fixture("training-bad")
    (repo / "mlaudit.toml").write_text(
        '[per-file-ignores]\n"train.py" = ["ML102"]\n', encoding="utf-8"
    )
    run = sarif_of(repo)["runs"][0]
    ml102 = [r for r in run["results"] if r["ruleId"] == "ML102"]
    assert ml102
    for result in ml102:
        assert result["suppressions"] == [
            {"kind": "external", "justification": "per-file-ignores: train.py"}
        ]


def test_sarif_ignored_checks_are_not_rules(copy_fixture):
    repo = copy_fixture("training-bad")
    (repo / "mlaudit.toml").write_text(
        '[ignore-reasons]\nML101 = "tracked elsewhere"\n', encoding="utf-8"
    )
    run = sarif_of(repo)["runs"][0]
    assert "ML101" not in [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(r["ruleId"] != "ML101" for r in run["results"])


def test_repo_level_failures_are_attached_to_real_files(copy_fixture):
    repo = copy_fixture("training-bad")
    report = scan_json(repo)
    run = sarif_of(repo)["runs"][0]
    failing = [c for c in report["checks"] if c["scope"] == "repo" and c["verdict"] == "fail"]
    assert {c["code"] for c in failing} >= {"ML101", "ML603"}
    for check in failing:
        results = [r for r in run["results"] if r["ruleId"] == check["code"]]
        assert len(results) == 1, check["code"]
        (location,) = results[0]["locations"]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        assert (repo / uri).is_file(), uri
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert results[0]["level"] == check["severity"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert (
        by_rule["ML101"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "train.py"
    )
    assert (
        by_rule["ML603"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == ".github/workflows/ci.yml"
    )


def test_repo_level_failure_without_github_workflow_is_still_in_sarif(make_repo):
    repo = make_repo(
        {
            "train.py": "from sklearn.svm import SVC\n\nSVC().fit([[0], [1]], [0, 1])\n",
            ".gitlab-ci.yml": "test:\n  script:\n    - pip install -r requirements.txt\n"
            "    - pytest\n",
        }
    )
    report = scan_json(repo, "--select", "ML603")
    assert check_of(report, "ML603")["verdict"] == "fail"
    results = sarif_of(repo, "--select", "ML603")["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["ML603"]
    uri = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == ".gitlab-ci.yml"


# -- fingerprints --------------------------------------------------------------------------
def test_fingerprints_survive_lines_inserted_above(copy_fixture):
    repo = copy_fixture("training-bad")
    before = scan_json(repo)
    sarif_before = sarif_of(repo)
    train = repo / "train.py"
    train.write_text(
        "# Copyright the churn team.\n\n# Licensed under Apache-2.0.\n"
        + train.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    after = scan_json(repo)
    sarif_after = sarif_of(repo)

    def by_fingerprint(report: dict[str, Any]) -> dict[str, int]:
        found = check_of(report, "ML102")["findings"]
        return {f["fingerprint"]: f["line"] for f in found}

    old, new = by_fingerprint(before), by_fingerprint(after)
    assert len(old) == 3
    assert set(old) == set(new)
    assert all(new[fp] == old[fp] + 3 for fp in old)
    # Findings in other files are untouched.
    assert [f["fingerprint"] for f in check_of(before, "ML104")["findings"]] == [
        f["fingerprint"] for f in check_of(after, "ML104")["findings"]
    ]

    def sarif_prints(sarif: dict[str, Any]) -> list[str]:
        return sorted(r["partialFingerprints"]["mlaudit/v1"] for r in sarif["runs"][0]["results"])

    assert sarif_prints(sarif_before) == sarif_prints(sarif_after)


def test_fingerprints_change_when_the_finding_changes(copy_fixture):
    repo = copy_fixture("training-bad")
    before = {f["line"]: f["fingerprint"] for f in check_of(scan_json(repo), "ML104")["findings"]}
    (repo / "requirements.txt").write_text(
        "pandas>=2.0\nscikit-learn\nnumpy~=1.26\n", encoding="utf-8"
    )
    after = {f["line"]: f["fingerprint"] for f in check_of(scan_json(repo), "ML104")["findings"]}
    assert before[1] != after[1]
    assert before[2] == after[2] and before[3] == after[3]


# -- determinism ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "sarif"])
@pytest.mark.parametrize("name", ["training-bad", "training-good", "broken-syntax"])
def test_reports_are_byte_identical_across_runs_and_jobs(copy_fixture, name, fmt):
    repo = copy_fixture(name)
    outputs = []
    for jobs in ("1", "2", "2", "1"):
        result = run_cli("scan", repo, "-f", fmt, "--no-cache", "-j", jobs)
        assert result.code in (0, 1), result.stderr
        outputs.append(result.stdout)
    assert outputs[0]
    assert all(out == outputs[0] for out in outputs[1:])


def test_report_is_identical_with_a_warm_cache(copy_fixture, tmp_path: Path):
    repo = copy_fixture("training-good")
    cache = tmp_path / "cache"
    cold = run_cli("scan", repo, "-f", "json", "--cache-dir", cache)
    warm = run_cli("scan", repo, "-f", "json", "--cache-dir", cache)
    uncached = run_cli("scan", repo, "-f", "json", "--no-cache")
    assert cold.code == warm.code == uncached.code == 0
    assert cold.stdout == warm.stdout == uncached.stdout
