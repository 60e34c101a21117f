"""A backend that lets a limited number of model requests through at once.

One mechanism for two limits: the service's cap on requests across every
route (each batch has its own ``concurrency``, but ten batches of 16 would be
160 requests at the model), and the embedded llama.cpp server's slots (a
request waits for a slot before it is sent, so its timeout counts only the
model's time). The gate is held around each model request only: cache hits
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

    ``gate`` returns the semaphore to hold for one request (for limits shared
    beyond this object, e.g. per server and event loop); without it, one
    semaphore of ``limit`` is this backend's own.
    """

    def __init__(
        self,
        factory: Callable[[], Backend],
        *,
        model_id: str,
        limit: int = 1,
        gate: Callable[[], asyncio.Semaphore] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._factory = factory
        self._inner: Backend | None = None
        self._model_id = model_id
        own = asyncio.Semaphore(limit)
        self._gate = gate if gate is not None else (lambda: own)
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
        async with self._gate():
            return await self._backend().complete(messages, response_model, sampling=sampling)

    async def first_token(self, messages: Messages, *, top: int = 20) -> FirstToken:
        async with self._gate():
            return await self._backend().first_token(messages, top=top)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
