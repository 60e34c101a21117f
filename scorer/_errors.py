"""The exception tree. Everything scorer raises on purpose is a ``ScorerError``.

::

    ScorerError
    ├── ConfigError          bad settings: unknown option value, missing model name
    ├── RubricError          a rubric file or name that cannot be loaded or validated
    ├── InputError           a paper (or a file of papers) that cannot be read
    ├── CacheError           the result cache cannot be opened or written
    └── BackendError         talking to a model went wrong (status_code, body, usage)
        ├── FatalBackendError      retrying would fail the same way: 401/403/404,
        │   │                      a bad request every paper gets (unknown parameter,
        │   │                      unsupported response_format), insufficient quota,
        │   │                      an unreachable or hanging endpoint. A batch stops early.
        │   └── UnsupportedMethodError  the endpoint cannot serve the scoring method
        │                               (logprob without log-probabilities)
        ├── RequestRefusedError    the endpoint refused this one paper's request (context
        │                          length, content filter): that paper fails, the batch goes on
        ├── RetryExhausted         transient failures (429, 5xx, timeouts) outlasted the
        │                          retry policy (attempts, last status)
        └── InvalidOutputError     the model's answer failed validation even after a re-ask

Errors carry data and are raised ``from`` their cause. Their messages never
contain API keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scorer._models import Usage

# The error classes, by name: what ``scorer`` exports from here (``redact`` stays here).
ERROR_CLASSES = (
    "BackendError",
    "CacheError",
    "ConfigError",
    "FatalBackendError",
    "InputError",
    "InvalidOutputError",
    "RequestRefusedError",
    "RetryExhausted",
    "RubricError",
    "ScorerError",
    "UnsupportedMethodError",
)

__all__ = ["ERROR_CLASSES", *ERROR_CLASSES, "redact"]


class ScorerError(Exception):
    """Base class of every error scorer raises on purpose."""


class ConfigError(ScorerError):
    """A setting is missing or has a value that cannot work."""


class RubricError(ScorerError):
    """A rubric cannot be found, parsed or validated.

    ``source`` names the file (or built-in name) and ``field`` the offending
    field, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        super().__init__(message)
        self.source = source
        self.field = field


class InputError(ScorerError):
    """A paper, or a file of papers, cannot be read."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.line = line


class CacheError(ScorerError):
    """The result cache cannot be opened or used."""


class BackendError(ScorerError):
    """Talking to the model failed.

    Attributes: ``status_code`` and ``body`` of the last HTTP answer (if any),
    ``attempts`` made, and ``usage`` spent on the way (re-asks included).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: object | None = None,
        attempts: int = 1,
        usage: Usage | None = None,
    ):
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.attempts = attempts
        self.usage = usage


class FatalBackendError(BackendError):
    """An error that every further request would hit too (auth, quota, bad model)."""


class UnsupportedMethodError(FatalBackendError):
    """The endpoint cannot serve the scoring method (e.g. no log-probabilities)."""


class RequestRefusedError(BackendError):
    """The endpoint refused one request because of what that paper's text asks.

    Context length exceeded, a content filter or usage-policy flag, a message
    field the endpoint finds invalid: another paper's request would pass, so
    only this paper fails (not retried; the batch goes on).
    """


class RetryExhausted(BackendError):
    """Transient errors (429, 5xx, timeouts, connection) outlasted the retry policy.

    ``unreachable`` is True when no attempt got any answer: the endpoint
    could not be connected to at all. ``timed_out`` is True when the last
    attempt timed out (the endpoint took the request but did not answer).
    """

    unreachable: bool = False
    timed_out: bool = False


class InvalidOutputError(BackendError):
    """The model's answer did not validate against the score schema, even after a re-ask."""


_KEY_LIKE = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_\-*.]{4,}", re.IGNORECASE)


def redact(text: str, *secrets: str | None) -> str:
    """Remove secrets (and anything shaped like an API key) from ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _KEY_LIKE.sub(lambda m: f"{m.group(1)}-***", text)
