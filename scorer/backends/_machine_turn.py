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
process dies. Turns only make sharing fairer, so they never stop a run: a
lock file that cannot be opened (another user's, a symlink, a read-only
temporary folder) means no turns, and a request that has waited
:data:`PATIENCE_S` for one (a holder stopped with Ctrl-Z, say) goes ahead
without it, as before turns existed. Both say so once, as a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no turns, as before
    fcntl = None  # type: ignore[assignment]

__all__ = ["PATIENCE_S", "QUANTUM_S", "MachineTurn", "default_turn_file"]

QUANTUM_S = 5.0
"""How long a process keeps the turn while others may be waiting for it."""

PATIENCE_S = 300.0
"""How long a request waits for the turn before it computes without one."""

log = logging.getLogger(__name__)

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
        patience: float = PATIENCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock_file = lock_file
        self._quantum = quantum
        self._patience = patience
        self._clock = clock
        self._without = False  # no turns: the lock file cannot be used, or waited too long
        self._fd: int | None = None
        self._inside = 0  # requests of this process computing under the turn
        self._since = 0.0  # when the turn was taken
        self._aside_until = 0.0  # after a quantum: no asking again before this

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Wait for the turn (or join this process's), hold it for one request."""
        counted = await self._enter()
        try:
            yield
        finally:
            if counted:
                self._leave()

    async def _enter(self) -> bool:
        """Wait for the turn; False when going ahead without one."""
        delay = _FIRST_POLL_S
        started = self._clock()
        while True:
            now = self._clock()
            if self._fd is not None and now - self._since < self._quantum:
                self._inside += 1  # join the turn this process holds
                return True
            if self._without:
                return False
            if self._fd is None and now >= self._aside_until and self._take():
                self._since = now
                self._inside += 1
                return True
            if self._without:  # the lock file cannot be used
                return False
            if now - started >= self._patience:
                self._give_up(f"waited {self._patience:.0f} s for another scorer process")
                return False
            # Another process holds the turn, or ours is used up and draining.
            await asyncio.sleep(delay)
            delay = min(2 * delay, _MAX_POLL_S)

    def _take(self) -> bool:
        if fcntl is None:  # pragma: no cover
            self._fd = -1
            return True
        try:  # never follow a link planted in the shared temporary folder
            fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            self._give_up(f"cannot use {self._lock_file}: {exc.strerror or exc}")
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _give_up(self, why: str) -> None:
        """Compute without turns from now on, and say so once."""
        if not self._without:
            log.warning("embedded model: %s; computing without taking turns", why)
        self._without = True

    def _leave(self) -> None:
        self._inside -= 1
        if self._inside > 0 or self._fd is None:
            return
        if self._clock() - self._since >= self._quantum:
            self._aside_until = self._clock() + _STEP_ASIDE_S
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
        self._fd = None
