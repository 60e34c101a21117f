"""Credentials in a URL are refused: 400 before anything else runs.

A token in the query string (``?token=...``, ``?api_key=...``) ends up in
access logs, proxy logs and shell history, whatever the server does. The
service takes its token only from the ``Authorization`` header, so a request
carrying one in the URL is a mistake to stop loudly, not to serve.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CREDENTIAL_PARAMETERS", "QueryCredentialMiddleware"]

CREDENTIAL_PARAMETERS = frozenset(
    {
        "token",
        "access_token",
        "auth_token",
        "bearer",
        "api_key",
        "apikey",
        "api-key",
        "key",
        "secret",
        "password",
        "auth",
        "authorization",
    }
)
"""Query parameter names (compared case-insensitively) that are refused."""

_DETAIL = (
    "credentials in the URL are refused (query parameter '{name}'): URLs end up in logs; "
    "send the token as 'Authorization: Bearer <token>', and replace this one if it was real"
)


class QueryCredentialMiddleware:
    """Answers 400 to a request whose query string names a credential."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] in ("http", "websocket") else b""
        name = _credential_in(query)
        if name is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": _DETAIL.format(name=name)}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _credential_in(query: bytes) -> str | None:
    """The first credential-like parameter name in ``query``, if any.

    >>> _credential_in(b"limit=3&API_KEY=sk-1"), _credential_in(b"keyword=x")
    ('api_key', None)
    """
    if not query:
        return None
    text = query.decode("latin-1")
    for name, _ in parse_qsl(text, keep_blank_values=True):
        if name.strip().lower() in CREDENTIAL_PARAMETERS:
            return name.strip().lower()
    return None
