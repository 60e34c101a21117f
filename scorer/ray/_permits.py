"""Rate limits for a whole Ray cluster: one bucket, permits handed to the workers in chunks.

``--rpm`` / ``--tpm`` are the provider's limits on one API key, so they must
hold for the sum of every worker's requests, not for each worker. One
:class:`PermitBucket` lives in one Ray actor (:func:`permit_actor`); each
worker's backend asks it through a :class:`ClusterGate` for a few requests'
worth at a time, so a worker makes one call to the actor per chunk, not one
per request.

A permit is charged when the bucket hands it out, as a
:class:`~scorer.backends._ratelimit.RequestGate` charges a request when it is
sent: a permit a worker holds but never uses (its batch ended) is lost, which
errs on the slow side. What a worker may send in any window is what it was
granted, so the cluster sends at most the bucket's capacity, plus the rate
times the window, plus the chunks the workers hold unspent (at most one chunk
each).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from scorer._settings import RateLimits
from scorer.backends._ratelimit import Clock, RequestGate
from scorer.backends._retry import Sleep

__all__ = ["ClusterGate", "PermitBucket", "chunk_sizes", "permit_actor"]

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


def chunk_sizes(limits: RateLimits, workers: int) -> tuple[float, float]:
    """Requests and tokens a worker asks for at a time: a share of a tenth of a second's worth.

    Small enough that the chunks workers hold unspent stay a fraction of the
    bucket, large enough that a busy worker asks the actor a few times a
    second, not once per request.

    >>> chunk_sizes(RateLimits(rpm=6000, tpm=600_000), workers=2)
    (5.0, 500.0)
    """
    per_worker_second = 0.1 / max(workers, 1)
    requests = max(1.0, (limits.rpm or 0) / 60.0 * per_worker_second)
    tokens = (limits.tpm or 0) / 60.0 * per_worker_second
    return float(int(requests)), float(int(tokens))


class ClusterGate(RequestGate):
    """A worker's gate: requests spend permits held here, fetched in chunks from the cluster.

    A backend takes it as its ``rate_gate`` in place of its own limits. A
    request larger than the tokens held asks for what it lacks plus a chunk,
    so no request is ever refused for being large.
    """

    def __init__(
        self, ask: Ask, limits: RateLimits, *, workers: int, sleep: Sleep = asyncio.sleep
    ) -> None:
        super().__init__(RateLimits())  # no local buckets: the cluster's stand in for them
        self._ask = ask
        self._counts_requests = limits.rpm is not None
        self._counts_tokens = limits.tpm is not None
        self._chunk_requests, self._chunk_tokens = chunk_sizes(limits, workers)
        self._pause = sleep
        self._held_requests = 0.0
        self._held_tokens = 0.0
        self._lock: asyncio.Lock | None = None  # made in the loop that uses it

    async def admit(self, tokens: int) -> None:
        """Return once this worker holds a permit for one request of ``tokens`` tokens."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        # One request at a time refills: the others wait for the chunk it brings
        # instead of each asking the actor for one of their own.
        async with self._lock:
            short_requests = self._counts_requests and self._held_requests < 1
            short_tokens = self._counts_tokens and self._held_tokens < tokens
            if short_requests or short_tokens:
                want_requests = self._chunk_requests if short_requests else 0.0
                lacking = tokens - self._held_tokens
                want_tokens = lacking + self._chunk_tokens if short_tokens else 0.0
                wait = await self._ask(want_requests, want_tokens)
                if wait > 0:
                    await self._pause(wait)
                self._held_requests += want_requests
                self._held_tokens += want_tokens
            if self._counts_requests:
                self._held_requests -= 1
            if self._counts_tokens:
                self._held_tokens -= tokens


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
