"""mlaudit never runs, imports or installs code of the repository it audits, reads YAML only
through safe loaders, and opens no network connection during a scan."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, check_of, git_init, run_cli

PACKAGE = REPO_ROOT / "mlaudit"


def _payload(marker: Path, name: str) -> str:
    """Python that leaves a trace if it ever runs."""
    return (
        f"import pathlib; pathlib.Path({str(marker)!r}).mkdir(exist_ok=True); "
        f"pathlib.Path({str(marker)!r}, {name!r}).write_text('executed')"
    )


def booby_trapped_repo(root: Path, marker: Path) -> Path:
    """A repository where every file that some tool might execute writes ``marker/<name>``."""
    code = {name: _payload(marker, name) for name in ("setup", "conftest", "init", "site")}
    cell = _payload(marker, "notebook")
    files = {
        "setup.py": code["setup"] + "\nfrom setuptools import setup\nsetup(name='trap')\n",
        "conftest.py": code["conftest"] + "\n",
        "trap/__init__.py": code["init"] + "\n",
        "trap/__main__.py": _payload(marker, "main") + "\n",
        "sitecustomize.py": code["site"] + "\n",
        "usercustomize.py": _payload(marker, "user") + "\n",
        "trap.pth": "import os; " + _payload(marker, "pth") + "\n",
        # modules named like mlaudit's own dependencies: importing them from the target
        # (cwd or the scanned root on sys.path) would run them
        "yaml.py": _payload(marker, "yaml") + "\n",
        "git.py": _payload(marker, "git") + "\n",
        "dockerfile.py": _payload(marker, "dockerfile") + "\n",
        "msgspec.py": _payload(marker, "msgspec") + "\n",
        "libcst/__init__.py": _payload(marker, "libcst") + "\n",
        "packaging/__init__.py": _payload(marker, "packaging") + "\n",
        "mlaudit/__init__.py": _payload(marker, "mlaudit") + "\n",
        "serve.py": (
            "from fastapi import FastAPI\nimport joblib\n\napp = FastAPI()\n\n\n"
            '@app.get("/predict")\ndef predict():\n    return joblib.load("m.joblib")\n'
        ),
        "pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
            '[project]\nname = "trap"\ndependencies = ["numpy"]\n'
        ),
        "backend.py": _payload(marker, "backend") + "\n",
        "requirements.txt": "-e .\n-r requirements-dev.txt\nnumpy\n",
        "requirements-dev.txt": "git+https://example.invalid/trap.git#egg=trap\n",
        "notebook.ipynb": json.dumps(
            {
                "cells": [{"cell_type": "code", "source": [cell], "metadata": {}, "outputs": []}],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        ),
        ".github/workflows/ci.yml": (
            "name: !!python/object/apply:os.system ['" + _payload(marker, "yaml-tag") + "']\n"
            "on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n"
            "      - run: !!python/object/apply:subprocess.call [['touch', "
            f"'{marker}/yaml-tag2']]\n"
        ),
        "Dockerfile": "FROM python:3.11\nRUN touch /tmp/never\n",
    }
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


@pytest.mark.parametrize("git", [False, True], ids=["plain", "git"])
def test_no_code_of_the_target_runs_during_a_scan(tmp_path: Path, git: bool) -> None:
    marker = tmp_path / "executed"
    root = booby_trapped_repo(tmp_path / "repo", marker)
    if git:
        git_init(root)
        # a hostile .git/config (a downloaded archive can carry one): git must not run it
        with (root / ".git" / "config").open("a") as config:
            config.write(f"[core]\n\tfsmonitor = touch {marker}-fsmonitor\n")
    cache = tmp_path / "cache"
    runs = [
        ("--no-cache", "-j", "1"),
        ("--no-cache", "-j", "2"),
        ("--cache-dir", str(cache)),  # cold cache
        ("--cache-dir", str(cache)),  # warm cache
        (),  # the default cache inside the repository
    ]
    for args in runs:
        # cwd is the target itself: nothing there may shadow mlaudit's imports
        result = run_cli("scan", root, "-f", "json", *args, cwd=root)
        assert result.code in (0, 1), result.stderr
        report = result.json()
        assert check_of(report, "ML307")["findings"], "the scan did read the repository"
        assert not marker.exists(), sorted(p.name for p in marker.iterdir())
        assert not Path(f"{marker}-fsmonitor").exists(), "git ran the target's fsmonitor hook"


# -- YAML only through safe loaders -----------------------------------------------------------
UNSAFE_YAML = [
    re.compile(r"\byaml\.(load|load_all|unsafe_load|unsafe_load_all|full_load|full_load_all)\b"),
    re.compile(r"\byaml\.(Loader|FullLoader|UnsafeLoader|CLoader|CFullLoader|CUnsafeLoader)\b"),
    re.compile(r"\bLoader\s*=\s*(?!(yaml\.)?(C?SafeLoader|BaseLoader)\b)[\w.]+"),
    re.compile(r"from\s+yaml\s+import\s+[^\n]*\b(load|load_all|unsafe_load|full_load|Loader)\b"),
    re.compile(r"\byaml\.(add_constructor|add_multi_constructor)\b"),
]


def test_the_package_reads_yaml_only_through_safe_loaders() -> None:
    offenders: list[str] = []
    uses = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        uses += len(re.findall(r"\byaml\.(safe_load|compose_all|compose)\b", text))
        for number, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            # Names of unsafe calls as string data (what ML302 looks for) are not calls.
            code = re.sub(r"""(["'])yaml\.[\w.]+\1""", "''", code)
            for pattern in UNSAFE_YAML:
                if pattern.search(code):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders
    assert uses >= 2, "the YAML readers moved: update this test"


def test_the_unsafe_yaml_patterns_do_catch_unsafe_calls() -> None:
    unsafe = [
        "yaml.load(text)",
        "yaml.load(text, Loader=yaml.Loader)",
        "yaml.unsafe_load(text)",
        "yaml.full_load(text)",
        "yaml.compose_all(text, Loader=yaml.FullLoader)",
        "from yaml import load, Loader",
    ]
    safe = ["yaml.safe_load(text)", "yaml.compose_all(text, Loader=yaml.SafeLoader)"]
    assert all(any(p.search(line) for p in UNSAFE_YAML) for line in unsafe)
    assert not any(p.search(line) for p in UNSAFE_YAML for line in safe)


# -- no network, no subprocess but git, no exec of target code --------------------------------
WRAPPER = r"""
import os, sys

LOG = os.environ["MLAUDIT_AUDIT_LOG"]
ROOT = os.path.realpath(os.environ["MLAUDIT_AUDIT_ROOT"])
WATCHED = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.bind",
           "socket.sendto", "http.client.connect", "urllib.Request", "ftplib.connect",
           "smtplib.connect", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
           "os.spawn", "exec", "import"}

def hook(event, args):
    if event not in WATCHED:
        return
    if event == "exec":
        code = args[0]
        filename = getattr(code, "co_filename", "")
        # code objects compiled from the target (mlaudit compiles "<mlaudit>" as a syntax
        # check): running one is executing the target
        inside = os.path.isabs(filename) and os.path.realpath(filename).startswith(ROOT)
        if filename != "<mlaudit>" and not inside:
            return
        detail = filename
    elif event == "import":
        filename = args[1] or ""
        if not os.path.isabs(filename) or not os.path.realpath(filename).startswith(ROOT):
            return
        detail = args[0] + " from " + filename
    elif event == "subprocess.Popen":
        detail = repr(args[1])
    else:
        detail = repr(args)[:200]
    with open(LOG, "a") as handle:
        handle.write(f"{os.getpid()} {event} {detail}\n")

sys.addaudithook(hook)
if os.environ.get("MLAUDIT_AUDIT_CONTROL"):
    import socket
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=0.5).close()
    except OSError:
        pass
    exec(compile("x = 1", "<mlaudit>", "exec"))
from mlaudit.cli import main
sys.argv = ["mlaudit", *sys.argv[1:]]
main()
"""


def _audited_scan(tmp_path: Path, root: Path, *args: str, control: bool = False) -> list[str]:
    wrapper = tmp_path / "audited_mlaudit.py"
    wrapper.write_text(WRAPPER)
    log = tmp_path / f"audit-{len(list(tmp_path.glob('audit-*')))}.log"
    env = {
        **os.environ,
        "MLAUDIT_AUDIT_LOG": str(log),
        "MLAUDIT_AUDIT_ROOT": str(root),
        "NO_COLOR": "1",
    }
    if control:
        env["MLAUDIT_AUDIT_CONTROL"] = "1"
    completed = subprocess.run(
        [sys.executable, str(wrapper), "scan", str(root), "-f", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    assert json.loads(completed.stdout)["checks"]
    return log.read_text().splitlines() if log.exists() else []


def test_the_audit_hook_sees_what_it_must_forbid(tmp_path: Path) -> None:
    root = booby_trapped_repo(tmp_path / "repo", tmp_path / "marker")
    events = _audited_scan(tmp_path, root, "--no-cache", "-j", "1", control=True)
    kinds = {line.split()[1] for line in events}
    assert "socket.connect" in kinds, events
    assert "exec" in kinds, events


def _bigger(root: Path) -> None:
    # enough source for -j 2 to extract in the process pool (forked workers inherit the hook)
    for n in range(6):
        body = "".join(f"def f{i}(x):\n    return x.load(path='{i}')\n\n" for i in range(1500))
        (root / f"gen_{n}.py").write_text(body)


@pytest.mark.parametrize("git", [False, True], ids=["plain", "git"])
def test_a_scan_opens_no_connection_runs_only_git_and_executes_nothing(
    tmp_path: Path, git: bool
) -> None:
    root = booby_trapped_repo(tmp_path / "repo", tmp_path / "marker")
    _bigger(root)
    if git:
        git_init(root)
    events = _audited_scan(tmp_path, root, "--no-cache", "-j", "2")
    events += _audited_scan(tmp_path, root, "--cache-dir", str(tmp_path / "cache"))
    events += _audited_scan(tmp_path, root, "--cache-dir", str(tmp_path / "cache"))
    network = [e for e in events if e.split()[1].startswith(("socket", "http", "urllib"))]
    assert not network, network
    executed = [e for e in events if e.split()[1] in ("exec", "import")]
    assert not executed, executed
    commands = [e for e in events if e.split()[1] not in ("exec", "import")]
    assert all(e.split()[1] == "subprocess.Popen" and "'git'" in e for e in commands), commands
    assert not (tmp_path / "marker").exists()
