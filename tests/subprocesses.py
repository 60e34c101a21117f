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
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prestarted import PrestartedProcess

# ``[SCORER, ARGS...]`` is ``scorer ARGS`` in a process of its own, forked from an
# interpreter that has imported scorer already (tests/prestarted.py): for tests
# about what a process has (a pid to signal or kill, a group, limits, several
# runs at once), not about a fresh interpreter's start-up.
SCORER = "<scorer, forked from a prestarted interpreter>"
# ``[PYTHON, "-c", CODE, ARGS...]``: ``python -c CODE ARGS`` forked the same way.
PYTHON = "<python, forked from a prestarted interpreter>"


def _prestarted(args: Sequence[str], popen: dict[str, Any]) -> PrestartedProcess | None:
    """``args`` forked from the prestarted interpreter, if they name it."""
    if not args or args[0] not in (SCORER, PYTHON):
        return None
    code = None
    rest = list(args[1:])
    if args[0] == PYTHON:
        assert rest[0] == "-c", args
        code, rest = rest[1], rest[2:]
    return PrestartedProcess(rest, code=code, **popen)


def run(
    args: Sequence[str], *, timeout: float, input: str | None = None, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Like ``subprocess.run(args, capture_output=True, text=True)``, killing the group on timeout.

    Standard input is empty unless ``input`` is given (never the test runner's).
    """
    streams = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    forked = _prestarted(args, {**streams, "text": True, **popen})
    if forked is not None:
        with forked as proc:
            try:
                stdout, stderr = proc.communicate(input or "", timeout=timeout)
            except BaseException:
                kill_group(proc)
                raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)  # type: ignore[arg-type]
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


@contextlib.contextmanager
def started(args: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """``subprocess.Popen(args, **popen)`` in a new session, for a test that talks to it.

    Leaving the block while the command still runs (a failed assertion, a
    timeout, Ctrl-C) kills its whole group, so nothing it started outlives the
    test. Standard input is empty unless ``popen`` says otherwise.
    """
    popen.setdefault("stdin", subprocess.DEVNULL)
    forked = _prestarted(args, popen)
    with forked or subprocess.Popen(list(args), start_new_session=True, **popen) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                kill_group(proc)
                proc.communicate()


# Sets the signal state the command inherits, then becomes it (exec keeps that state).
_LAUNCHER = (
    "import os, signal, sys; "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.pthread_sigmask(signal.SIG_SETMASK, [int(s) for s in sys.argv[1].split(',') if s]); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def as_from_a_terminal(args: Sequence[str], *, blocked: Sequence[signal.Signals] = ()) -> list[str]:
    """``args`` started as a shell in a terminal starts it: SIGINT at its default, none blocked.

    A child inherits which signals its parent ignores, and the starting
    thread's mask; the test runner's own (whatever its plugins and threads
    did to them) must not decide whether the command sees Ctrl-C. ``blocked``
    starts it with those signals blocked instead, as a careless parent would.
    ``args[0]`` must be a path (``sys.executable``).
    """
    mask = ",".join(str(int(s)) for s in blocked)
    return [sys.executable, "-c", _LAUNCHER, mask, *args]


def sigint_state(pid: int) -> str:
    """How process ``pid`` takes SIGINT right now, for a failure message (Linux ``/proc``).

    "caught" is Python's handler; "ignored" or "blocked" mean Ctrl-C cannot
    reach it.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return "unknown"
    masks = dict(line.split(":", 1) for line in status.splitlines() if line.startswith("Sig"))
    bit = 1 << (signal.SIGINT - 1)
    found = [
        word
        for word, field in (("blocked", "SigBlk"), ("ignored", "SigIgn"), ("caught", "SigCgt"))
        if int(masks.get(field, "0").strip(), 16) & bit
    ]
    return ", ".join(found) or "default"


def kill_group(proc: subprocess.Popen[Any] | PrestartedProcess) -> None:
    """SIGKILL ``proc`` and everything it started (it must lead its own session)."""
    with contextlib.suppress(ProcessLookupError):  # already gone, with all its children
        os.killpg(proc.pid, signal.SIGKILL)


def wait_for_rows(folder: Path, pattern: str, rows: int, *, guard: float = 60) -> bool:
    """Wait until a file in ``folder`` matching ``pattern`` holds ``rows`` lines.

    ``guard`` seconds is a hang guard, not a measurement: a command that
    writes nothing fails the test instead of hanging it.
    """
    deadline = time.monotonic() + guard
    while time.monotonic() < deadline:
        for path in folder.glob(pattern):
            if len(path.read_text(encoding="utf-8").splitlines()) >= rows:
                return True
        time.sleep(0.05)
    return False
