"""The embedded model computes for one scorer process at a time on this machine.

Each scorer process runs its own llama.cpp server, whose threads (one per
free core) meet at a spinning barrier after every operation. Two processes
computing at once put four such threads on two cores: each thread waits
whole time slices for a descheduled partner, and the pair ran 3.8 times
slower than one process alone instead of 2 times
(``bench/embedded_two_processes.py``). So processes take turns, through an
advisory lock file shared by every scorer process of this user:

- a process holds the turn while it has requests at its server, all of them
  together (its slots still share one llama.cpp batch), and gives it back as
  soon as none is left;
- after holding it for :data:`QUANTUM_S`, it lets its requests finish, gives
  it back and waits a moment before asking again, so a long run cannot shut
  out a second process for hours.

The lock is polled without blocking, so a cancelled request never leaves a
thread behind holding it; closing the file releases it, also when the
process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no turns, as before
    fcntl = None  # type: ignore[assignment]

__all__ = ["QUANTUM_S", "MachineTurn", "default_turn_file"]

QUANTUM_S = 5.0
"""How long a process keeps the turn while others may be waiting for it."""

_FIRST_POLL_S = 0.002
_MAX_POLL_S = 0.02  # a request computes for ~0.1-1 s: a 20 ms wake-up is small beside it
_STEP_ASIDE_S = 3 * _MAX_POLL_S  # after a quantum: long enough for a polling waiter to win


def default_turn_file() -> Path:
    """The lock file this user's scorer processes share (in the temporary folder)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"scorer-embedded-{uid}.lock"


class MachineTurn:
    """This process's turn on the machine, for the requests of one event loop."""

    def __init__(
        self,
        lock_file: Path,
        *,
        quantum: float = QUANTUM_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock_file = lock_file
        self._quantum = quantum
        self._clock = clock
        self._fd: int | None = None
        self._inside = 0  # requests of this process computing under the turn
        self._since = 0.0  # when the turn was taken
        self._aside_until = 0.0  # after a quantum: no asking again before this

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Wait for the turn (or join this process's), hold it for one request."""
        await self._enter()
        try:
            yield
        finally:
            self._leave()

    async def _enter(self) -> None:
        delay = _FIRST_POLL_S
        while True:
            now = self._clock()
            if self._fd is not None and now - self._since < self._quantum:
                self._inside += 1  # join the turn this process holds
                return
            if self._fd is None and now >= self._aside_until and self._take():
                self._since = now
                self._inside += 1
                return
            # Another process holds the turn, or ours is used up and draining.
            await asyncio.sleep(delay)
            delay = min(2 * delay, _MAX_POLL_S)

    def _take(self) -> bool:
        if fcntl is None:  # pragma: no cover
            self._fd = -1
            return True
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _leave(self) -> None:
        self._inside -= 1
        if self._inside > 0 or self._fd is None:
            return
        if self._clock() - self._since >= self._quantum:
            self._aside_until = self._clock() + _STEP_ASIDE_S
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
        self._fd = None
