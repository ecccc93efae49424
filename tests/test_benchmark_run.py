"""benchmarks/run.py: the edit and hook modes time real scans after a real change, and
leave the target exactly as it was."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, REPO_ROOT, git_init, mlaudit_executable

SCRIPT = REPO_ROOT / "benchmarks" / "run.py"


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*.py"))
        if ".git" not in p.parts
    }


def test_edit_and_hook_modes_scan_after_a_change_and_restore_the_file(tmp_path: Path) -> None:
    target = tmp_path / "service"
    shutil.copytree(FIXTURES / "fastapi-bad", target)
    git_init(target)
    before = _snapshot(target)
    out = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--sizes",
            "",
            "--repo",
            str(target),
            "--jobs",
            "1",
            "--repeat",
            "1",
            "--modes",
            "edit,hook",
            "--mlaudit",
            mlaudit_executable(),
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    rows = {row["mode"]: row for row in json.loads(out.read_text())["results"]}
    assert set(rows) == {"edit", "hook"}
    for row in rows.values():
        assert row["summary"]["status"] == "ok"
        assert row["summary"]["runs"] == 1 and row["summary"]["wall_s"] > 0
    # The whole repository is rescanned after the edit; the hook names the edited file,
    # run from the target's root as pre-commit runs it.
    assert str(target) in rows["edit"]["command"]
    hook = rows["hook"]["command"]
    assert "--force-exclude" in hook and hook[-1] in before
    assert not Path(hook[-1]).is_absolute() and "test" not in hook[-1]
    # Every file, bytes and modification time, is as it was; git sees no change.
    assert _snapshot(target) == before
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "."], cwd=target, capture_output=True, text=True
    )
    assert status.stdout.strip() == ""
