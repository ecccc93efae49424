"""scripts/crashcheck.py: the crash-freedom harness for real repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, write_tree

SCRIPT = REPO_ROOT / "scripts" / "crashcheck.py"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_reports_rates_and_times_and_no_crash(tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    write_tree(repos / "clean", {"train.py": "import os\nprint(os.sep)\n"})
    write_tree(
        repos / "broken",
        {"a.py": "def f(:\n", "b.py": "x = 1\n", "requirements.txt": "numpy\nfoo==\n"},
    )
    (repos / "empty").mkdir()
    out = tmp_path / "rows.json"
    completed = run(repos, "--json", out, "-j", "1")
    assert completed.returncode == 0, completed.stderr
    rows = {row["repository"]: row for row in json.loads(out.read_text())}
    assert sorted(rows) == ["broken", "clean", "empty"]
    assert not any(row["crashed"] for row in rows.values())
    broken = rows["broken"]
    assert (broken["parsed_files"], broken["ml901_files"], broken["ml901_findings"]) == (3, 2, 2)
    assert broken["ml901_rate"] == round(2 / 3, 4)
    assert rows["clean"]["ml901_files"] == 0 and rows["empty"]["parsed_files"] == 0
    assert all(row["seconds"] > 0 for row in rows.values())
    assert "TOTAL (3)" in completed.stdout and "0 crash(es)" in completed.stdout


def test_a_crash_is_reported_with_its_traceback(tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    write_tree(repos / "any", {"a.py": "x = 1\n"})
    fake = tmp_path / "fake_mlaudit.py"
    fake.write_text(
        "import sys\n"
        "sys.stderr.write('Traceback (most recent call last):\\n  boom\\nKeyError: 1\\n')\n"
        "sys.exit(3)\n"
    )
    completed = run(repos, "--mlaudit", f"{sys.executable} {fake}", "--json", tmp_path / "o.json")
    assert completed.returncode == 1
    row = json.loads((tmp_path / "o.json").read_text())[0]
    assert row["crashed"] and row["exit"] == 3 and "KeyError" in row["stderr"]
    assert "CRASH" in completed.stdout


def test_determinism_mode_compares_jobs_and_caches(tmp_path: Path) -> None:
    repos = tmp_path / "repos"
    write_tree(repos / "one", {"a.py": "def f(:\n", "train.py": "import random\nrandom.random()\n"})
    out = tmp_path / "rows.json"
    completed = run(repos, "--determinism", "--json", out, "-j", "2")
    assert completed.returncode == 0, completed.stderr
    row = json.loads(out.read_text())[0]
    assert row["identical"] is True and "seconds_warm_cache" in row
    assert "yes" in completed.stdout
