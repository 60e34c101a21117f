"""How scorer's errors become HTTP answers.

=================================================  ======
error                                              status
=================================================  ======
``InputError``, ``RubricError``                    422
``FatalBackendError`` (bad key, no quota, ...),    502
``InvalidOutputError``, other ``BackendError``
``RetryExhausted`` (429s, 5xx, timeouts upstream)  503
``CacheError``, ``ConfigError`` (server side)      500
=================================================  ======

Messages are redacted of the model API key, the service token and anything
shaped like a masked key that an endpoint echoes back (see :func:`scrub`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.responses import Response

from scorer._errors import (
    BackendError,
    InputError,
    RetryExhausted,
    RubricError,
    ScorerError,
    redact,
)

__all__ = [
    "ExceptionHandler",
    "error_handler",
    "public_message",
    "request_validation_error",
    "scrub",
    "status_for",
]

logger = logging.getLogger("scorer.service")

# A key as endpoints echo it, masked in the middle: "sk-proj-ab******xyz1",
# "my-local-k************9f2e", "sk-abc...xyz". Its visible ends are still part of
# the key, so they go too. A plain "..." after a word ("reached...") is text.
_MASKED_KEY = re.compile(r"[\w-]*\*{3,}[\w*-]*|[\w-]+(?:\.{3}|\u2026)[\w-]+")


def status_for(error: ScorerError) -> int:
    """The HTTP status that tells a client what to do about ``error``."""
    if isinstance(error, InputError | RubricError):
        return 422
    if isinstance(error, RetryExhausted):
        return 503
    if isinstance(error, BackendError):
        return 502
    return 500


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` without ``secrets``, key-shaped words, or keys masked by an endpoint.

    >>> scrub("Incorrect API key provided: loc-a1b2****************f9e8. See docs...")
    'Incorrect API key provided: ***. See docs...'
    """
    return _MASKED_KEY.sub("***", redact(text, *secrets))


def public_message(error: BaseException, *secrets: str | None) -> str:
    """``error``'s first line, without any secret in it."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return scrub(lines[0], *secrets)


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


async def request_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body, made safe to send whatever the request held.

    Non-ASCII is escaped (a lone surrogate in the echoed input is valid JSON
    but not UTF-8: a 500); an echoed ``input`` that is large or deeply nested
    is left out (echoing it could overflow the stack: a 500); a body that is
    not JSON says why in ``msg``.
    """
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    errors = []
    for error in exc.errors():
        error = dict(error)
        if error.get("type") == "json_invalid" and isinstance(error.get("ctx"), dict):
            error["msg"] = str(error["ctx"].get("error") or error.get("msg"))
            error.pop("input", None)
        elif not _echoable(error.get("input")):
            error.pop("input", None)
        errors.append(error)
    body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


_ECHO_DEPTH = 6
_ECHO_CHARS = 4096


def _echoable(value: object) -> bool:
    """Small and shallow enough to send back in a 422 (checked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    size = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= _ECHO_DEPTH:
                return False
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
            size += len(children)
        else:
            size += len(item) if isinstance(item, str | bytes) else 1
        if size > _ECHO_CHARS:
            return False
    return True


def error_handler(*secrets: str | None) -> ExceptionHandler:
    """A FastAPI exception handler for ``ScorerError`` that never leaks ``secrets``."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, ScorerError):  # registered for ScorerError only
            raise exc
        status = status_for(exc)
        body = {"detail": public_message(exc, *secrets), "error": type(exc).__name__}
        if status >= 500:  # the operator's problem (a rejected key, a failing endpoint): say so
            path, name = request.url.path, type(exc).__name__
            logger.warning("%s %s: %d %s: %s", request.method, path, status, name, body["detail"])
        return JSONResponse(body, status_code=status)

    return handle
