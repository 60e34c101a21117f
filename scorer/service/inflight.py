"""The service-wide cap on model requests in flight, shared by every route.

Each batch has its own ``concurrency``, but a server answering many batches
and single calls at once would multiply it: ten batches of 16 are 160
requests at the model, past most rate limits and any local GPU. One
semaphore, held around each model request only, bounds them all; cache hits
never touch the backend and so never wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from scorer.backends.base import Backend, Completion, FirstToken, Messages

__all__ = ["DEFAULT_MAX_INFLIGHT", "LimitedBackend"]

DEFAULT_MAX_INFLIGHT = 64


class LimitedBackend:
    """A :class:`~scorer.backends.base.Backend` letting at most ``limit`` requests through at once.

    The real backend is made by ``factory`` on the first request, as the
    engine would: a server answering only from the cache never starts (or
    contacts) a model.
    """

    def __init__(self, factory: Callable[[], Backend], *, limit: int, model_id: str) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._factory = factory
        self._inner: Backend | None = None
        self._model_id = model_id
        self._slots = asyncio.Semaphore(limit)
        self.limit = limit

    @property
    def model_id(self) -> str:
        return self._inner.model_id if self._inner is not None else self._model_id

    def _backend(self) -> Backend:
        if self._inner is None:
            self._inner = self._factory()
        return self._inner

    async def complete(
        self,
        messages: Messages,
        response_model: type[BaseModel],
        *,
        sampling: Mapping[str, Any] | None = None,
    ) -> Completion:
        async with self._slots:
            return await self._backend().complete(messages, response_model, sampling=sampling)

    async def first_token(self, messages: Messages, *, top: int = 20) -> FirstToken:
        async with self._slots:
            return await self._backend().first_token(messages, top=top)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
