"""Who retries what. One owner per failure (see DESIGN.md):

- the ``openai`` client never retries (``max_retries=0``);
- tenacity, here, retries transient transport failures: 429 (honouring
  ``retry-after-ms`` / ``retry-after``), 408, 409, 5xx, timeouts, connection
  errors and garbled bodies, with capped exponential backoff and jitter;
- instructor re-asks only when the answer fails validation;
- a 400/422 about one paper's own request (context length, content filter,
  an invalid message) raises :class:`RequestRefusedError` at once: that paper
  fails, the others go on;
- everything else (401, 403, 404, ``insufficient_quota``, any other 400/422:
  an unknown parameter or an unsupported ``response_format`` fails every
  paper) raises :class:`FatalBackendError` at once; so does a 5xx that says a
  feature is unsupported (llama.cpp's server answers "tools param requires
  --jinja flag" with a 500). The ``auto`` structured-output mode reads these
  refusals to choose another mode (see :mod:`scorer.backends._modes`).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from scorer._errors import BackendError, FatalBackendError, RequestRefusedError, RetryExhausted
from scorer._retry_after import retry_after
from scorer._settings import RetryPolicy

__all__ = [
    "Sleep",
    "is_paper_refusal",
    "is_transient",
    "retry_after_seconds",
    "retrying",
    "to_backend_error",
    "with_retries",
]

Sleep = Callable[[float], Awaitable[None]]
"""An async sleep; tests inject a fake one so waits take no time."""

_T = TypeVar("_T")

_TRANSIENT_STATUS = frozenset({408, 409, 429})


def retry_after_seconds(
    exc: BaseException, *, now: Callable[[], float] = time.time
) -> float | None:
    """The wait a server asked for: ``retry-after-ms``, then ``retry-after`` (seconds or date)."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    return retry_after(exc.response.headers, now=now)


def _error_fields(exc: openai.APIStatusError) -> dict[str, object]:
    """The ``{"message", "type", "param", "code"}`` object of an error answer (may be empty)."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner
    return {}


def _error_code(exc: openai.APIStatusError) -> str | None:
    fields = _error_fields(exc)
    code = fields.get("code") or fields.get("type")
    return str(code) if code is not None else None


# Error codes and types that name one request's content, as OpenAI (context_length_exceeded,
# string_above_max_length, invalid_prompt), Azure (content_filter), image models
# (content_policy_violation) and llama.cpp's server (exceed_context_size_error) send them.
_PAPER_CODES = frozenset(
    {
        "context_length_exceeded",
        "string_above_max_length",
        "invalid_prompt",
        "content_filter",
        "content_policy_violation",
        "exceed_context_size_error",
    }
)
# Codes that say the request's shape is wrong, whatever the paper: every request gets them.
_EVERY_REQUEST_CODES = frozenset(
    {"unsupported_parameter", "unsupported_value", "unknown_parameter", "invalid_api_key"}
)
# Servers that send no such code (vLLM, SGLang, Anthropic's and other compatible endpoints)
# still say it in words.
_PAPER_MESSAGE = re.compile(
    r"maximum context length|context (length|size|window)|too many tokens|prompt is too long"
    r"|reduce the length of the messages|content (management )?polic|content filter"
    r"|flagged as potentially violating",
    re.IGNORECASE,
)


def is_paper_refusal(exc: BaseException) -> bool:
    """True for a 400/422 caused by this request's content, which another paper would not get.

    Context length exceeded, a content filter, a usage-policy flag, or an invalid
    value in a message (``param`` ``messages[...]``) without a code that says the
    parameter itself is unsupported. Anything else about the request (an unknown
    parameter, an unsupported ``response_format``, a bad ``max_tokens``) is not:
    every paper would get it.
    """
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
        return False
    fields = _error_fields(exc)
    code = str(fields.get("code") or "")
    kind = str(fields.get("type") or "")
    if code in _PAPER_CODES or kind in _PAPER_CODES:
        return True
    if code in _EVERY_REQUEST_CODES or code.startswith("unsupported"):
        return False
    message = fields.get("message")
    if isinstance(message, str) and _PAPER_MESSAGE.search(message):
        return True
    param = fields.get("param")
    return isinstance(param, str) and param.startswith("messages") and ".role" not in param


# What llama.cpp's server says, with a 500, about a feature it was not started with or
# does not have: "tools param requires --jinja flag"; before json_schema support,
# 'response_format type must be one of "text" or "json_object", but got: json_schema'.
_UNSUPPORTED_FEATURE = re.compile(
    r"requires --jinja|must be one of|not supported|does not support|unsupported", re.IGNORECASE
)


def is_transient(exc: BaseException) -> bool:
    """True for failures that another attempt may not hit."""
    if isinstance(exc, openai.APIStatusError):
        should_retry = exc.response.headers.get("x-should-retry")
        if should_retry in ("true", "false"):
            return should_retry == "true"
        if exc.status_code == 429:
            return _error_code(exc) != "insufficient_quota"
        if exc.status_code >= 500 and _UNSUPPORTED_FEATURE.search(_message(exc)):
            return False  # every attempt would get it
        return exc.status_code in _TRANSIENT_STATUS or exc.status_code >= 500
    # Timeouts, refused connections, and bodies that did not parse (a proxy cut
    # the answer short) are worth another try.
    return isinstance(
        exc, openai.APIConnectionError | openai.APIResponseValidationError | ValueError
    )


class wait_for_server_or_backoff:
    """Wait what the server asked for (capped), else exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc) if exc is not None else None
        if asked is not None:
            return min(asked, self._policy.max_retry_after)
        return self._backoff(state.attempt_number)

    def _backoff(self, attempt: int) -> float:
        # What tenacity's wait_exponential_jitter computes; but 9.2 deprecates its
        # ``initial`` argument (a DeprecationWarning per request) for ``multiplier``,
        # which older 9.x releases that pyproject.toml allows do not have.
        policy = self._policy
        try:
            grown = policy.initial_wait * 2.0 ** (attempt - 1)
        except OverflowError:
            grown = policy.max_wait
        return max(0.0, min(grown + random.uniform(0, policy.jitter), policy.max_wait))


