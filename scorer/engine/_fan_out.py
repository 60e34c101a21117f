"""Many tasks at once over a lazily read input: the loop behind :meth:`Scorer.ascore_many`.

At most ``window`` tasks exist at a time, results come in completion order,
each with the caller's tag, and an exception from a task (a
:class:`~scorer._errors.FatalBackendError`: the engine keeps every other
failure with its paper) stops the run and cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
)
from typing import Any, TypeVar

from scorer.engine._request_slots import REQUEST_SLOTS, RequestSlots

__all__ = ["async_iter", "fan_out"]

_T = TypeVar("_T")
_Tag = TypeVar("_Tag")
_In = TypeVar("_In")
_Out = TypeVar("_Out")


async def fan_out(
    items: Iterable[tuple[_Tag, _In]] | AsyncIterable[tuple[_Tag, _In]],
    start: Callable[[_In], Coroutine[Any, Any, _Out]],
    *,
    window: int,
    slots: RequestSlots,
) -> AsyncGenerator[tuple[_Tag, _Out], None]:
    """Run ``start(item)`` for each ``(tag, item)``, ``window`` at once; yield ``(tag, result)``.

    ``start`` is called as each item is read, so an error it raises (a bad
    record) stops the run at that item. The tasks share ``slots``.
    """
    context = contextvars.copy_context()
    context.run(REQUEST_SLOTS.set, slots)
    # Finished tasks queue themselves, so each completion costs O(1); an
    # asyncio.wait() over the pending set would cost O(window) each.
    finished: asyncio.Queue[asyncio.Task[_Out]] = asyncio.Queue()
    pending: dict[asyncio.Task[_Out], _Tag] = {}
    source = async_iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window:
                try:
                    tag, item = await anext(source)
                except StopAsyncIteration:
                    exhausted = True
                    break
                task = asyncio.create_task(start(item), context=context)
                task.add_done_callback(finished.put_nowait)
                pending[task] = tag
            if not pending:
                return
            task = await finished.get()
            tag = pending.pop(task)
            error = task.exception()
            if error is not None:
                raise error
            yield tag, task.result()
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


async def async_iter(items: Iterable[_T] | AsyncIterable[_T]) -> AsyncIterator[_T]:
    """``items`` as an async iterator, whether it is one or a plain iterable."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
