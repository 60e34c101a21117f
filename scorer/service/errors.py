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

Messages are redacted of the model API key and the service token.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.responses import Response

from scorer.errors import (
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
    "status_for",
]


def status_for(error: ScorerError) -> int:
    """The HTTP status that tells a client what to do about ``error``."""
    if isinstance(error, InputError | RubricError):
        return 422
    if isinstance(error, RetryExhausted):
        return 503
    if isinstance(error, BackendError):
        return 502
    return 500


def public_message(error: BaseException, *secrets: str | None) -> str:
    """``error``'s first line, without any secret in it."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return redact(lines[0], *secrets)


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


async def request_validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body, with non-ASCII escaped: a lone surrogate in the echoed
    input (valid JSON, not encodable as UTF-8) would otherwise turn the 422 into a 500."""
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


def error_handler(*secrets: str | None) -> ExceptionHandler:
    """A FastAPI exception handler for ``ScorerError`` that never leaks ``secrets``."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, ScorerError):  # registered for ScorerError only
            raise exc
        body = {"detail": public_message(exc, *secrets), "error": type(exc).__name__}
        return JSONResponse(body, status_code=status_for(exc))

    return handle
