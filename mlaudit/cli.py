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


@cli.command()
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-f",
    "--format",
    "output_format",
    default="terminal",
    show_default=True,
    type=click.Choice(["terminal", "json", "sarif"]),
    help="Report format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE instead of standard output.",
)
@click.option(
    "--select",
    multiple=True,
    help="Checks to run: codes, prefixes (ML3) or names; comma-separated or repeated.",
)
@click.option("--ignore", multiple=True, help="Checks not to run (codes, prefixes, names).")
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
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read settings from FILE instead of the scanned root.",
)
@click.option("--no-color", is_flag=True, help="Plain terminal output.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes for extraction [default: CPU count].",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the facts cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Cache directory [default: PATH/.mlaudit_cache].",
)
@_guarded
def scan(
    path: Path,
    output_format: str,
    output: Path | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fail_under: float | None,
    fail_on: str | None,
    exit_zero: bool,
    config_file: Path | None,
    no_color: bool,
    jobs: int | None,
    no_cache: bool,
    cache_dir: str | None,
) -> None:
    """Audit the repository at PATH (default: the current directory)."""
    from mlaudit.config import find_config, load_config
    from mlaudit.gate import evaluate_gate
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
    threshold = fail_under if fail_under is not None else config.fail_under
    gate = evaluate_gate(result, threshold, fail_on or config.fail_on)
    _write_report(result, output_format, output, no_color, gate)
    if not gate.passed and output_format != "terminal":
        for reason in gate.reasons:
            click.echo(f"mlaudit: gate failed: {reason}", err=True)
    sys.exit(EXIT_OK if gate.passed or exit_zero else EXIT_GATE)


def _write_report(
    result: Any, output_format: str, output: Path | None, no_color: bool, gate: Any
) -> None:
    if output_format == "terminal":
        from mlaudit.report.terminal import render as render_terminal

        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                render_terminal(result, handle, color=False, gate=gate)
            return
        color = not no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        render_terminal(result, sys.stdout, color=color, gate=gate)
        return
    from mlaudit.report import json_report, sarif

    text = (json_report if output_format == "json" else sarif).render(result)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@cli.command()
@click.argument("key", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option(
    "-f",
    "--format",
    "output_format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
)
@_guarded
def rule(key: str | None, show_all: bool, output_format: str) -> None:
    """Show the documentation of a rule (code or name), or list them all."""
    from mlaudit.report.rules import render_rule, render_rule_list

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
    cli(prog_name="mlaudit")
