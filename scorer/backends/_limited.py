"""A backend that lets a limited number of model requests through at once.

One mechanism for two limits: the service's cap on requests across every
route (each batch has its own ``concurrency``, but ten batches of 16 would be
160 requests at the model), and the embedded llama.cpp server's slots (a
request waits for a slot before it is sent, so its timeout counts only the
model's time). The gate is held around each model request only: cache hits
never touch the backend and so never wait for it.

A method that asks several questions about one paper (``logprob`` asks one
per dimension) holds one place for all of them with :func:`one_place`. On
llama.cpp that is what makes its prompt cache work: the paper's second
question goes to the slot that still holds the paper, and only the question's
few tokens are processed again. Released between questions, the place would
go to another paper, and the next question would land on a slot holding
someone else's paper and process this one's whole prompt again (measured on
the quick start: 10,466 prompt tokens processed for 43 papers, against
about 6,500 held).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from pydantic import BaseModel

from scorer.backends._base import Backend, Completion, FirstToken, Messages

__all__ = ["DEFAULT_MAX_INFLIGHT", "LimitedBackend", "Places", "one_place"]

DEFAULT_MAX_INFLIGHT = 64


class Places:
    """``count`` numbered request places, handed out strictly first come, first served.

    A semaphore that says which place it gave: the embedded backend sends a
    request to the llama.cpp slot of the same number, so a paper's requests
    meet the prompt that slot has cached. Strict order matters: a task that
    gives a place back and asks again queues behind the tasks already
    waiting (an ``asyncio.Queue`` would let it jump the queue); a task keeps
    its place across requests only by holding it (:func:`one_place`).
    """

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        self.count = count
        self._free: deque[int] = deque(range(count))
        self._waiting: deque[asyncio.Future[int]] = deque()

    async def take(self) -> int:
        """Wait for a free place; its number."""
        if self._free and not self._waiting:
            return self._free.popleft()
        handed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append(handed)
        try:
            return await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self.give_back(handed.result())  # handed over just as we were cancelled
            elif handed in self._waiting:
                self._waiting.remove(handed)
            raise

    def give_back(self, place: int) -> None:
        """Hand ``place`` to the longest-waiting task, or free it."""
        while self._waiting:
            handed = self._waiting.popleft()
            if not handed.done():
                handed.set_result(place)
                return
        self._free.append(place)


# The places each task holds through one_place(), by the Places object's id. Kept
# per task, not in a ContextVar: the engine runs every paper's task in one shared
# context, where a ContextVar set by one task is seen by all of them.
_held: weakref.WeakKeyDictionary[asyncio.Task[Any], dict[int, int]] = weakref.WeakKeyDictionary()


def _held_here(*, mark: bool = False) -> dict[int, int]:
    """The places the running task holds (``mark``: a dict it can add to)."""
    task = asyncio.current_task()
    if task is None:
        return {}
    return _held.setdefault(task, {}) if mark else _held.get(task, {})


def one_place(backend: Backend) -> contextlib.AbstractAsyncContextManager[None]:
    """Hold one request place of ``backend`` (if it limits them) for several requests in a row.

    >>> async def ask_twice(backend, first, second):
    ...     async with one_place(backend):
    ...         return [await backend.first_token(first), await backend.first_token(second)]

    Requests made by the same task inside the block pass the gate they would
    otherwise wait at, on the same place; other tasks wait for a place as
    usual. On a backend without a limit this does nothing.
    """
    if isinstance(backend, LimitedBackend):
        return backend.held()
    return contextlib.nullcontext()


class LimitedBackend:
    """A :class:`~scorer.backends._base.Backend` letting at most ``limit`` requests through at once.

    The real backend is made by ``factory`` on the first request, as the
    engine would: a server answering only from the cache never starts (or
    contacts) a model.

    ``gate`` returns the :class:`Places` to take one of for a request (for
    limits shared beyond this object, e.g. per server and event loop);
    without it, ``limit`` places are this backend's own.
    """

    def __init__(
        self,
        factory: Callable[[], Backend],
        *,
        model_id: str,
        limit: int = 1,
        gate: Callable[[], Places] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._factory = factory
        self._inner: Backend | None = None
        self._model_id = model_id
        self._own: Places | None = None
        self._gate = gate if gate is not None else self._own_places
        self.limit = limit

    def _own_places(self) -> Places:
        # Made on first use, inside the event loop (asyncio.Queue binds to one on use).
        if self._own is None:
            self._own = Places(self.limit)
        return self._own

    @property
    def model_id(self) -> str:
        return self._inner.model_id if self._inner is not None else self._model_id

    def _backend(self, place: int) -> Backend:
        """The backend that serves requests made on ``place`` (here: one for all)."""
        if self._inner is None:
            self._inner = self._factory()
        return self._inner

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """One place for every request this task makes inside the block (see :func:`one_place`)."""
        places = self._gate()
        held = _held_here(mark=True)
        if id(places) in held:  # already held further up: nesting costs nothing
            yield
            return
        place = await places.take()
        held[id(places)] = place
        try:
            async with one_place(self._backend(place)):  # a limited backend inside holds too
                yield
        finally:
            del held[id(places)]
            places.give_back(place)

    @contextlib.asynccontextmanager
    async def _place(self) -> AsyncIterator[int]:
        places = self._gate()
        place = _held_here().get(id(places))
        if place is not None:
            yield place
            return
        place = await places.take()
        try:
            yield place
        finally:
            places.give_back(place)

    def _turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Held around each request once it has its place (here: nothing more to wait for)."""
        return contextlib.nullcontext()

    async def complete(
        self,
        messages: Messages,
        response_model: type[BaseModel],
        *,
        sampling: Mapping[str, Any] | None = None,
    ) -> Completion:
        async with self._place() as place, self._turn():
            inner = self._backend(place)
            return await inner.complete(messages, response_model, sampling=sampling)

    async def first_token(self, messages: Messages, *, top: int = 20) -> FirstToken:
        async with self._place() as place, self._turn():
            return await self._backend(place).first_token(messages, top=top)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
