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

from scorer._thread_server import ThreadServer

__all__ = ["serve_in_thread"]


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
    server = ThreadServer(config)
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
