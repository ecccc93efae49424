#!/usr/bin/env python3
"""Whole-process performance benchmark of ``mlaudit scan``.

Usage::

    python benchmarks/run.py [--sizes 50,500,2000] [--repo PATH ...] [--jobs 1,2]
                             [--repeat N] [--compare bandit,pylint] [--out FILE]
    python benchmarks/run.py --diff OLD.json NEW.json

For every target (synthetic repositories made by ``synth.py`` and cached under
``benchmarks/.work/``, plus each ``--repo``) it runs
``mlaudit scan TARGET -f json -o /dev/null --exit-zero -j N --cache-dir DIR``
as a separate process and records wall time, CPU time (user+sys of the child
and the workers it reaped, from ``os.wait4``), peak RSS (largest single
process) and throughput.  "cold" uses a fresh empty cache dir, "warm" re-runs
with the cache the cold run just filled, "edit" re-runs after one Python file of
the target changed (what a scan costs after each commit), "hook" runs the
pre-commit hook's command (``mlaudit scan --force-exclude FILE``, from the
target's root) after a fresh edit of that file.  The edited file is restored,
bytes and modification time, after each run.  Pure standard library; Linux/macOS.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_WORK = BENCH_DIR / ".work"
DEFAULT_OUT = BENCH_DIR / "results" / "latest.json"
SYNTH = BENCH_DIR / "synth.py"
DEFAULT_SEED = 1234  # the seed synth.py uses by default; passed explicitly anyway
SCHEMA_VERSION = 1
OK_EXIT = {"mlaudit": (0, 1), "bandit": (0, 1), "pylint": (0,)}
BIG_TARGET_FILES = 1000  # above this many .py/.ipynb files, --repeat defaults to 1
MODES = ("cold", "warm", "edit", "hook", "nocache")
NEEDS_CACHE = ("warm", "edit", "hook")  # modes that run on the cache a cold run filled
BASELINES = ("bandit", "pylint")


# --------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------


@dataclass
class Target:
    """Something to scan, with the size figures used for throughput."""

    name: str
    path: str
    kind: str  # "synthetic" or "repo"
    files: int = 0  # .py + .ipynb
    lines: int = 0  # lines of .py files + source lines of notebook cells
    py_files: int = 0
    notebooks: int = 0


@dataclass
class Sample:
    """One measured process run."""

    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mb: float
    exit_code: int | None
    status: str  # ok | error | timeout | signal | not-run
    detail: str = ""

    @property
    def cpu_s(self) -> float:
        """User plus system time: what the run cost in CPU."""
        return self.user_s + self.sys_s


@dataclass
class Row:
    """All samples of one (target, tool, mode, jobs) combination."""

    target: str
    tool: str
    mode: str
    jobs: int
    command: list[str]
    samples: list[Sample] = field(default_factory=list)
    summary: dict[str, float | int | str | None] = field(default_factory=dict)


@dataclass
class RunContext:
    """Settings shared by all runs of one benchmark invocation."""

    timeout: float
    scratch: Path


# --------------------------------------------------------------------------
# Measuring one process
# --------------------------------------------------------------------------


def _kill_group(pgid: int, fired: threading.Event) -> None:
    """Timer callback: kill the whole process group (mlaudit and its workers)."""
    fired.set()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(path: Path, lines: int = 6) -> str:
    """Last lines of a captured stderr, to explain a failure in the report."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def measure(
    cmd: list[str],
    timeout: float,
    ok_codes: tuple[int, ...],
    scratch: Path,
    cwd: str | None = None,
) -> Sample:
    """Run ``cmd`` to completion and return its wall/CPU/RSS figures.

    ``os.wait4`` reaps the child and hands back its rusage, which on Linux
    also covers descendants it waited for (multiprocessing workers), so CPU
    time is the whole tree's and maxrss is the largest single process.
    """
    err_path = scratch / "stderr.txt"
    fired = threading.Event()
    with open(err_path, "wb") as err:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            return not_run(f"cannot start {cmd[0]}: {exc}")
        timer = threading.Timer(timeout, _kill_group, args=(proc.pid, fired))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc.pid, threading.Event())
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # already reaped; stop Popen from waiting again
    rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    sample = Sample(wall, usage.ru_utime, usage.ru_stime, rss_mb, code, "ok")
    if fired.is_set():
        sample.status, sample.detail = "timeout", f"killed after {timeout:.0f}s"
    elif code < 0:
        sample.status = "signal"
        sample.detail = f"killed by {signal.Signals(-code).name}\n{_tail(err_path)}"
    elif code not in ok_codes:
        sample.status, sample.detail = "error", _tail(err_path)
    return sample


