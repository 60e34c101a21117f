"""``scorer serve``: the HTTP service on uvicorn."""

from __future__ import annotations

import os
import socket
from typing import Any

import click
import uvicorn

from scorer.cli.options import model_options, settings_from
from scorer.errors import ConfigError

__all__ = ["serve"]

TOKEN_ENV = "SCORER_API_TOKEN"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0 picks a free one; the URL is printed on stderr).",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help=f"Serve on a non-loopback address without {TOKEN_ENV}: anyone who can reach it "
    "can spend your model budget.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Most papers in one batch request (more is a 413).",
)
@click.option(
    "--max-body-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=8.0,
    show_default=True,
    help="Largest request body in MiB (larger is a 413).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Model requests in flight for one batch request.",
)
@click.option(
    "--max-inflight",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    help="Model requests in flight at once across all requests (single and batch); "
    "more wait their turn. Cache hits never wait.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn's log level (info logs one line per request, without its query string).",
)
@model_options
def serve(
    host: str,
    port: int,
    allow_unauthenticated: bool,
    max_batch: int,
    max_body_mb: float,
    concurrency: int,
    max_inflight: int,
    log_level: str,
    **model_opts: Any,
) -> None:
    """Serve the scoring API over HTTP (OpenAPI docs at /docs).

    \b
    With SCORER_API_TOKEN set, every path except /healthz and the API docs
    needs "Authorization: Bearer <token>". Without it, the server only
    listens on a loopback address unless --allow-unauthenticated is given.
    Model and cache options are those of `scorer batch`; the cache is shared
    with the other commands.
    """
    from scorer.service import create_app  # FastAPI is imported only for this command
    from scorer.service.auth import is_loopback
    from scorer.service.logs import log_config

    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if token is None and not is_loopback(host) and not allow_unauthenticated:
        raise ConfigError(
            f"refusing to serve on {host} without authentication: set {TOKEN_ENV} "
            "(clients then send 'Authorization: Bearer <token>'), or pass "
            "--allow-unauthenticated"
        )
    settings = settings_from(**model_opts)
    app = create_app(
        settings,
        api_token=token,
        max_batch=max_batch,
        max_body_bytes=max(1, int(max_body_mb * 1024 * 1024)),
        concurrency=concurrency,
        max_inflight=max_inflight,
    )
    sock = _listen_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    auth = "bearer token required" if token else "no authentication"
    banner = f"scorer: serving on http://{shown}:{sock.getsockname()[1]} ({auth}; docs at /docs)"
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    config = uvicorn.Config(
        app,
        # uvicorn's log format, with secrets and query strings taken out of every line.
        log_config=log_config((api_key, token)),
        log_level=log_level,
        timeout_graceful_shutdown=5,
        # Longer than clients keep idle connections (httpx: 5 s, uvicorn's default too):
        # a server that closes first races a client reusing the connection, and the
        # client sees "connection reset" on a request it cannot safely retry.
        timeout_keep_alive=75,
    )
    _Server(config, banner).run(sockets=[sock])


class _Server(uvicorn.Server):
    """Prints where it listens once it accepts connections (port 0 included)."""

    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self._banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            click.echo(self._banner, err=True)


def _listen_socket(host: str, port: int) -> socket.socket:
    """Bind here, so a busy port is one clear error and port 0 is known before start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, so asyncio sets TCP_NODELAY on accepted connections (see FakeOpenAI).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
