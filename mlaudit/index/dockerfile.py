"""Dockerfiles through the ``dockerfile`` package: BuildKit's own parser."""

from __future__ import annotations

import re

from mlaudit.index.facts import DockerFacts, DockerInstruction, ParseError


def parse_dockerfile(text: str) -> tuple[DockerFacts, list[ParseError]]:
    import dockerfile  # compiled Go parser; loaded only when a Dockerfile is present

    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        message = str(exc)
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", message)) else 1
        return DockerFacts(), [ParseError(f"Dockerfile parse error: {message}", line)]
    instructions = [
        DockerInstruction(
            cmd=c.cmd.upper(),
            value=list(c.value),
            line=c.start_line,
            end_line=c.end_line,
            json_form=c.json,
            flags=list(c.flags),
            original=c.original,
        )
        for c in commands
        if c.cmd  # a lone line continuation parses as an instruction with no command
    ]
    return DockerFacts(instructions), []