def not_run(reason: str) -> Sample:
    """A placeholder sample for a run that could not even start."""
    return Sample(0.0, 0.0, 0.0, 0.0, None, "not-run", reason)


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------


def count_notebook_lines(data: bytes) -> int:
    """Source lines of all cells; raw JSON lines would overstate the work."""
    try:
        cells = json.loads(data).get("cells", [])
    except (ValueError, AttributeError):
        return data.count(b"\n")
    total = 0
    for cell in cells:
        src = cell.get("source", "") if isinstance(cell, dict) else ""
        text = "".join(src) if isinstance(src, list) else str(src)
        total += len(text.splitlines())
    return total


def measure_target(target: Target) -> None:
    """Count .py/.ipynb files and lines (skipping .git); also warms the page cache."""
    for dirpath, dirnames, filenames in os.walk(target.path):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            if not name.endswith((".py", ".ipynb")):
                continue
            try:
                data = Path(dirpath, name).read_bytes()
            except OSError:
                continue
            if name.endswith(".py"):
                target.py_files += 1
                target.lines += data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
            else:
                target.notebooks += 1
                target.lines += count_notebook_lines(data)
    target.files = target.py_files + target.notebooks


def synth_key(size: int, seed: int) -> str:
    """Cache key: size, seed and a hash of synth.py (a changed generator regenerates)."""
    digest = hashlib.sha256(SYNTH.read_bytes()).hexdigest()[:10]
    return f"synth-{size}-s{seed}-{digest}"


