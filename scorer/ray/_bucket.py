"""The cluster's permit bucket and the Ray actor that holds it (see :mod:`scorer.ray._permits`).

Apart from the workers' gates, which subclass the backends' request gate: the
driver starts the actor, and imports only this (no backends, no openai).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from scorer._settings import RateLimits

if TYPE_CHECKING:
    from scorer.backends._ratelimit import Clock

__all__ = ["Ask", "PermitBucket", "asker", "permit_actor"]

Ask = Callable[[float, float], Awaitable[float]]
"""Ask the cluster's bucket for (requests, tokens); the seconds to wait before using them."""


class PermitBucket:
    """A request bucket and a token bucket, refilled continuously, charged in chunks.

    As the engine's own buckets: about one second's worth of capacity (at
    least one request), refilled at the per-minute rate; a charge may run a
    bucket into debt, and :meth:`take` returns how long the caller must wait
    for the debt to be paid off. ``clock`` is injected for tests.
    """

    def __init__(self, limits: RateLimits, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._levels: dict[str, float] = {}
        self._rates: dict[str, float] = {}
        self._capacity: dict[str, float] = {}
        for name, per_minute in (("requests", limits.rpm), ("tokens", limits.tpm)):
            if per_minute is not None:
                rate = per_minute / 60.0
                self._rates[name] = rate
                self._capacity[name] = self._levels[name] = max(rate, 1.0)
        self._updated = clock()

    def take(self, requests: float, tokens: float) -> float:
        """Charge ``requests`` and ``tokens``; the seconds to wait before spending them."""
        now = self._clock()
        elapsed, self._updated = now - self._updated, now
        wait = 0.0
        for name, amount in (("requests", requests), ("tokens", tokens)):
            rate = self._rates.get(name)
            if rate is None:
                continue
            level = min(self._capacity[name], self._levels[name] + elapsed * rate) - amount
            self._levels[name] = level
            if level < 0:
                wait = max(wait, -level / rate)
        return wait


def permit_actor(limits: RateLimits) -> Any:
    """Start the Ray actor that holds the cluster's :class:`PermitBucket`; its handle."""
    import ray

    # Async, so many workers' asks are served in turn by one event loop, and a
    # request for permits never blocks on another.
    @ray.remote(num_cpus=0, max_restarts=-1)
    class _Permits:
        def __init__(self, limits: RateLimits) -> None:
            self._bucket = PermitBucket(limits)

        async def take(self, requests: float, tokens: float) -> float:
            return self._bucket.take(requests, tokens)

    return _Permits.remote(limits)  # type: ignore[attr-defined]


def asker(handle: Any) -> Ask:
    """The :data:`Ask` that reaches the permit actor ``handle`` (an ObjectRef is awaitable)."""

    async def ask(requests: float, tokens: float) -> float:
        wait: float = await handle.take.remote(requests, tokens)
        return wait

    return ask
