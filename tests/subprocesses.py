"""Commands the tests start, each in its own process group.

``subprocess.run(..., timeout=)`` kills only the process it started: a
``bash -c "uv run scorer ..."`` that hangs leaves uv and scorer running (and
an embedded llama.cpp server spinning) after the test has failed. Here the
command starts a new session, and the whole group is killed when the test
stops waiting for it (its timeout, pytest-timeout's, or Ctrl-C).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any


def run(
    args: Sequence[str], *, timeout: float, input: str | None = None, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Like ``subprocess.run(args, capture_output=True, text=True)``, killing the group on timeout.

    Standard input is empty unless ``input`` is given (never the test runner's).
    """
    with subprocess.Popen(
        list(args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(input or "", timeout=timeout)
        except BaseException:
            # Our timeout, pytest-timeout's, or Ctrl-C: without this, leaving the
            # `with` block would wait for the command to finish on its own.
            kill_group(proc)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL ``proc`` and everything it started (it must lead its own session)."""
    with contextlib.suppress(ProcessLookupError):  # already gone, with all its children
        os.killpg(proc.pid, signal.SIGKILL)