def retrying(policy: RetryPolicy, sleep: Sleep) -> AsyncRetrying:
    """A tenacity controller for one request under ``policy``."""
    return AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=wait_for_server_or_backoff(policy),
        retry=retry_if_exception(is_transient),
        sleep=sleep,
        reraise=True,
    )


async def with_retries(policy: RetryPolicy, sleep: Sleep, send: Callable[[], Awaitable[_T]]) -> _T:
    """``await send()``, retried under ``policy`` exactly as :func:`retrying` retries it.

    The first attempt is made before tenacity's controller exists: building and
    stepping it costs about 0.1 ms of CPU per request, and nearly every request
    succeeds at once. A failure tenacity would retry starts the controller,
    which sees that failure as its first attempt's (raised again, not sent
    again) and goes on from there, so its waits, stops and final error are
    the ones it would have had from the start.
    """
    try:
        return await send()
    except Exception as exc:
        if policy.max_attempts <= 1 or not is_transient(exc):
            raise
        first: Exception | None = exc
    async for attempt in retrying(policy, sleep):
        with attempt:
            if first is not None:
                failed, first = first, None
                raise failed
            return await send()
    raise AssertionError("unreachable: tenacity re-raises the last failure")  # pragma: no cover


def to_backend_error(exc: BaseException, *, attempts: int) -> BackendError:
    """Translate a failure of the last attempt into scorer's error tree."""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _message(exc)
        common: dict[str, Any] = {"status_code": status, "body": exc.body, "attempts": attempts}
        if is_transient(exc):
            return RetryExhausted(
                f"gave up after {attempts} attempt(s): HTTP {status}: {detail}", **common
            )
        if is_paper_refusal(exc):
            return RequestRefusedError(
                f"the model endpoint refused this paper (HTTP {status}: {detail})", **common
            )
        return FatalBackendError(f"{_fatal_hint(exc)} (HTTP {status}: {detail})", **common)
    if isinstance(exc, openai.APITimeoutError):
        error = RetryExhausted(
            f"gave up after {attempts} attempt(s): request timed out", attempts=attempts
        )
        error.timed_out = True
        return error
    if isinstance(exc, openai.APIConnectionError):
        error = RetryExhausted(
            f"gave up after {attempts} attempt(s): cannot connect to the model endpoint at"
            f" {_endpoint(exc.request.url)} (check OPENAI_BASE_URL)",
            attempts=attempts,
        )
        error.unreachable = True
        return error
    return RetryExhausted(
        f"gave up after {attempts} attempt(s): unreadable answer from the model endpoint "
        f"({type(exc).__name__}: {exc})",
        attempts=attempts,
    )


def _endpoint(url: Any) -> str:
    """``url`` without its query or any user:password part (never a secret in a message)."""
    return str(url.copy_with(query=None, username=None, password=None))


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return exc.message


def _fatal_hint(exc: openai.APIStatusError) -> str:
    status, code = exc.status_code, _error_code(exc)
    if code == "insufficient_quota":
        return "the API account has no quota left"
    if status == 401:
        return "the API key was rejected (check OPENAI_API_KEY)"
    if status == 403:
        return "the API key may not use this model or endpoint"
    if status == 404:
        return "the model or endpoint was not found (check --model and OPENAI_BASE_URL)"
    return "the model endpoint refused the request"
