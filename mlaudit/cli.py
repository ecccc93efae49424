"""The command line: ``mlaudit scan``, ``mlaudit rule``, ``mlaudit cache clean``.

Shaped like ruff's. Exit codes in every format: 0 gate passed, 1 gate failed, 2 usage or
configuration error, 3 internal error. Heavy modules are imported inside commands so that
``mlaudit --version`` starts fast.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mlaudit import __version__

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
F = TypeVar("F", bound=Callable[..., Any])


def _guarded(function: F) -> F:
    """Turn configuration errors into exit 2 and anything unexpected into exit 3."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mlaudit.config import ConfigError

        try:
            return function(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"mlaudit: error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            click.echo(f"mlaudit: internal error: {type(exc).__name__}: {exc}", err=True)
            if os.environ.get("MLAUDIT_DEBUG"):
                traceback.print_exc()
            else:
                click.echo(
                    "mlaudit: set MLAUDIT_DEBUG=1 for the traceback, and please report it.",
                    err=True,
                )
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def _split(values: tuple[str, ...]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="mlaudit")
def cli() -> None:
    """mlaudit: audit a machine-learning repository for production readiness."""


def _scan_options(function: F) -> F:
    """Options shared by `scan` and `baseline`: what to run and how."""
    for option in reversed(
        [
            click.option(
                "--select",
                multiple=True,
                help="Checks to run: codes, prefixes (ML3) or names; comma-separated or repeated.",
            ),
            click.option(
                "--ignore", multiple=True, help="Checks not to run (codes, prefixes, names)."
            ),
            click.option(
                "--config",
                "config_file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="Read settings from FILE instead of the scanned root.",
            ),
            click.option(
                "-j",
                "--jobs",
                type=click.IntRange(min=1),
                help="Processes for extraction [default: CPU count].",
            ),
            click.option(
                "--no-cache", is_flag=True, help="Neither read nor write the facts cache."
            ),
            click.option(
                "--cache-dir",
                type=click.Path(file_okay=False),
                help="Cache directory [default: PATH/.mlaudit_cache].",
            ),
        ]
    ):
        function = option(function)
    return function


def _parse_reports(values: tuple[str, ...]) -> list[tuple[str, Path]]:
    from mlaudit.report import FORMATS

    reports = []
    for value in values:
        fmt, sep, target = value.partition("=")
        if not sep or not target or fmt not in FORMATS:
            raise click.BadParameter(
                f"{value!r}: expected FORMAT=PATH with FORMAT one of {', '.join(FORMATS)}",
                param_hint="--report",
            )
        reports.append((fmt, Path(target)))
    return reports


def _project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a git work tree or a config."""
    from mlaudit.config import CONFIG_FILES, find_config

    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
        if any((candidate / name).is_file() for name in CONFIG_FILES[:2]) or (
            (candidate / "pyproject.toml").is_file() and find_config(candidate) is not None
        ):
            return candidate
    return None


def _resolve_targets(paths: tuple[Path, ...]) -> tuple[Path, list[str] | None]:
    """The root to scan, and the repo-relative paths of a file-restricted scan (or None).

    One directory (or none: the current one) is a whole-repository scan. Files, or several
    paths, restrict the report to those paths; the root is then the nearest git work tree
    (or directory with an mlaudit config) holding them, else the current directory.
    """
    if not paths:
        return Path(".").resolve(), None
    if len(paths) == 1 and paths[0].is_dir():
        return paths[0].resolve(), None
    cwd = Path.cwd().resolve()
    absolute = [(cwd / path).absolute() for path in paths]
    common = Path(os.path.commonpath([str(p if p.is_dir() else p.parent) for p in absolute]))
    root = _project_root(common) or cwd
    relative: list[str] = []
    for path, full in zip(paths, absolute, strict=True):
        try:
            rel = full.relative_to(root).as_posix()
        except ValueError:
            raise click.BadParameter(
                f"{path} is outside the repository being scanned ({root})", param_hint="PATHS"
            ) from None
        relative.append("" if rel == "." else rel)
    return root, sorted(set(relative))


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-f",
    "--format",
    "output_format",
    default="terminal",
    show_default=True,
    type=click.Choice(["terminal", "concise", "json", "sarif", "markdown", "github"]),
    help="Report format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--report",
    "reports",
    multiple=True,
    metavar="FORMAT=PATH",
    help="Also write the report in FORMAT to PATH (repeatable): one scan, several formats.",
)
@click.option(
    "--fail-under", type=click.FloatRange(0, 100), help="Fail (exit 1) when the score is below N."
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "note", "none"]),
    help="Fail (exit 1) on an open problem at or above this severity [default: error].",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when the gate fails.")
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Accept the findings recorded in FILE (see `mlaudit baseline`): reported as "
    "baselined, they no longer fail the gate.",
)
@click.option(
    "--diff-base",
    metavar="REF",
    help="Gate only on findings on lines changed since git REF (untracked files are new).",
)
@click.option(
    "--no-ignores",
    is_flag=True,
    help="Apply no suppression comment, per-file-ignore, ignore-reason or baseline.",
)
@click.option(
    "--force-exclude",
    is_flag=True,
    help="Honour `exclude` even for files named on the command line (pre-commit).",
)
@click.option("--no-color", is_flag=True, help="Plain terminal output.")
@_scan_options
@_guarded
def scan(
    paths: tuple[Path, ...],
    output_format: str,
    output: Path | None,
    reports: tuple[str, ...],
    fail_under: float | None,
    fail_on: str | None,
    exit_zero: bool,
    baseline: Path | None,
    diff_base: str | None,
    no_ignores: bool,
    force_exclude: bool,
    no_color: bool,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    config_file: Path | None,
    jobs: int | None,
    no_cache: bool,
    cache_dir: str | None,
) -> None:
    """Audit the repository at PATH (default: the current directory).

    Given files (as pre-commit passes them), run the code-level checks and report the
    findings in those files only; the repository around them is still read, so calls into
    other modules resolve.
    """
    from mlaudit.config import ConfigError, find_config, load_config
    from mlaudit.gate import evaluate_gate
    from mlaudit.scan import ScanOptions, run_scan

    extra_reports = _parse_reports(reports)
    root, restricted = _resolve_targets(paths)
    config = load_config(config_file if config_file else find_config(root))
    if baseline is not None and not baseline.is_file():
        raise ConfigError(
            f"--baseline {baseline}: no such file (write one with `mlaudit baseline`)"
        )
    options = ScanOptions(
        select=_split(select),
        ignore=_split(ignore),
        jobs=jobs,
        use_cache=not no_cache,
        cache_dir=cache_dir,
        baseline=baseline,
        diff_base=diff_base,
        no_ignores=no_ignores,
        paths=restricted,
        force_exclude=force_exclude,
    )
    result = run_scan(root, config, options)
    threshold = fail_under if fail_under is not None else config.fail_under
    gate = evaluate_gate(result, threshold, fail_on or config.fail_on)
    from mlaudit.report import render

    for fmt, target in extra_reports:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(fmt, result, gate, root), encoding="utf-8")
    if output_format == "terminal" and output is None:
        from mlaudit.report.terminal import render as render_terminal

        color = not no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        render_terminal(result, sys.stdout, color=color, gate=gate)
    else:
        text = render(output_format, result, gate, root)
        if output is not None:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if not gate.passed and output_format not in ("terminal", "concise", "github"):
        for reason in gate.reasons:
            click.echo(f"mlaudit: gate failed: {reason}", err=True)
    sys.exit(EXIT_OK if gate.passed or exit_zero else EXIT_GATE)


@cli.command("baseline")
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it [default: PATH/.mlaudit-baseline.json].",
)
@_scan_options
@_guarded
def baseline_command(
    path: Path,
    output: Path | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    config_file: Path | None,
    jobs: int | None,
    no_cache: bool,
    cache_dir: str | None,
) -> None:
    """Record today's open findings and failing repo-level checks in a baseline.

    Commit the file and scan with `--baseline .mlaudit-baseline.json`: those problems are
    reported as baselined and no longer fail the gate, new ones do. Entries are keyed by
    fingerprint (rule, path, enclosing symbol, normalised source line), not by line, so
    edits elsewhere in a file do not invalidate them.
    """
    from mlaudit.baseline import BASELINE_FILE, render_baseline
    from mlaudit.config import find_config, load_config
    from mlaudit.scan import ScanOptions, run_scan

    root = path.resolve()
    config = load_config(config_file if config_file else find_config(root))
    options = ScanOptions(
        select=_split(select),
        ignore=_split(ignore),
        jobs=jobs,
        use_cache=not no_cache,
        cache_dir=cache_dir,
    )
    result = run_scan(root, config, options)
    target = output if output is not None else root / BASELINE_FILE
    text = render_baseline(result)
    target.write_text(text, encoding="utf-8")
    import json

    count = len(json.loads(text)["entries"])
    click.echo(f"mlaudit: wrote {count} baselined problem(s) to {target}")


@cli.command()
@click.argument("key", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option(
    "-f",
    "--format",
    "output_format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json", "markdown"]),
)
@click.option(
    "--write-docs",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --all: write DIR/<CODE>.md for every rule and DIR/README.md (docs/rules).",
)
@_guarded
def rule(key: str | None, show_all: bool, output_format: str, write_docs: Path | None) -> None:
    """Show the documentation of a rule (code or name), or list them all."""
    from mlaudit.report.rules import render_rule, render_rule_list, rule_docs

    if write_docs is not None:
        write_docs.mkdir(parents=True, exist_ok=True)
        docs = rule_docs()
        for stale in write_docs.glob("ML*.md"):
            if stale.name not in docs:
                stale.unlink()
        for name, text in docs.items():
            (write_docs / name).write_text(text, encoding="utf-8")
        click.echo(f"mlaudit: wrote {len(docs)} file(s) to {write_docs}")
        return
    if show_all or key is None:
        click.echo(render_rule_list(output_format), nl=False)
        return
    from mlaudit.catalog import find_rule

    found = find_rule(key)
    if found is None:
        click.echo(f"mlaudit: error: unknown rule {key!r} (see `mlaudit rule --all`)", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(render_rule(found, output_format), nl=False)


@cli.group()
def cache() -> None:
    """Manage the facts cache."""


@cache.command("clean")
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cache-dir", type=click.Path(file_okay=False), help="The cache to remove.")
@_guarded
def cache_clean(path: Path, cache_dir: str | None) -> None:
    """Remove the cache of the repository at PATH."""
    from mlaudit.index.cache import CACHE_DIR_NAME, clean

    directory = Path(cache_dir) if cache_dir else path.resolve() / CACHE_DIR_NAME
    if not directory.exists():
        click.echo(f"no cache at {directory}")
        return
    if not clean(directory):
        click.echo(
            f"mlaudit: error: {directory} is not an mlaudit cache (no CACHEDIR.TAG "
            "written by mlaudit); not removed",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    click.echo(f"removed {directory}")


def main() -> None:
    """The console script. It ends the process without Python's teardown, which frees a
    scan's millions of objects one by one: about a second on huggingface/diffusers, after
    the report is out. Output is flushed and atexit handlers run first."""
    try:
        cli(prog_name="mlaudit")
        status = EXIT_OK
    except SystemExit as exc:
        status = _exit_status(exc.code)
    _exit_without_teardown(status)


def _exit_status(code: object) -> int:
    """What the interpreter would exit with for ``sys.exit(code)``."""
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _exit_without_teardown(status: int) -> None:
    import atexit

    atexit._run_exitfuncs()  # what a normal exit would run, in the same order
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            # A closed pipe (``mlaudit scan | head``): Python exits 120 when it cannot
            # flush standard output at shutdown.
            status = status or 120
    os._exit(status)
