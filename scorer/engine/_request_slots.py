"""Request slots: the limit on model requests of one batch, and when to stop sending any.

The engine's ``ascore_many()`` makes one :class:`RequestSlots` per call and
puts it in :data:`REQUEST_SLOTS`, so every paper of that call shares it.
"""

from __future__ import annotations

import asyncio
import contextvars
import urllib.parse
from collections.abc import Coroutine
from typing import Any

from scorer._errors import BackendError, FatalBackendError, RetryExhausted
from scorer._models import Score
from scorer.backends._stop import BatchStop

__all__ = ["REQUEST_SLOTS", "RequestSlots", "without_userinfo"]


class RequestSlots:
    """The limit on model requests of one ``ascore_many()`` call.

    Only model calls take a slot, so cache hits never wait behind slow
    requests. After an error that will fail every request, a task that gets
    a slot raises it instead of sending another doomed request. An endpoint
    that cannot be connected to even after retries, before any request of
    this call got through, is such an error: without it, a batch of ten
    thousand papers would retry each one against a dead address for hours.
    So is an endpoint that takes requests and never answers: after
    ``max_timeouts`` papers in a row timed out, with no answer in between.
    Only an unbroken run counts, so a slow model under load (the embedded
    one) that answers now and then never trips it.

    The error is also shown to the papers already holding a slot (``stop``,
    see :mod:`scorer.backends._stop`): none of them sends another request
    after it, whether or not the engine has cancelled them yet.
    """

    def __init__(
        self, limit: int, *, max_timeouts: int = 3, timeout: float = 60.0, hint: str = ""
    ) -> None:
        self._slots = asyncio.Semaphore(limit)
        self.stop = BatchStop()  # the batch's fatal error, once there is one
        self._reached = False  # some request of this call got an answer
        self._max_timeouts = max_timeouts
        self._timeouts = 0  # papers in a row whose requests timed out
        self._timeout = timeout  # seconds each attempt waited
        self._hint = hint  # what to check, e.g. "check OPENAI_BASE_URL (...) or raise --timeout"

    async def ask(self, request: Coroutine[Any, Any, Score]) -> Score:
        try:
            async with self._slots:
                if self.stop.error is not None:
                    raise self.stop.error
                try:
                    score = await request
                except FatalBackendError as exc:
                    self.stop.stop(exc)
                    raise
                except RetryExhausted as exc:
                    self._note_failure(exc)
                    if self.stop.error is None:
                        raise
                    raise self.stop.error from exc
                except BackendError:
                    self._timeouts = 0  # the endpoint answered, if only with a refusal
                    raise
                self._reached = True
                self._timeouts = 0
                return score
        finally:
            request.close()  # never started (cancelled while waiting, or fatal): no warning

    def _note_failure(self, exc: RetryExhausted) -> None:
        """Turn a transient failure into a fatal one when it means the endpoint is gone."""
        if exc.unreachable and not self._reached:
            self.stop.stop(
                FatalBackendError(
                    f"the model endpoint cannot be reached: {exc}",
                    attempts=exc.attempts,
                    usage=exc.usage,
                )
            )
            return
        if not exc.timed_out:
            self._timeouts = 0  # some attempt got an answer (a 5xx, a 429)
            return
        self._timeouts += 1
        if self._timeouts >= self._max_timeouts and self.stop.error is None:
            self.stop.stop(
                FatalBackendError(
                    f"the model endpoint is not answering: {self._timeouts} requests in a row "
                    f"timed out after {self._timeout:g} s ({exc.attempts} attempt(s) each); "
                    f"{self._hint}",
                    attempts=exc.attempts,
                    usage=exc.usage,
                )
            )


# The slots of the ascore_many() call a task belongs to (None: no limit).
REQUEST_SLOTS: contextvars.ContextVar[RequestSlots | None] = contextvars.ContextVar(
    "scorer_request_slots", default=None
)


def without_userinfo(url: str) -> str:
    """``url`` without a ``user:password@`` part: a message must not show a secret."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    port = parts.netloc.rpartition("@")[2].rpartition(":")[2] if ":" in parts.netloc else ""
    netloc = f"{host}:{port}" if port.isdigit() else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
