"""Client-side request and token rate limits (``--rpm`` / ``--tpm``).

A provider's limits are per minute but enforced over shorter windows, so a
burst of a whole minute's requests at start-up still earns 429s. The buckets
here hold about one second's worth (at least one request) and refill
continuously.

Tokens are charged before a request is sent, as the prompt's estimated size
plus ``max_tokens``: that is how OpenAI counts a request against its TPM limit,
and the real count is only known once the answer is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from scorer._settings import RateLimits
from scorer.backends._base import Messages
from scorer.backends._retry import Sleep

__all__ = ["Clock", "RequestGate", "estimate_tokens"]

Clock = Callable[[], float]
"""Seconds from a fixed point (``time.monotonic``); tests inject a fake one."""

_CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and BPE tokenizers


def estimate_tokens(messages: Messages, max_tokens: int) -> int:
    """What a request counts against a TPM limit: prompt estimate plus ``max_tokens``.

    >>> estimate_tokens([{"role": "user", "content": "x" * 400}], max_tokens=100)
    200
    """
    chars = sum(len(str(message.get("content") or "")) for message in messages)
    return chars // _CHARS_PER_TOKEN + max_tokens


class RequestGate:
    """Waits until a request fits under the limits. One per backend, shared by its requests.

    ``clock`` and ``sleep`` are how time is read and waited for; tests pass
    fake ones, so a minute's limits take no time to check.
    """

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._sleep = sleep
        self._requests = _bucket(limits.rpm, clock)
        self._tokens = _bucket(limits.tpm, clock)

    async def admit(self, tokens: int) -> None:
        """Return once one more request of ``tokens`` tokens is within the limits."""
        wait = 0.0
        if self._requests is not None:
            wait = self._requests.take(1.0)
        if self._tokens is not None:
            wait = max(wait, self._tokens.take(float(tokens)))
        if wait > 0:
            await self._sleep(wait)


class _Bucket:
    """A bucket refilled continuously at ``rate`` per second, holding at most ``capacity``.

    A request takes its share at once, running the bucket into debt if need
    be, and waits until the debt is paid off: requests go in the order they
    asked, and one larger than the bucket simply waits longer. A cancelled
    wait keeps its charge (erring on the slow side).
    """

    def __init__(self, capacity: float, rate: float, clock: Clock) -> None:
        self._capacity = capacity
        self._rate = rate
        self._clock = clock
        self._level = capacity
        self._updated = clock()

    def take(self, amount: float) -> float:
        """Charge ``amount``; return the seconds to wait before the request may go."""
        now = self._clock()
        self._level = min(self._capacity, self._level + (now - self._updated) * self._rate)
        self._updated = now
        self._level -= amount
        return -self._level / self._rate if self._level < 0 else 0.0


def _bucket(per_minute: float | None, clock: Clock) -> _Bucket | None:
    if per_minute is None:
        return None
    rate = per_minute / 60.0
    return _Bucket(max(rate, 1.0), rate, clock)  # about one second's worth, at least one request
