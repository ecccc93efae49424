"""1xx: reproducible builds — pinned base images (ML105) and pinned installs (ML106)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from mlaudit.catalog import Rule
from mlaudit.checks import check
from mlaudit.index.facts import DockerInstruction, FileFacts
from mlaudit.index.installs import package_installs
from mlaudit.project import Project
from mlaudit.results import Evidence, Finding, Outcome

MAX_EVIDENCE = 5
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def _assignments(instruction: DockerInstruction) -> dict[str, str]:
    """ARG NAME=default / ENV NAME=value (or the legacy ``ENV NAME value``)."""
    values: dict[str, str] = {}
    if instruction.cmd == "ENV" and len(instruction.value) % 2 == 0:
        # the dockerfile parser gives ENV as [name, value, name, value, ...]
        pairs = instruction.value
        for name, value in zip(pairs[::2], pairs[1::2], strict=False):
            values[name] = value.strip("\"'")
        return values
    for item in instruction.value:
        name, sep, value = item.partition("=")
        if sep:
            values[name] = value.strip("\"'")
    return values


def _substitute(text: str, variables: dict[str, str]) -> str | None:
    """Text with build variables replaced; None when one has no known value."""
    unresolved = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolved
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        if match.group(2) is not None:
            return match.group(2)
        unresolved = True
        return match.group(0)

    result = _VARIABLE.sub(replace, text)
    return None if unresolved else result


def _dockerfiles(project: Project) -> list[FileFacts]:
    return [f for f in project.files_of("dockerfile") if f.docker is not None]


# -- ML105 -------------------------------------------------------------------------------
def image_reference(image: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) of an image reference; a registry port is not a tag."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        tag = last.split(":", 1)[1]
        name = name[: len(name) - len(tag) - 1]
    return name, tag, digest or None


@check("ML105")
def unpinned_base_image(project: Project, rule: Rule) -> Outcome:
    """Every ``FROM`` without a tag or with ``:latest`` (digests are best)."""
    findings: list[Finding] = []
    evidence: list[Evidence] = []
    unresolved: list[Evidence] = []
    for facts in _dockerfiles(project):
        assert facts.docker is not None
        global_args: dict[str, str] = {}
        stages: set[str] = set()
        seen_from = False
        for instruction in facts.docker.instructions:
            if instruction.cmd == "ARG" and not seen_from:
                global_args.update(_assignments(instruction))
                continue
            if instruction.cmd != "FROM" or not instruction.value:
                continue
            seen_from = True
            raw = instruction.value[0]
            words = [w.lower() for w in instruction.value]
            if "as" in words[1:] and words.index("as", 1) + 1 < len(words):
                alias = words[words.index("as", 1) + 1]
            else:
                alias = None
            image = _substitute(raw, global_args)
            if alias is not None:
                stages.add(alias)
            if image is None:
                unresolved.append(
                    Evidence(
                        f"FROM {raw}: the build argument has no default, the tag is decided "
                        "at build time",
                        facts.path,
                        instruction.line,
                    )
                )
                continue
            if image.lower() == "scratch" or image.lower() in stages - {alias}:
                continue
            name, tag, digest = image_reference(image)
            shown = f"FROM {raw}" + (f" (= {image})" if image != raw else "")
            if digest:
                evidence.append(
                    Evidence(f"{shown} is pinned by digest", facts.path, instruction.line)
                )
            elif tag is None or tag == "latest":
                what = "has no tag (it means :latest)" if tag is None else "uses :latest"
                findings.append(
                    Finding(
                        rule.code,
                        facts.path,
                        instruction.line,
                        f"base image {name} {what}: the image changes under the same "
                        "Dockerfile; pin a version tag or a digest",
                        symbol=name,
                    )
                )
            else:
                evidence.append(Evidence(f"{shown} pins tag {tag!r}", facts.path, instruction.line))
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} base image(s) without a version tag or digest",
            evidence[:MAX_EVIDENCE],
            findings,
        )
    if evidence:
        return Outcome(
            "pass", "every base image has a version tag or digest", (evidence + unresolved)[:5]
        )
    if unresolved:
        return Outcome(
            "partial",
            "the base image comes from a build argument with no default",
            unresolved[:MAX_EVIDENCE],
            anchor=unresolved[0],
        )
    return Outcome("n/a", "no external base image (only scratch or earlier stages)")


# -- ML106 -------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstallSite:
    """A shell command that may install packages, where it is, and its known variables."""

    path: str
    line: int
    end_line: int
    command: str
    variables: dict[str, str]
    where: str  # "Dockerfile RUN", "CI step", ...


def _docker_run_commands(project: Project) -> Iterator[InstallSite]:
    for facts in _dockerfiles(project):
        assert facts.docker is not None
        variables: dict[str, str] = {}
        for instruction in facts.docker.instructions:
            if instruction.cmd == "FROM":
                variables = {}
            elif instruction.cmd in ("ARG", "ENV"):
                variables.update(_assignments(instruction))
            elif instruction.cmd == "RUN" and instruction.value:
                command = (
                    shlex.join(instruction.value)
                    if instruction.json_form
                    else " ".join(instruction.value)
                )
                yield InstallSite(
                    facts.path,
                    instruction.line,
                    instruction.end_line,
                    command,
                    dict(variables),
                    "Dockerfile RUN",
                )


def _ci_commands(project: Project) -> Iterator[InstallSite]:
    """Commands CI runs, and the Makefile/tox/script lines those steps call (one level)."""
    from mlaudit.project.ci import ci_commands

    for command in ci_commands(project):
        where = "CI step"
        if command.via is not None:
            where = f"CI step at {command.via[0]}:{command.via[1]}, through this line,"
        yield InstallSite(command.path, command.line, command.line, command.text, {}, where)


def install_sites(project: Project) -> Iterator[InstallSite]:
    """Every build command that may install packages: Dockerfile RUN and CI (ML106 is
    CONTAINER or CI)."""
    yield from _docker_run_commands(project)
    yield from _ci_commands(project)


# Install commands whose packages come from a file or a lock (no name to pin here).
_INSTALL_COMMAND = re.compile(
    r"\b(?:pip3?|conda|mamba|micromamba)\b[^;&|]*\binstall\b"
    r"|\b(?:uv|poetry|pdm|pipenv)\s+(?:sync|install)\b"
)


@check("ML106")
def unpinned_install_in_build(project: Project, rule: Rule) -> Outcome:
    """``pip install name`` without a version in a build step."""
    findings: list[Finding] = []
    evidence: list[Evidence] = []
    commands = 0
    for site in install_sites(project):
        installs = package_installs(site.command, site.variables)
        if not installs and not _INSTALL_COMMAND.search(site.command):
            continue
        commands += 1
        unpinned = [i for i in installs if not i.pinned]
        for install in unpinned:
            findings.append(
                Finding(
                    rule.code,
                    site.path,
                    site.line,
                    f"{site.where} installs {install.spec!r} with {install.tool} and no pinned "
                    "version: each build may get a different release",
                    end_line=site.end_line,
                    symbol=install.name,
                )
            )
        if not unpinned and len(evidence) < MAX_EVIDENCE:
            what = (
                ", ".join(i.spec for i in installs[:3])
                if installs
                else "from requirement files or the project itself"
            )
            evidence.append(Evidence(f"{site.where} installs {what}", site.path, site.line))
    if findings:
        return Outcome(
            "fail",
            f"{len(findings)} package(s) installed without a pinned version",
            evidence,
            findings,
        )
    if commands:
        return Outcome("pass", "every package install is pinned or from a pinned file", evidence)
    return Outcome("n/a", "no package installs in Dockerfile RUN instructions")
