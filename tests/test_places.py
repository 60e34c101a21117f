"""Numbered request places (embedded model slots, the service cap): order and cancellation."""

from __future__ import annotations

import asyncio

from scorer.backends._limited import Places


def test_a_place_given_back_goes_to_the_longest_waiting_task_not_to_a_newcomer() -> None:
    async def run() -> list[str]:
        places = Places(1)
        order: list[str] = []
        first = await places.take()

        async def wait(name: str) -> None:
            place = await places.take()
            order.append(name)
            places.give_back(place)

        waiting = asyncio.create_task(wait("waiting"))
        await asyncio.sleep(0)  # it queues
        places.give_back(first)
        await wait("newcomer")  # asks after the give-back, before the waiter ran
        await waiting
        return order

    assert asyncio.run(run()) == ["waiting", "newcomer"]


def test_a_cancelled_waiter_loses_no_place() -> None:
    async def run() -> list[int]:
        places = Places(2)
        held = [await places.take(), await places.take()]
        cancelled = asyncio.create_task(places.take())
        await asyncio.sleep(0)
        places.give_back(held[0])  # handed to the waiter ...
        cancelled.cancel()  # ... which is cancelled before it runs
        await asyncio.gather(cancelled, return_exceptions=True)
        places.give_back(held[1])
        return sorted([await places.take(), await places.take()])

    assert asyncio.run(run()) == [0, 1]
