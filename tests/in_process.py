"""The ``scorer`` command as typed, run in this process by click's ``CliRunner``.

A subprocess pays for importing scorer and the openai client again (one to two
seconds each, several on a busy machine); a test that is not about the process
itself (signals, exit on kill, a fresh interpreter's imports, several processes
at once) gets the same stdout, stderr and exit code here, once per session.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence

from click.testing import CliRunner

from scorer.cli import cli


def run_scorer(
    args: Sequence[str], *, env: Mapping[str, str], input: str | bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """``scorer ARGS`` with ``env`` set on top of this process's environment.

    An exception escaping the command is raised here: a user would have seen a
    traceback.
    """
    result = CliRunner().invoke(cli, list(args), env=dict(env), input=input, prog_name="scorer")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(
        ["scorer", *args], result.exit_code, result.stdout, result.stderr
    )


def run_as_typed(command: str, *, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """A README line ``NAME=VALUE ... uv run scorer ARGS``, run here with ``env`` under its own.

    For examples that show what scorer does, not how uv starts it: a fresh
    ``uv run`` costs seconds per command. Shell syntax beyond the leading
    assignments is refused, since it would be silently passed as arguments.
    """
    words = shlex.split(command)
    assigned = {}
    while words and "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        assigned[name] = value
    assert words[:3] == ["uv", "run", "scorer"], command
    assert not {"|", ">", "<", ">>", "&&", "||", ";", "&"} & set(words), command
    return run_scorer(words[3:], env={**env, **assigned})
