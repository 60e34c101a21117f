"""Bearer-token authentication, checked before a request's body is read.

With a token configured every path needs ``Authorization: Bearer <token>``
except :data:`PUBLIC_PATHS` (health check and API docs). Tokens are compared
in constant time and never logged or echoed.
"""

from __future__ import annotations

import ipaddress
import json
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PUBLIC_PATHS", "BearerAuthMiddleware", "is_loopback"]

PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


class BearerAuthMiddleware:
    """Answers 401 (with ``WWW-Authenticate: Bearer``) unless the request carries the token.

    A middleware rather than a FastAPI dependency: dependencies run after the
    body has been read and validated, so an anonymous client could make the
    server parse megabytes of JSON, and would learn from a 422 what the API
    expects.
    """

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        if not token:
            raise ValueError("an empty token would let everyone in")
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        given = _bearer_token(scope)
        if given is not None and secrets.compare_digest(given, self._token):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket (the API has none): refuse the handshake
            await send({"type": "websocket.close", "code": 1008})
            return
        challenge = b'Bearer realm="scorer"'
        if given is not None:
            challenge += b', error="invalid_token"'
        body = json.dumps({"detail": "missing or invalid bearer token"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", challenge),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _bearer_token(scope: Scope) -> bytes | None:
    """The raw bytes after ``Bearer `` in the Authorization header, if there is one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return bytes(token.strip())
            return None
    return None


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``127.0.0.1``, ``::1``, ``localhost``).

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("::")
    (True, False, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere
