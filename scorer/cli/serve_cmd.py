"""``scorer serve``: the HTTP service on uvicorn."""

from __future__ import annotations

import os
from typing import Any

import click

from scorer.cli.options import model_options, settings_from

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
    # FastAPI and uvicorn are imported only for this command.
    from scorer.service._server import check_exposure
    from scorer.service._server import serve as serve_http

    token = os.environ.get(TOKEN_ENV, "").strip() or None
    check_exposure(host, token, allow_unauthenticated=allow_unauthenticated)
    auth = "bearer token required" if token else "no authentication"

    def listening(url: str) -> None:
        click.echo(f"scorer: serving on {url} ({auth}; docs at /docs)", err=True)

    serve_http(
        settings_from(**model_opts),
        host=host,
        port=port,
        api_token=token,
        allow_unauthenticated=allow_unauthenticated,
        max_batch=max_batch,
        max_body_bytes=max(1, int(max_body_mb * 1024 * 1024)),
        concurrency=concurrency,
        max_inflight=max_inflight,
        log_level=log_level,
        on_listening=listening,
    )
