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

The bucket and its actor are in :mod:`scorer.ray._bucket`, which the driver
imports without the backends (and openai, a second of start-up it never uses).
"""

from __future__ import annotations

import asyncio

from scorer._settings import RateLimits
from scorer.backends._ratelimit import RequestGate
from scorer.backends._retry import Sleep
from scorer.ray._bucket import Ask, PermitBucket

__all__ = ["ClusterGate", "PermitBucket", "chunk_sizes"]


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
