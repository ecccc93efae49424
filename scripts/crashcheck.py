#!/usr/bin/env python3
"""Scan every repository in a folder with mlaudit and report crashes, ML901 rates and times.

    python scripts/crashcheck.py /path/to/repos [--jobs 2] [--json out.json] [--cache]

Each direct subdirectory of the folder is one repository. Every scan runs the installed
console script (``mlaudit`` next to this interpreter, else on PATH) in a subprocess with
MLAUDIT_DEBUG=1, so a crash shows its traceback. A crash is exit 3 (or any exit other than
0/1), a traceback on stderr, a timeout, or output that is not a JSON report.

The ML901 rate is files with an ML901 finding / files whose content mlaudit parses (the
parsed kinds of mlaudit.index.extract, counted from the same workspace discovery).

With --determinism, each repository is scanned three more times (one job without cache, a
cold and a warm cache in a temporary directory) and the JSON reports must be byte-identical
to the first; a difference counts as a failure.

Exit status: 0 when no repository crashed (or differed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def mlaudit_command() -> list[str]:
    candidate = Path(sys.executable).parent / "mlaudit"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("mlaudit")
    return [found] if found else [sys.executable, "-m", "mlaudit"]


def parsed_files(root: Path) -> tuple[int, int, Counter[str]]:
    """(files discovered, files whose content is parsed, parsed files by kind)."""
    from mlaudit.config import find_config, load_config
    from mlaudit.index.extract import PARSED_KINDS
    from mlaudit.workspace import discover

    try:
        config = load_config(find_config(root))
        exclude = config.exclude
    except Exception:  # a repository's own broken config: count with the defaults
        exclude = []
    workspace = discover(root, exclude)
    kinds = Counter(f.kind for f in workspace.files if f.kind in PARSED_KINDS)
    return len(workspace.files), sum(kinds.values()), kinds


def scan(
    root: Path,
    jobs: int,
    use_cache: bool,
    timeout: float,
    program: list[str] | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    command = [*(program or mlaudit_command()), "scan", str(root), "-f", "json", "-j", str(jobs)]
    if not use_cache:
        command.append("--no-cache")
    elif cache_dir:
        command += ["--cache-dir", cache_dir]
    env = {**os.environ, "MLAUDIT_DEBUG": "1", "NO_COLOR": "1"}
    row: dict[str, Any] = {"repository": root.name, "path": str(root)}
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        row.update(exit=None, crashed=True, reason=f"timeout after {timeout:g} s")
        row["seconds"] = round(time.perf_counter() - started, 2)
        return row
    row["seconds"] = round(time.perf_counter() - started, 2)
    row["exit"] = completed.returncode
    row["stdout_bytes"] = completed.stdout
    traceback = "Traceback (most recent call last)" in completed.stderr
    report: dict[str, Any] | None = None
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        report = None
    # exit 2 is the repository's own invalid [tool.mlaudit] settings: reported, not a crash
    config_error = completed.returncode == 2 and not traceback
    crashed = not config_error and (
        completed.returncode not in (0, 1) or traceback or report is None
    )
    row["crashed"] = crashed
    if config_error:
        row["reason"] = "configuration error (exit 2): " + completed.stderr.strip()[-300:]
    if crashed:
        row["reason"] = f"exit {completed.returncode}" + (", traceback" if traceback else "")
        row["stderr"] = completed.stderr[-4000:]
    if report is not None:
        ml901 = next((c for c in report["checks"] if c["code"] == "ML901"), None)
        findings = ml901["findings"] if ml901 else []
        row["files_scanned"] = report["summary"]["files"]
        row["ml901_findings"] = len(findings)
        row["ml901_files"] = len({f["path"] for f in findings})
        row["ml901_messages"] = Counter(
            f["message"].split(":")[0] + ": " + f["message"].split(":")[1][:40].strip()
            if ":" in f["message"]
            else f["message"][:60]
            for f in findings
        ).most_common(5)
        row["ml901_examples"] = [
            f"{f['path']}:{f['line']}: {f['message'][:120]}" for f in findings[:5]
        ]
        row["score"] = report["score"]
    return row


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "repository",
        "files",
        "parsed",
        "ML901 files",
        "rate",
        "exit",
        "crash",
        "seconds",
        "warm s",
        "identical",
    )
    lines = [header]
    for row in rows:
        parsed = row.get("parsed_files", 0)
        bad = row.get("ml901_files", 0)
        rate = f"{bad / parsed:.2%}" if parsed else "-"
        lines.append(
            (
                row["repository"],
                str(row.get("files_scanned", "-")),
                str(parsed),
                str(bad),
                rate,
                str(row.get("exit")),
                "CRASH" if row["crashed"] else "ok",
                f"{row['seconds']:.1f}",
                f"{row['seconds_warm_cache']:.1f}" if "seconds_warm_cache" in row else "-",
                {True: "yes", False: "NO"}.get(row.get("identical"), "-"),  # type: ignore[arg-type]
            )
        )
    totals = {
        "files": sum(r.get("files_scanned", 0) for r in rows),
        "parsed": sum(r.get("parsed_files", 0) for r in rows),
        "bad": sum(r.get("ml901_files", 0) for r in rows),
        "crashes": sum(1 for r in rows if r["crashed"]),
        "seconds": sum(r["seconds"] for r in rows),
    }
    rate = f"{totals['bad'] / totals['parsed']:.2%}" if totals["parsed"] else "-"
    lines.append(
        (
            f"TOTAL ({len(rows)})",
            str(totals["files"]),
            str(totals["parsed"]),
            str(totals["bad"]),
            rate,
            "",
            f"{totals['crashes']} crash(es)",
            f"{totals['seconds']:.1f}",
            "",
            "",
        )
    )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0 or index == len(lines) - 2:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder whose subdirectories are repositories")
    parser.add_argument("--jobs", "-j", type=int, default=2)
    parser.add_argument("--cache", action="store_true", help="use the facts cache (default: off)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per repository")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    parser.add_argument("--only", nargs="*", default=[], help="scan only these repositories")
    parser.add_argument(
        "--determinism",
        action="store_true",
        help="also scan with -j 1, a cold and a warm cache; reports must be identical",
    )
    parser.add_argument(
        "--mlaudit", help="the command to run (default: the console script of this interpreter)"
    )
    args = parser.parse_args(argv)
    repos = sorted(
        p
        for p in args.folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (not args.only or p.name in args.only)
    )
    rows: list[dict[str, Any]] = []
    for repo in repos:
        program = args.mlaudit.split() if args.mlaudit else None
        row = scan(repo, args.jobs, args.cache, args.timeout, program)
        discovered, parsed, kinds = parsed_files(repo)
        row["files_discovered"] = discovered
        row["parsed_files"] = parsed
        row["parsed_by_kind"] = dict(sorted(kinds.items()))
        row["ml901_rate"] = round(row.get("ml901_files", 0) / parsed, 4) if parsed else None
        reference = row.pop("stdout_bytes", "")
        if args.determinism and not row["crashed"]:
            row["identical"] = True
            with tempfile.TemporaryDirectory(prefix="crashcheck-cache-") as cache:
                variants = [
                    ("one job", 1, False),
                    ("cold cache", args.jobs, True),
                    ("warm cache", args.jobs, True),
                ]
                for name, jobs, cached in variants:
                    other = scan(repo, jobs, cached, args.timeout, program, cache)
                    row[f"seconds_{name.replace(' ', '_')}"] = other["seconds"]
                    if other["crashed"] or other.get("stdout_bytes") != reference:
                        row["identical"] = False
                        row["crashed"] = row["crashed"] or other["crashed"]
                        row.setdefault("differs", []).append(name)
        rows.append(row)
        status = "CRASH " + row.get("reason", "") if row["crashed"] else "ok"
        print(f"{repo.name}: {status} in {row['seconds']:.1f} s", file=sys.stderr, flush=True)
        if row["crashed"] and row.get("stderr"):
            print(row["stderr"], file=sys.stderr)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str) + "\n", encoding="utf-8")
    failed = any(r["crashed"] or r.get("identical") is False for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
