"""Many tasks at once over a lazily read input: the loop behind :meth:`Scorer.ascore_many`.

At most ``window`` tasks exist at a time, results come in completion order,
each with the caller's tag, and an exception from a task (a
:class:`~scorer._errors.FatalBackendError`: the engine keeps every other
failure with its paper) stops the run and cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Sequence,
)
from contextlib import aclosing
from typing import Any, TypeVar

from scorer.backends._stop import STOP
from scorer.engine._request_slots import REQUEST_SLOTS, RequestSlots

__all__ = ["async_iter", "fan_out_batches", "one_by_one"]

_T = TypeVar("_T")
_Tag = TypeVar("_Tag")
_In = TypeVar("_In")
_Out = TypeVar("_Out")


async def one_by_one(batches: AsyncGenerator[list[_T], None]) -> AsyncGenerator[_T, None]:
    """The items of ``batches``' lists, one at a time (e.g. :func:`fan_out_batches`'s results).

    Closing it closes ``batches``, so a consumer that stops early cancels their tasks.
    """
    async with aclosing(batches):
        async for batch in batches:
            for item in batch:
                yield item


async def fan_out_batches(
    items: Iterable[tuple[_Tag, _In]] | AsyncIterable[tuple[_Tag, _In]],
    start: Callable[[_In], Coroutine[Any, Any, _Out]],
    *,
    window: int,
    slots: RequestSlots,
    ready: Callable[[Sequence[_In]], Sequence[_Out | None]] | None = None,
) -> AsyncGenerator[list[tuple[_Tag, _Out]], None]:
    """Run ``start(item)`` for each ``(tag, item)``, ``window`` at once; yield ``[(tag, result)]``.

    Results come in lists, so a consumer takes a run of cache hits with one
    step of this generator, not one per hit (a cached re-run has 100,000):
    the hits answered by ``ready`` from one read together, or one finished
    task's result.

    ``start`` is called as each item is read, so an error it raises (a bad
    record) stops the run at that item. The tasks share ``slots``.

    ``ready(items)``, if given, answers some items at once (cache hits): their
    results are yielded as read, with no task, and take no place in the
    window. A plain iterable is read ``window`` items at a time, so ``ready``
    sees many items at once (it blocks the loop while it reads anyway); an
    async one an item at a time, as it arrives.
    """
    context = contextvars.copy_context()
    context.run(REQUEST_SLOTS.set, slots)
    context.run(STOP.set, slots.stop)  # what a paper checks before each request it sends
    # Finished tasks queue themselves, so each completion costs O(1); an
    # asyncio.wait() over the pending set would cost O(window) each.
    finished: asyncio.Queue[asyncio.Task[_Out]] = asyncio.Queue()
    pending: dict[asyncio.Task[_Out], _Tag] = {}
    read = _reader(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window:
                batch = await read(window - len(pending))
                exhausted = not batch
                answers = ready([item for _, item in batch]) if ready and batch else ()
                hits: list[tuple[_Tag, _Out]] = []
                for i, (tag, item) in enumerate(batch):
                    answer = answers[i] if answers else None
                    if answer is not None:
                        hits.append((tag, answer))
                        continue
                    if hits:  # handed out before start() may raise for this item
                        yield hits
                        hits = []
                    task = asyncio.create_task(start(item), context=context)
                    task.add_done_callback(finished.put_nowait)
                    pending[task] = tag
                if hits:
                    yield hits
                if pending and answers:
                    await asyncio.sleep(0)  # a long run of hits lets the requests go on
            if not pending:
                return
            task = await finished.get()
            tag = pending.pop(task)
            error = task.exception()
            if error is not None:
                raise error
            yield [(tag, task.result())]
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        # Look at every finished task, so a second fatal error is not left
        # "never retrieved" (and logged as a traceback when collected).
        while not finished.empty():
            done = finished.get_nowait()
            if not done.cancelled():
                done.exception()


def _reader(
    items: Iterable[_T] | AsyncIterable[_T],
) -> Callable[[int], Awaitable[list[_T]]]:
    """``read(n)``: the next items of ``items``, at most ``n``; an empty list at the end.

    A plain iterable gives ``n`` at once (reading it never yields to the loop);
    an async one gives the one item that comes next.
    """
    if isinstance(items, AsyncIterable):
        source = aiter(items)

        async def read_async(n: int) -> list[_T]:
            try:
                return [await anext(source)]
            except StopAsyncIteration:
                return []

        return read_async
    iterator = iter(items)

    async def read_plain(n: int) -> list[_T]:
        return list(itertools.islice(iterator, n))

    return read_plain


async def async_iter(items: Iterable[_T] | AsyncIterable[_T]) -> AsyncIterator[_T]:
    """``items`` as an async iterator, whether it is one or a plain iterable."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
