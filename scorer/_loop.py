"""The sync edge over the async core: one background event loop per process.

Sync calls (``score()``, ``score_many()``) run their coroutines on this loop,
so they work from plain scripts and from inside a running loop (notebooks)
alike, and HTTP clients and connection pools live across calls.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["iterate_sync", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_serve, args=(loop,), name="scorer-loop", daemon=True)
            thread.start()
            atexit.register(_finalise_at_exit, loop)
            _loop = loop
        return _loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` with Ctrl-C and SIGTERM left to the main thread.

    The kernel may hand a process's signal to any thread that does not
    block it (the main thread first, unless it blocks it or is busy with
    another signal). Python runs its handlers in the main thread only, and a
    sync caller waits there in ``Future.result()``, which only a signal
    delivered to the main thread interrupts: one taken by this thread would
    leave that wait, and ``scorer score`` on a model that never answers,
    stuck. Threads this loop starts (its executor's) inherit the mask, and
    so would a process started from it: none is.
    """
    if hasattr(signal, "pthread_sigmask"):  # not on Windows, which has no masks
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    loop.run_forever()


def _finalise_at_exit(loop: asyncio.AbstractEventLoop) -> None:
    """Let the loop finalise its async generators before the interpreter goes.

    That is how HTTP clients made on it get closed (see
    ``scorer.backends._transport.ClientPerLoop``); a daemon thread's loop is
    never shut down otherwise, and aiohttp would warn "Unclosed client session".
    """
    if loop.is_running():
        with contextlib.suppress(Exception):  # a loop stuck elsewhere: exit anyway
            asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result.

    Interrupted while it waits (Ctrl-C), it cancels ``coro`` before the
    interrupt goes on: left running, ``coro`` would go on sending requests
    that nobody waits for (in a notebook, until the kernel stops).
    """
    future = asyncio.run_coroutine_threadsafe(coro, _background_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # nothing if it has ended; else its task is cancelled on the loop
        raise


def iterate_sync(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator from sync code, one item at a time.

    Leaving early (``break``, an error, Ctrl-C while an item is on its way)
    closes ``agen``. A step still running is cancelled first: an async
    generator cannot be closed while it runs ("aclose(): asynchronous
    generator is already running" used to replace the KeyboardInterrupt),
    and its requests must stop with it.
    """
    loop = _background_loop()
    step: list[asyncio.Task[Any]] = []  # the task that asked agen for its latest item
    try:
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(_next(agen, step), loop).result()
            except StopAsyncIteration:
                return
    finally:
        asyncio.run_coroutine_threadsafe(_close(agen, step), loop).result()


async def _next(agen: AsyncIterator[T], step: list[asyncio.Task[Any]]) -> T:
    task = asyncio.current_task()
    if task is not None:
        step[:] = [task]
    return await agen.__anext__()


async def _close(agen: AsyncIterator[Any], step: list[asyncio.Task[Any]]) -> None:
    # Scheduled after the last step was (the loop runs callbacks in order), so
    # that step has started and is the one in ``step``.
    running = step[0] if step else None
    if running is not None and not running.done():
        running.cancel()
        await asyncio.wait([running])  # it ends with CancelledError, which is not ours
    closer = getattr(agen, "aclose", None)
    if closer is not None:
        await closer()
