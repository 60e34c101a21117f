"""The ``scorer`` command as typed, run in this process by click's ``CliRunner``.

A subprocess pays for importing scorer and the openai client again (one to two
seconds each, several on a busy machine); a test that is not about the process
itself (signals, exit on kill, a fresh interpreter's imports, several processes
at once) gets the same stdout, stderr and exit code here, once per session.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import subprocess
from collections.abc import Iterator, Mapping, Sequence

from click.testing import CliRunner

from scorer.cli import cli


def run_scorer(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    input: str | bytes | None = None,
    warnings_to_stderr: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``scorer ARGS`` with ``env`` set on top of this process's environment.

    With ``warnings_to_stderr``, logged warnings reach the command's stderr as
    in a process of its own (see :func:`logging_as_in_a_fresh_process`); the
    test's ``caplog`` sees none of them then. An exception escaping the command
    is raised here: a user would have seen a traceback.
    """
    logs = logging_as_in_a_fresh_process() if warnings_to_stderr else contextlib.nullcontext()
    with logs:
        result = CliRunner().invoke(cli, list(args), env=dict(env), input=input, prog_name="scorer")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(
        ["scorer", *args], result.exit_code, result.stdout, result.stderr
    )


@contextlib.contextmanager
def logging_as_in_a_fresh_process() -> Iterator[None]:
    """The root logger without handlers, as ``scorer`` finds it when it starts.

    The CLI installs no handler of its own: a warning reaches the user through
    logging's last resort, which writes to ``sys.stderr`` (click's runner's
    stream here) only when no handler is installed. pytest's log capture
    installs one on the root logger for every test; it is put back afterwards.
    """
    root = logging.getLogger()
    handlers = root.handlers[:]
    for handler in handlers:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            root.addHandler(handler)


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
