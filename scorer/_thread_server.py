"""A uvicorn server for a background thread, stopped at once: the service's and the fake's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

__all__ = ["ThreadServer"]


class ThreadServer(uvicorn.Server):
    """A uvicorn server that leaves signal handlers alone (it is not on the main thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    _exit: asyncio.Event | None = None
    _exit_loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """uvicorn's loop (a tick every 0.1 s), ended at once by :meth:`request_exit`.

        uvicorn polls ``should_exit`` between 0.1 s sleeps: every stop waited for
        the next tick, and tests start and stop hundreds of servers.
        """
        self._exit, self._exit_loop = asyncio.Event(), asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 0.1)

    def request_exit(self) -> None:
        """Ask the server to stop, from any thread."""
        self.should_exit = True
        loop, event = self._exit_loop, self._exit
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(event.set)
