"""Ctrl-C in the library's sync calls: ``score()`` and ``score_many()`` from a script.

They wait in the main thread for a coroutine on scorer's background loop
(:mod:`scorer._loop`). Ctrl-C must end the wait with ``KeyboardInterrupt``
and stop the requests behind it, not leave them running for nobody.

The Ctrl-C is a real SIGINT sent to this process's main thread once the fake
server holds the requests (it never answers them); Python's own handler
turns it into ``KeyboardInterrupt`` there, as in a terminal. How many
requests are in flight is what the fake server sees on its side of the
sockets.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import scorer
from scorer.testing import FakeOpenAI, Reply

GUARD_S = 30  # a hang guard, never a measurement


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def ctrl_c() -> Iterator[Callable[[Callable[[], bool]], None]]:
    """``ctrl_c(when)``: press Ctrl-C (SIGINT to the main thread) once ``when()`` holds.

    Python's default handler and an unblocked SIGINT for the test, whatever
    the test runner had, so the signal becomes ``KeyboardInterrupt`` here.
    """
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    main = threading.main_thread().ident
    assert main == threading.get_ident(), "signals are for the main thread"
    finished = threading.Event()
    pressers: list[threading.Thread] = []

    def press_when(when: Callable[[], bool]) -> None:
        def press() -> None:
            # On the hang guard, press anyway: the test then fails instead of hanging.
            wait_until(lambda: when() or finished.is_set())
            if not finished.is_set():
                signal.pthread_kill(main, signal.SIGINT)

        thread = threading.Thread(target=press, name="ctrl-c", daemon=True)
        pressers.append(thread)
        thread.start()

    try:
        yield press_when
    finally:
        # A press the test did not wait for must not interrupt the test run itself.
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        finished.set()
        for thread in pressers:
            thread.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        # None: a handler not set from Python, which cannot be put back; the default then.
        signal.signal(signal.SIGINT, previous_handler or signal.default_int_handler)


def hanging(fake: FakeOpenAI) -> dict[str, object]:
    """Options for a fake that takes every request and answers none."""
    fake.always(Reply.hanging())
    # Far beyond the hang guard: a request still open after the guard was not stopped.
    return {"base_url": fake.base_url, "api_key": "sk-test-interrupts", "timeout": 600}


def test_ctrl_c_in_score_stops_its_request(
    fake: FakeOpenAI, ctrl_c: Callable[[Callable[[], bool]], None]
) -> None:
    options = hanging(fake)
    ctrl_c(lambda: fake.in_flight == 1)

    with pytest.raises(KeyboardInterrupt):
        scorer.score({"title": "T", "abstract": "A."}, "llm-inference", **options)

    assert wait_until(lambda: fake.in_flight == 0), "the request went on after Ctrl-C"
    assert fake.count == 1


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_ctrl_c_in_score_many_is_a_keyboard_interrupt_and_stops_the_requests(
    fake: FakeOpenAI, ctrl_c: Callable[[Callable[[], bool]], None], transport: str
) -> None:
    # Both slots' requests at once: the papers after the first do not wait up to
    # probe_wait (2 s) for its verdict on the answer format, which never comes.
    options = {**hanging(fake), "probe_wait": 0.0}
    papers = [{"title": f"Paper {i}", "abstract": f"Abstract {i}."} for i in range(6)]
    ctrl_c(lambda: fake.in_flight == 2)

    # Not RuntimeError("aclose(): asynchronous generator is already running").
    with pytest.raises(KeyboardInterrupt):
        for _ in scorer.score_many(
            papers, "llm-inference", concurrency=2, transport=transport, **options
        ):
            pass

    assert wait_until(lambda: fake.in_flight == 0), "requests went on after Ctrl-C"
    assert fake.count == 2  # and no paper after them was sent
