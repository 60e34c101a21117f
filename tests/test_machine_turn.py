"""Scorer processes take turns with the embedded model (an advisory lock file)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from subprocesses import started

from scorer.backends._llama_threads import _is_scorer, _ticks_since
from scorer.backends._machine_turn import MachineTurn


async def spin(times: int = 20) -> None:
    """Let the event loop run a while (pollers included) without a clock-bound assertion."""
    for _ in range(times):
        await asyncio.sleep(0.005)


def test_another_process_waits_until_this_one_has_no_request_left(tmp_path: Path) -> None:
    lock = tmp_path / "turn.lock"
    ours, theirs = MachineTurn(lock), MachineTurn(lock)  # two processes' views of the lock

    async def run() -> list[str]:
        events: list[str] = []
        release = asyncio.Event()

        async def ask(turn: MachineTurn, name: str) -> None:
            async with turn.request():
                events.append(f"{name} in")
                await release.wait()
            events.append(f"{name} out")

        tasks = [asyncio.create_task(ask(ours, "a1")), asyncio.create_task(ask(ours, "a2"))]
        await spin(2)
        tasks.append(asyncio.create_task(ask(theirs, "b")))
        await spin()
        events.append("released")
        release.set()
        await asyncio.gather(*tasks)
        return events

    events = asyncio.run(run())
    # Both of ours computed together (one llama.cpp batch); theirs only after both.
    assert events[:3] == ["a1 in", "a2 in", "released"]
    assert events.index("b in") > max(events.index("a1 out"), events.index("a2 out"))


def test_after_a_quantum_the_holder_steps_aside_for_a_waiting_process(tmp_path: Path) -> None:
    lock = tmp_path / "turn.lock"
    now = [0.0]
    ours = MachineTurn(lock, quantum=5.0, clock=lambda: now[0])
    theirs = MachineTurn(lock, quantum=5.0, clock=lambda: now[0])

    async def run() -> list[str]:
        order: list[str] = []

        async def ask(turn: MachineTurn, name: str) -> None:
            async with turn.request():
                order.append(name)
                await asyncio.sleep(0)

        await ask(ours, "a1")  # takes the turn at t=0 and gives it back (nothing left)
        async with ours.request():  # holds it again
            waiting = asyncio.create_task(ask(theirs, "b"))
            await spin(2)
            now[0] = 6.0  # our quantum is used up
            late = asyncio.create_task(ask(ours, "a2"))  # must not join any more
            await spin(2)
            assert order == ["a1"]
        await waiting
        now[0] = 7.0  # past the moment we step aside for
        await late
        return order

    assert asyncio.run(run()) == ["a1", "b", "a2"]


def test_a_turn_held_by_a_killed_process_is_free_again(tmp_path: Path) -> None:
    lock = tmp_path / "turn.lock"
    holder = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from scorer.backends._machine_turn import MachineTurn\n"
        "async def hold():\n"
        "    async with MachineTurn(Path(sys.argv[1])).request():\n"
        "        print('holding', flush=True)\n"
        "        await asyncio.sleep(300)\n"
        "asyncio.run(hold())\n"
    )

    async def try_turn() -> bool:
        try:
            async with asyncio.timeout(0.2), MachineTurn(lock).request():
                return True
        except TimeoutError:
            return False

    with started([sys.executable, "-c", holder, str(lock)], stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == b"holding\n"
        assert asyncio.run(try_turn()) is False  # held by the other process
        process.kill()
        process.wait()
    assert asyncio.run(try_turn()) is True


def test_other_scorer_processes_are_recognised_by_their_command_line() -> None:
    assert _is_scorer([b"/venv/bin/python", b"-m", b"scorer", b"batch"])
    assert _is_scorer([b"/venv/bin/scorer", b"batch", b"papers.csv"])
    assert _is_scorer([b"/venv/bin/python3", b"/venv/bin/scorer", b"serve"])
    assert not _is_scorer([b"python", b"-c", b"while True: pass"])
    assert not _is_scorer([b"python", b"my_scorer_tool.py"])
    # Only processes seen at both samples count, and a pid reused meanwhile never goes negative.
    assert _ticks_since({1: 10, 2: 50}, {1: 25, 2: 40, 3: 99}) == 15


def test_a_planted_link_is_not_followed_and_the_request_goes_ahead_without_turns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "someone-elses-file"
    target.write_text("theirs\n")
    lock = tmp_path / "turn.lock"
    lock.symlink_to(target)

    async def run() -> bool:
        async with MachineTurn(lock).request():
            return True

    assert asyncio.run(run()) is True
    assert target.read_text() == "theirs\n"
    assert "computing without taking turns" in caplog.text


def test_a_holder_that_never_lets_go_delays_a_request_by_the_patience_not_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = tmp_path / "turn.lock"
    now = [0.0]
    stuck = MachineTurn(lock, clock=lambda: now[0])  # say, a process stopped with Ctrl-Z
    waiting = MachineTurn(lock, patience=300.0, clock=lambda: now[0])

    async def run() -> str:
        async with stuck.request():
            asked = asyncio.create_task(waiting.request().__aenter__())
            await spin(2)
            assert not asked.done()  # it waits for the turn ...
            now[0] = 301.0
            await asyncio.wait_for(asked, timeout=60)  # ... until its patience runs out
            return "went ahead"

    assert asyncio.run(run()) == "went ahead"
    assert "waited 300 s for another scorer process" in caplog.text
