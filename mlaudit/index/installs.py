"""Python package installs in shell commands (Dockerfile RUN lines, CI ``run:`` steps).

A small pure function over the command text, shared by every check that asks whether a
build installs packages without pinning them: ``pip install``, ``python -m pip install``,
``uv pip install``, ``conda``/``mamba``/``micromamba install``. Requirement files (``-r``),
the project itself (``.``, ``-e .``), local paths and archives are fine; so are upgrades of
pip, setuptools and wheel themselves.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

from mlaudit.index.requirements import conda_pinned, is_pinned

# Options of pip/uv/conda install that take a value (the value is not a package).
_VALUE_OPTIONS = frozenset(
    {
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-e",
        "--editable",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--trusted-host",
        "--cache-dir",
        "--src",
        "--upgrade-strategy",
        "--progress-bar",
        "--log",
        "--timeout",
        "--retries",
        "--proxy",
        "--cert",
        "--client-cert",
        "--only-binary",
        "--no-binary",
        "--python",
        "-p",
        "--index",
        "--default-index",
        "--index-strategy",
        "--config-file",
        "--group",
        "--extra",
        "--override",
        "--build-constraint",
        "--report",
        "--global-option",
        "--config-settings",
        "-C",
    }
)
_CONDA_VALUE_OPTIONS = frozenset(
    {"-c", "--channel", "-n", "--name", "-p", "--prefix", "--file", "--override-channels"}
)
_TOOLING = frozenset({"pip", "setuptools", "wheel"})
_SEPARATORS = re.compile(r"&&|\|\||;|\||\n")
_PIP = re.compile(r"^(?:pip(?:\d+(?:\.\d+)?)?)$")
_PYTHON = re.compile(r"^(?:.*/)?python(?:\d+(?:\.\d+)?)?$")


@dataclass(frozen=True)
class PackageInstall:
    """One package named on an install command line."""

    name: str
    spec: str  # the argument as written ("numpy", "torch>=2", "numpy=1.26")
    pinned: bool
    tool: str  # "pip", "uv", "conda"


def _words(segment: str) -> list[str]:
    try:
        return shlex.split(segment, comments=True)
    except ValueError:
        return segment.split()


def _install_args(words: list[str]) -> tuple[str, list[str]] | None:
    """(tool, arguments after ``install``) when the words run an installer."""
    while words and (
        words[0] in ("sudo", "exec", "env", "time", "command")
        or re.match(r"^\w+=\S*$", words[0])
        or words[0] in ("-E", "-H")
    ):
        words = words[1:]
    if not words:
        return None
    head = words[0].rsplit("/", 1)[-1]
    if _PIP.match(head) and words[1:2] == ["install"]:
        return "pip", words[2:]
    if _PYTHON.match(head):
        rest = [w for w in words[1:] if w not in ("-u", "-q", "-B", "-I", "-E", "-s")]
        if rest[:3] == ["-m", "pip", "install"]:
            return "pip", rest[3:]
    if head == "uv" and words[1:3] == ["pip", "install"]:
        return "uv", words[3:]
    if head in ("conda", "mamba", "micromamba") and words[1:2] == ["install"]:
        return "conda", words[2:]
    return None


def _local(argument: str) -> bool:
    return (
        argument in (".", "..")
        or argument.startswith(("./", "../", "/", "~", "file:"))
        or argument.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2"))
        or ("/" in argument and "://" not in argument and "@" not in argument)
    )


def package_installs(command: str, variables: dict[str, str] | None = None) -> list[PackageInstall]:
    """Every package a shell command installs by name, with whether it is pinned.

    ``variables`` (build ARG/ENV defaults) are substituted; an argument that still holds an
    unresolved variable is pinned when it reads ``name==$VERSION`` and skipped otherwise.
    """
    found: list[PackageInstall] = []
    for segment in _SEPARATORS.split(command.replace("\\\n", " ")):
        parsed = _install_args(_words(segment))
        if parsed is None:
            continue
        tool, arguments = parsed
        value_options = _CONDA_VALUE_OPTIONS if tool == "conda" else _VALUE_OPTIONS
        skip_next = False
        for argument in arguments:
            if skip_next:
                skip_next = False
                continue
            if argument.startswith("-"):
                if argument in value_options:
                    skip_next = True
                continue
            argument = _substitute(argument, variables or {})
            if _local(argument):
                continue
            if "$" in argument:
                if re.match(r"^[\w.\-\[\],]+==", argument):
                    found.append(PackageInstall(argument.split("==")[0], argument, True, tool))
                continue
            if tool == "conda":
                match = re.match(r"^(?:[\w.-]+::)?([A-Za-z0-9][\w.-]*)(.*)$", argument)
                if match is None:
                    continue
                name, spec = match.group(1), match.group(2)
                if name.lower() in _TOOLING | {"python"}:
                    continue
                found.append(PackageInstall(name, argument, conda_pinned(spec), tool))
                continue
            try:
                requirement = Requirement(argument)
            except InvalidRequirement:
                continue
            if requirement.name.lower() in _TOOLING:
                continue
            found.append(PackageInstall(requirement.name, argument, is_pinned(requirement), tool))
    return found


def _substitute(argument: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)(?::-[^}]*)?\}|\$(\w+)", replace, argument)
