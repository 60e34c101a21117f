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

from aiolimiter import AsyncLimiter

from scorer._settings import RateLimits
from scorer.backends._base import Messages

__all__ = ["RequestGate", "estimate_tokens"]

_CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and BPE tokenizers


def estimate_tokens(messages: Messages, max_tokens: int) -> int:
    """What a request counts against a TPM limit: prompt estimate plus ``max_tokens``.

    >>> estimate_tokens([{"role": "user", "content": "x" * 400}], max_tokens=100)
    200
    """
    chars = sum(len(str(message.get("content") or "")) for message in messages)
    return chars // _CHARS_PER_TOKEN + max_tokens


class RequestGate:
    """Waits until a request fits under the limits. One per backend, shared by its requests."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._requests = _bucket(limits.rpm, minimum=1.0)
        self._tokens = _bucket(limits.tpm, minimum=1.0)

    async def admit(self, tokens: int) -> None:
        """Return once one more request of ``tokens`` tokens is within the limits."""
        if self._requests is not None:
            await self._requests.acquire(1)
        if self._tokens is not None:
            # A request larger than the bucket is charged a bucketful at a time.
            remaining = float(tokens)
            while remaining > 0:
                part = min(remaining, self._tokens.max_rate)
                await self._tokens.acquire(part)
                remaining -= part


def _bucket(per_minute: float | None, *, minimum: float) -> AsyncLimiter | None:
    if per_minute is None:
        return None
    capacity = max(per_minute / 60.0, minimum)  # about one second's worth
    return AsyncLimiter(capacity, time_period=capacity * 60.0 / per_minute)
