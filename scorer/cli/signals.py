"""How the ``scorer`` process takes Ctrl-C and SIGTERM: through, and as an interrupt."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

__all__ = ["accept_interrupts", "terminate_as_interrupt"]

# The signals that stop a run with exit code 130.
_INTERRUPTS = frozenset({signal.SIGINT, signal.SIGTERM})


def accept_interrupts() -> None:
    """Unblock Ctrl-C and SIGTERM if this process inherited them blocked.

    A blocked signal waits, pending, until it is unblocked, and the mask
    survives ``exec``: a command started by a thread that blocks SIGINT
    (some libraries block it in their worker threads, and a child inherits
    the starting thread's mask) never saw Ctrl-C. ``scorer batch`` ran to
    the end and exited 0; ``scorer score`` waiting on a hanging model never
    exited. Nobody blocks them for a command on purpose, so they are let
    through here. An *ignored* SIGINT is left as it is: that is how a
    shell's background job (``scorer batch ... &``) keeps running when Ctrl-C
    is pressed for the foreground one.
    """
    if hasattr(signal, "pthread_sigmask"):  # not on Windows, which has no masks
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _INTERRUPTS)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``timeout``, systemd, ``kill``) ends the run as Ctrl-C does: finished rows kept."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals to whoever owns them
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