def ensure_synthetic(size: int, seed: int, work: Path, timeout: float) -> Path:
    """Return a generated repository, generating it only when not cached."""
    key = synth_key(size, seed)
    repo, marker = work / key, work / f"{key}.ok"
    if repo.is_dir() and marker.exists():
        return repo
    for stale in work.glob(f"synth-{size}-s{seed}-*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    work.mkdir(parents=True, exist_ok=True)
    log(f"generating synthetic repo with {size} files -> {repo}")
    cmd = [sys.executable, str(SYNTH), str(repo), "--files", str(size), "--seed", str(seed)]
    subprocess.run(cmd, check=True, timeout=timeout, stdout=sys.stderr)
    marker.write_text(datetime.now(timezone.utc).isoformat() + "\n", encoding="utf-8")
    return repo


def build_targets(args: argparse.Namespace) -> list[Target]:
    """Synthetic targets first (small to large), then the given repositories."""
    targets: list[Target] = []
    for size in args.sizes:
        path = ensure_synthetic(size, args.seed, args.work_dir, args.timeout)
        targets.append(Target(f"synth-{size}", str(path), "synthetic"))
    names = {t.name for t in targets}
    for repo in args.repo:
        path = Path(repo).expanduser().resolve()
        if not path.is_dir():
            raise SystemExit(f"run.py: --repo {repo}: not a directory")
        name, i = path.name, 2
        while name in names:
            name, i = f"{path.name}-{i}", i + 1
        names.add(name)
        targets.append(Target(name, str(path), "repo"))
    for target in targets:
        measure_target(target)
    return targets


# --------------------------------------------------------------------------
# Tools and commands
# --------------------------------------------------------------------------


def find_tool(name: str) -> str | None:
    """Prefer the console script next to this interpreter (its venv), else PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def tool_version(exe: str) -> str:
    """``TOOL --version`` output, or why it could not be read."""
    try:
        proc = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc.__class__.__name__})"
    text = (proc.stdout or proc.stderr).strip().splitlines()
    if proc.returncode != 0:
        return f"unknown (--version exited {proc.returncode})"
    return text[0] if text else "unknown"


def mlaudit_cmd(
    exe: str, target: str, jobs: int, mode: str, cache_dir: Path, edited: str = ""
) -> list[str]:
    """The command under test, exactly as a user would type it (the hook's from the
    target's root, naming the edited file, as pre-commit does)."""
    if mode == "hook":
        cmd = [exe, "scan", "--force-exclude", "-f", "json", "-o", os.devnull, "--exit-zero"]
        return [*cmd, "-j", str(jobs), "--cache-dir", str(cache_dir), edited]
    cmd = [exe, "scan", target, "-f", "json", "-o", os.devnull, "--exit-zero", "-j", str(jobs)]
    return [*cmd, "--no-cache"] if mode == "nocache" else [*cmd, "--cache-dir", str(cache_dir)]


def edit_target(root: Path) -> str | None:
    """The file the edit modes change: of the Python files git tracks (outside git: found),
    tests left out, the one of median size (ties by path), as a typical commit touches a
    typical module. Relative to ``root``."""
    listed: list[str] = []
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", "*.py"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8", "replace")
        listed = [p for p in out.split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        pass
    if not listed:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found = (Path(dirpath, n) for n in filenames if n.endswith(".py"))
            listed.extend(f.relative_to(root).as_posix() for f in found)
    sized = sorted(
        ((root / p).stat().st_size, p)
        for p in listed
        if "test" not in p.lower() and (root / p).is_file()
    )
    return sized[len(sized) // 2][1] if sized else None


@contextlib.contextmanager
def edited(root: Path, rel: str, nonce: str) -> Iterator[None]:
    """Append a comment naming ``nonce`` to ``rel`` (a change no earlier scan has seen);
    put its bytes and times back afterwards, whatever happens."""
    path = root / rel
    original = path.read_bytes()
    stat = path.stat()
    try:
        separator = b"" if not original or original.endswith(b"\n") else b"\n"
        path.write_bytes(original + separator + f"# mlaudit benchmark edit {nonce}\n".encode())
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def baseline_cmd(tool: str, exe: str, target: str) -> tuple[list[str], int]:
    """Comparison commands (default checks) and the parallelism they use."""
    if tool == "bandit":
        return [exe, "-r", "-q", target, "-f", "json", "-o", os.devnull], 1
    return [exe, "-j", "2", "--recursive=y", target, "--exit-zero", "-sn"], 2


# --------------------------------------------------------------------------
# Running the matrix
# --------------------------------------------------------------------------


def log(msg: str) -> None:
    """Progress goes to stderr so stdout keeps only the tables."""
    print(msg, file=sys.stderr, flush=True)


def fmt_sample(s: Sample) -> str:
    """One-line progress description of a sample."""
    if s.status == "ok":
        return f"{s.wall_s:.2f}s wall, {s.cpu_s:.2f}s cpu, {s.maxrss_mb:.0f} MB"
    lines = s.detail.splitlines()
    errors = [ln for ln in lines if "error" in ln.lower()]
    last = errors[0] if errors else (lines[-1] if lines else "")
    code = f" (exit {s.exit_code})" if s.status == "error" else ""
    return f"{s.status.upper()}{code}: {last}"


def record(row: Row, sample: Sample, run: int, total: int) -> None:
    """Append a sample and print progress."""
    row.samples.append(sample)
    tag = f"{row.target} {row.tool} {row.mode} -j{row.jobs}"
    log(f"  {tag:<34} run {run}/{total}: {fmt_sample(sample)}")


def run_mlaudit(
    exe: str,
    target: Target,
    jobs: int,
    modes: list[str],
    repeat: int,
    ctx: RunContext,
    out: list[Row],
) -> None:
    """Cold/warm/no-cache runs of mlaudit for one target and -j value.

    Each repetition gets a fresh empty cache dir; warm, edit and hook reuse the one
    the cold run (measured or not) just filled.
    """
    rows = {m: Row(target.name, "mlaudit", m, jobs, []) for m in modes}
    out.extend(rows.values())
    dependent = [m for m in NEEDS_CACHE if m in rows]
    root = Path(target.path)
    rel = edit_target(root) if {"edit", "hook"} & set(rows) else None
    for r in range(1, repeat + 1):
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=ctx.scratch)).resolve()
        try:
            for mode in MODES:
                wanted = mode in rows
                if not wanted and not (mode == "cold" and dependent):
                    continue  # cold is still needed (unmeasured) to prime the cache
                if mode in ("edit", "hook") and rel is None:
                    record(rows[mode], not_run("no Python file to edit"), r, repeat)
                    continue
                cmd = mlaudit_cmd(exe, target.path, jobs, mode, cache, rel or "")
                nonce = f"{mode}-{jobs}-{r}-{time.time_ns()}"
                change: contextlib.AbstractContextManager[None] = (
                    edited(root, rel, nonce)
                    if rel and mode in ("edit", "hook")
                    else contextlib.nullcontext()
                )
                with change:
                    cwd = target.path if mode == "hook" else None
                    sample = measure(cmd, ctx.timeout, OK_EXIT["mlaudit"], ctx.scratch, cwd)
                if wanted:
                    rows[mode].command = cmd
                    record(rows[mode], sample, r, repeat)
                if mode == "cold" and sample.status != "ok" and dependent:
                    for other in dependent:
                        record(rows[other], not_run("cold run failed"), r, repeat)
                    break
        finally:
            shutil.rmtree(cache, ignore_errors=True)


def run_baseline(
    tool: str, exe: str, target: Target, repeat: int, ctx: RunContext, out: list[Row]
) -> None:
    """Time a comparison tool on one target."""
    cmd, jobs = baseline_cmd(tool, exe, target.path)
    row = Row(target.name, tool, "-", jobs, cmd)
    out.append(row)
    for r in range(1, repeat + 1):
        record(row, measure(cmd, ctx.timeout, OK_EXIT[tool], ctx.scratch), r, repeat)


def summarize(row: Row, target: Target) -> None:
    """Medians over successful samples; status says whether any run failed."""
    ok = [s for s in row.samples if s.status == "ok"]
    bad = [s for s in row.samples if s.status != "ok"]
    status = "ok" if row.samples else "not-run"
    if bad:
        first = bad[0]
        status = f"error (exit {first.exit_code})" if first.status == "error" else first.status
    summary: dict[str, float | int | str | None] = {"status": status, "runs": len(row.samples)}
    if ok:
        wall = statistics.median(s.wall_s for s in ok)
        summary.update(
            wall_s=round(wall, 4),
            wall_min_s=round(min(s.wall_s for s in ok), 4),
            wall_max_s=round(max(s.wall_s for s in ok), 4),
            cpu_s=round(statistics.median(s.cpu_s for s in ok), 4),
            maxrss_mb=round(statistics.median(s.maxrss_mb for s in ok), 1),
            files_per_s=round(target.files / wall, 1) if wall > 0 else None,
            lines_per_s=round(target.lines / wall, 0) if wall > 0 else None,
        )
    row.summary = summary


def repeats_for(target: Target, requested: int | None) -> int:
    """Default: 3 runs for small targets, 1 for big ones (they take minutes)."""
    if requested is not None:
        return requested
    return 1 if target.files > BIG_TARGET_FILES else 3


def bench_target(
    target: Target,
    tools: dict[str, str],
    args: argparse.Namespace,
    ctx: RunContext,
    rows: list[Row],
) -> None:
    """All measurements for one target, appended to ``rows`` as they finish."""
    repeat = repeats_for(target, args.repeat)
    log(f"== {target.name}: {target.files} files, {target.lines} lines ({target.path})")
    for jobs in args.jobs:
        run_mlaudit(tools["mlaudit"], target, jobs, args.modes, repeat, ctx, rows)
    for tool in args.compare:
        if tool in tools:
            run_baseline(tool, tools[tool], target, repeat, ctx, rows)


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

COLUMNS = [
    ("target", 12, "<"),
    ("tool", 7, "<"),
    ("mode", 7, "<"),
    ("-j", 2, ">"),
    ("runs", 4, ">"),
    ("wall s", 8, ">"),
    ("cpu s", 8, ">"),
    ("cpu/wall", 8, ">"),
    ("peak MB", 8, ">"),
    ("files/s", 9, ">"),
    ("lines/s", 10, ">"),
    ("status", 6, "<"),
]


def num(value: object, digits: int = 2) -> str:
    """Format an optional number for the table."""
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return "-"


def table_row(row: Row) -> list[str]:
    """Cells of one table line."""
    s = row.summary
    wall, cpu = s.get("wall_s"), s.get("cpu_s")
    ratio = cpu / wall if isinstance(wall, float) and isinstance(cpu, float) and wall else None
    return [
        row.target,
        row.tool,
        row.mode,
        str(row.jobs),
        str(s.get("runs", 0)),
        num(wall),
        num(cpu),
        num(ratio),
        num(s.get("maxrss_mb"), 0),
        num(s.get("files_per_s"), 0),
        num(s.get("lines_per_s"), 0),
        str(s.get("status")),
    ]


def render_table(header: list[tuple[str, int, str]], body: list[list[str]]) -> str:
    """A plain aligned text table (no dependencies)."""
    widths = [max(w, len(h), *(len(r[i]) for r in body)) for i, (h, w, _) in enumerate(header)]
    aligns = [a for _, _, a in header]

    def line(cells: list[str]) -> str:
        return "  ".join(
            f"{c:{a}{w}}" for c, a, w in zip(cells, aligns, widths, strict=True)
        ).rstrip()

    out = [line([h for h, _, _ in header]), line(["-" * w for w in widths])]
    return "\n".join(out + [line(r) for r in body])


def print_errors(rows: list[Row]) -> None:
    """Show stderr tails of failed runs below the table."""
    for row in rows:
        for s in row.samples:
            if s.status not in ("ok", "not-run") and s.detail:
                print(f"\n{row.target} {row.tool} {row.mode} -j{row.jobs}: {s.status}")
                print("  " + s.detail.replace("\n", "\n  "))
                break


def mlaudit_source(exe: str) -> Path | None:
    """Directory of the ``mlaudit`` package that ``exe`` runs, via its shebang.

    This tells an editable install of a checkout (whose commit is worth
    recording) from a wheel installed elsewhere.
    """
    try:
        with open(exe, "rb") as handle:
            first = handle.readline(512).decode("utf-8", "replace")
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    interp = words[1] if len(words) > 1 and words[0].endswith("/env") else (words or [""])[0]
    code = "import mlaudit, os; print(os.path.dirname(os.path.abspath(mlaudit.__file__)))"
    try:
        proc = subprocess.run(  # cwd: `python -c` would import ./mlaudit from a checkout
            [interp, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=os.path.abspath(os.sep),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return Path(out) if proc.returncode == 0 and out else None


def git_info(path: Path) -> dict[str, str | bool | None]:
    """Commit and dirtiness of the git checkout rooted exactly at ``path``."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", "-C", str(path), *args],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != path.resolve():
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def machine_info(tools: dict[str, str]) -> dict[str, object]:
    """What is needed to judge whether two result files are comparable."""
    info: dict[str, object] = {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    info["tools"] = {
        name: {"path": exe, "version": tool_version(exe)} for name, exe in tools.items()
    }
    info["mlaudit_version"] = info["tools"]["mlaudit"]["version"]  # type: ignore[index]
    source = mlaudit_source(tools["mlaudit"])
    info["mlaudit_source"] = str(source) if source else None
    info["mlaudit_git"] = git_info(source.parent) if source else {"commit": None, "dirty": None}
    return info


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo where available."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_results(path: Path, payload: dict[str, object]) -> None:
    """Write JSON atomically so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def payload_of(
    args: argparse.Namespace,
    info: dict[str, object],
    targets: list[Target],
    rows: list[Row],
    complete: bool,
) -> dict[str, object]:
    """The JSON document written to --out."""
    return {
        "schema": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "complete": complete,
        "machine": info,
        "config": {
            "sizes": args.sizes,
            "repos": args.repo,
            "jobs": args.jobs,
            "modes": args.modes,
            "repeat": args.repeat,
            "timeout_s": args.timeout,
            "seed": args.seed,
            "compare": args.compare,
        },
        "targets": [asdict(t) for t in targets],
        "results": [
            {
                **{k: v for k, v in asdict(r).items() if k != "samples"},
                "samples": [asdict(s) for s in r.samples],
            }
            for r in rows
        ],
    }


# --------------------------------------------------------------------------
# Comparing two result files
# --------------------------------------------------------------------------


RowKey = tuple[str, str, str, int]
DIFF_COLUMNS = [
    ("target", 12, "<"),
    ("tool", 7, "<"),
    ("mode", 7, "<"),
    ("-j", 2, ">"),
    ("wall old", 8, ">"),
    ("wall new", 8, ">"),
    ("wall x", 6, ">"),
    ("cpu old", 8, ">"),
    ("cpu new", 8, ">"),
    ("MB old", 7, ">"),
    ("MB new", 7, ">"),
]


def diff_notes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Reasons the two files may not be comparable (machine, version, target size)."""
    notes = []
    for name in ("cpu_count", "platform", "mlaudit_version"):
        a, b = old["machine"].get(name), new["machine"].get(name)
        if a != b:
            notes.append(f"note: {name} differs: {a!r} -> {b!r}")
    sizes = {t["name"]: (t["files"], t["lines"]) for t in old["targets"]}
    for t in new["targets"]:
        was, now = sizes.get(t["name"]), (t["files"], t["lines"])
        if was and was != now:
            notes.append(f"note: target {t['name']} changed: {was} -> {now} (files, lines)")
    return notes


def index_rows(doc: dict[str, Any]) -> dict[RowKey, dict[str, Any]]:
    """Result summaries keyed by (target, tool, mode, jobs)."""
    return {(r["target"], r["tool"], r["mode"], r["jobs"]): r["summary"] for r in doc["results"]}


def diff_line(key: RowKey, a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """One comparison line; the ratio is new/old median wall time."""
    ratio = None
    if isinstance(a.get("wall_s"), float) and isinstance(b.get("wall_s"), float) and a["wall_s"]:
        ratio = b["wall_s"] / a["wall_s"]
    return [
        *(str(k) for k in key),
        num(a.get("wall_s")),
        num(b.get("wall_s")),
        num(ratio),
        num(a.get("cpu_s")),
        num(b.get("cpu_s")),
        num(a.get("maxrss_mb"), 0),
        num(b.get("maxrss_mb"), 0),
    ]


def diff_results(old_path: Path, new_path: Path) -> int:
    """Print median wall/CPU/RSS of two result files side by side."""
    old, new = (json.loads(p.read_text(encoding="utf-8")) for p in (old_path, new_path))
    for note in diff_notes(old, new):
        print(note)
    a_rows, b_rows = index_rows(old), index_rows(new)
    keys = [*b_rows, *(k for k in a_rows if k not in b_rows)]
    body = [diff_line(k, a_rows.get(k, {}), b_rows.get(k, {})) for k in keys]
    print(render_table(DIFF_COLUMNS, body))
    print("\nwall x < 1.00 means the new run is faster.")
    return 0


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    """Parse ``1,2,3`` (argparse type)."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from exc
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("values must be >= 0")
    return values


def choice_list(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Parse a comma-separated subset of ``allowed``."""

    def parse(text: str) -> list[str]:
        values = [x.strip() for x in text.split(",") if x.strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {list(allowed)}")
        return values

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line interface (see module docstring)."""
    p = argparse.ArgumentParser(
        description="Benchmark `mlaudit scan` as a whole process.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--sizes",
        type=int_list,
        default=[50, 500, 2000],
        help="synthetic repo sizes in files; '' for none",
    )
    p.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="PATH",
        help="also benchmark this existing repository (repeatable)",
    )
    p.add_argument("--jobs", type=int_list, default=[1, 2], help="values for mlaudit -j")
    p.add_argument(
        "--modes",
        type=choice_list(MODES),
        default=["cold", "warm", "edit", "hook"],
        help="cold (fresh --cache-dir), warm (cache filled by cold), edit (warm after one "
        "Python file changed), hook (the pre-commit hook's scan of that file), nocache",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help=f"runs per measurement; None means 3, or 1 above {BIG_TARGET_FILES} files",
    )
    p.add_argument(
        "--compare",
        type=choice_list(BASELINES),
        default=[],
        help="also time these tools, e.g. bandit,pylint",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON result file")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic repo seed")
    p.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK,
        help="cache of generated repos and scratch space",
    )
    p.add_argument(
        "--mlaudit", default=None, help="mlaudit executable; None: next to this Python, else PATH"
    )
    p.add_argument(
        "--diff",
        nargs=2,
        type=Path,
        metavar=("OLD", "NEW"),
        help="compare two result files and exit",
    )
    args = p.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        p.error("--repeat must be >= 1")
    if not args.diff and not args.sizes and not args.repo:
        p.error("nothing to benchmark: give --sizes and/or --repo")
    if not args.jobs or 0 in args.jobs:
        p.error("--jobs needs values >= 1")
    return args


def resolve_tools(args: argparse.Namespace) -> dict[str, str]:
    """Locate mlaudit (required) and the comparison tools (optional)."""
    exe = args.mlaudit or find_tool("mlaudit")
    if not exe or not (shutil.which(exe) or Path(exe).is_file()):
        raise SystemExit(
            "run.py: cannot find the `mlaudit` console script next to "
            f"{sys.executable} or on PATH; install it (pip install -e .) or pass --mlaudit"
        )
    tools = {"mlaudit": exe}
    for tool in args.compare:
        found = find_tool(tool)
        if found:
            tools[tool] = found
        else:
            log(f"note: --compare {tool}: `{tool}` is not installed, skipping it")
    return tools


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark matrix, print the table, write the JSON."""
    args = parse_args(argv)
    if args.diff:
        return diff_results(*args.diff)
    tools = resolve_tools(args)
    info = machine_info(tools)
    log(f"mlaudit: {tools['mlaudit']} ({info['mlaudit_version']})")
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        log(f"warning: load average is {load:.2f}; other work will skew the timings")
    args.work_dir = args.work_dir.resolve()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    targets = build_targets(args)
    rows: list[Row] = []
    complete = False
    with tempfile.TemporaryDirectory(prefix="run-", dir=args.work_dir) as scratch:
        ctx = RunContext(args.timeout, Path(scratch))
        try:
            for target in targets:
                bench_target(target, tools, args, ctx, rows)
            complete = True
        except KeyboardInterrupt:
            log("interrupted: writing partial results")
        finally:
            by_name = {t.name: t for t in targets}
            for row in rows:
                summarize(row, by_name[row.target])
            write_results(args.out, payload_of(args, info, targets, rows, complete))
    print(render_table(COLUMNS, [table_row(r) for r in rows]))
    print_errors(rows)
    print(f"\nresults: {args.out}")
    failed = any(r.summary.get("status") != "ok" for r in rows if r.tool == "mlaudit")
    return 130 if not complete else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
