"""Serving the HTTP service in the foreground on uvicorn: what ``scorer serve`` runs.

:func:`serve` refuses a public address without a token, binds the socket
itself (a busy port is one clear :class:`~scorer._errors.ConfigError`, and
port 0 is known before start-up), keeps the API key and the token out of
uvicorn's logs, and says where it listens once connections are accepted.
Returns when the server stops (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from scorer._errors import ConfigError
from scorer._settings import Settings
from scorer.backends._limited import DEFAULT_MAX_INFLIGHT
from scorer.service._app import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, create_app
from scorer.service._auth import is_loopback
from scorer.service._logs import log_config

__all__ = ["check_exposure", "serve"]


def check_exposure(host: str, api_token: str | None, *, allow_unauthenticated: bool) -> None:
    """Refuse to serve a non-loopback ``host`` without a token, unless explicitly allowed.

    >>> check_exposure("127.0.0.1", None, allow_unauthenticated=False)
    >>> check_exposure("0.0.0.0", None, allow_unauthenticated=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    scorer._errors.ConfigError: refusing to serve on 0.0.0.0 without authentication: set ...
    """
    if api_token is None and not is_loopback(host) and not allow_unauthenticated:
        raise ConfigError(
            f"refusing to serve on {host} without authentication: set SCORER_API_TOKEN "
            "(clients then send 'Authorization: Bearer <token>'), or pass "
            "--allow-unauthenticated"
        )


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_token: str | None = None,
    allow_unauthenticated: bool = False,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    concurrency: int = 16,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    log_level: str = "info",
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve :func:`~scorer.service.create_app`'s app on ``host:port`` until stopped.

    Without ``api_token``, only a loopback ``host`` is served unless
    ``allow_unauthenticated`` (see :func:`check_exposure`). ``on_listening(url)`` is called once the
    server accepts connections (with the real port when ``port`` is 0).
    The other arguments are :func:`~scorer.service.create_app`'s.
    """
    check_exposure(host, api_token, allow_unauthenticated=allow_unauthenticated)
    app = create_app(
        settings,
        api_token=api_token,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        concurrency=concurrency,
        max_inflight=max_inflight,
    )
    sock = _listen_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    config = uvicorn.Config(
        app,
        # uvicorn's log format, with secrets and query strings taken out of every line.
        log_config=log_config((api_key, api_token)),
        log_level=log_level,
        timeout_graceful_shutdown=5,
        # Longer than clients keep idle connections (httpx: 5 s, uvicorn's default too):
        # a server that closes first races a client reusing the connection, and the
        # client sees "connection reset" on a request it cannot safely retry.
        timeout_keep_alive=75,
        # uvloop where uvicorn[standard] installed it (loop="auto"), but h11 as the
        # HTTP parser: httptools answers a method outside its table (BREW) with a
        # 400 of its own before the app, which counts it and answers 405.
        http="h11",
    )
    _Server(config, url, on_listening).run(sockets=[sock])


class _Server(uvicorn.Server):
    """Tells where it listens once it accepts connections (port 0 included)."""

    def __init__(
        self, config: uvicorn.Config, url: str, on_listening: Callable[[str], None] | None
    ) -> None:
        super().__init__(config)
        self._url = url
        self._on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_listening is not None:
            self._on_listening(self._url)


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
