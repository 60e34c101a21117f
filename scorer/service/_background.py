"""Run the service on a loopback port from a background thread (tests, notebooks, embedding).

::

    with serve_in_thread(create_app(settings, api_token=None)) as base_url:
        httpx.get(f"{base_url}/healthz")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

__all__ = ["serve_in_thread"]


class _ThreadServer(uvicorn.Server):
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


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` (lifespan included) until the block ends; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=75,  # as scorer serve: longer than clients keep idle connections
        http="h11",  # as scorer serve: httptools would refuse free-form methods itself
    )
    server = _ThreadServer(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # uvicorn calls sys.exit() when start-up fails
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name="scorer-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.request_exit()
            thread.join(timeout=5)
            raise RuntimeError("the service failed to start") from (errors[0] if errors else None)
        time.sleep(0.005)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.request_exit()
        thread.join(timeout=10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
