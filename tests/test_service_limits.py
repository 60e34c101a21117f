"""The service's resource limits: one cap on model requests across all requests, bounded
per-rubric memory and inline-rubric size limits. The real app under uvicorn on loopback,
the fake OpenAI server behind it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scorer import Settings
from scorer.service import create_app
from scorer.service.background import serve_in_thread
from scorer.testing import FakeOpenAI, Reply

PAPER = {"title": "A paper about KV caches", "abstract": "We move KV caches to storage."}


@contextlib.contextmanager
def serving(settings: Settings, **limits: Any) -> Iterator[str]:
    with serve_in_thread(create_app(settings, api_token=None, **limits)) as base_url:
        yield base_url


def papers(n: int, prefix: str) -> list[dict[str, str]]:
    return [{"title": f"{prefix} {i}", "abstract": f"Abstract {prefix} {i}."} for i in range(n)]


# -- one cap on model requests (scorer serve --max-inflight) -----------------------------------


def test_concurrent_batches_and_single_calls_share_one_cap(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.latency = 0.05
    with serving(fake_settings, concurrency=8, max_inflight=3) as base_url:

        async def everything() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60) as ac:
                batches = [
                    ac.post(
                        "/v1/score/batch",
                        json={"papers": papers(10, f"B{b}"), "rubric": "llm-inference"},
                    )
                    for b in range(3)
                ]
                singles = [
                    ac.post("/v1/score", json={"paper": p, "rubric": "llm-inference"})
                    for p in papers(6, "S")
                ]
                return await asyncio.gather(*batches, *singles)

        answers = asyncio.run(everything())
    assert [a.status_code for a in answers] == [200] * 9
    assert fake.count == 36  # every paper was scored...
    assert fake.peak_in_flight == 3  # ...but never more than 3 at the model at once


def test_cache_hits_do_not_wait_for_the_cap(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings, max_inflight=1) as base_url:

        async def scenario() -> tuple[httpx.Response, int]:
            async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=60) as ac:
                body = {"paper": PAPER, "rubric": "llm-inference"}
                assert (await ac.post("/v1/score", json=body)).status_code == 200
                fake.enqueue(Reply.hanging())  # holds the only slot until we hang up
                other = {"title": "Another paper", "abstract": "Something else."}
                stuck = asyncio.create_task(
                    ac.post("/v1/score", json={"paper": other, "rubric": "llm-inference"})
                )
                # The fake server counts in a thread of its own: there is no event to await.
                while fake.in_flight == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                hit = await ac.post("/v1/score", json=body)
                holding = fake.in_flight
                stuck.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stuck
                return hit, holding

        hit, holding = asyncio.run(scenario())
    assert hit.status_code == 200 and hit.json()["cached"]
    assert holding == 1  # answered while the slot was still taken


def test_serve_documents_max_inflight() -> None:
    from click.testing import CliRunner

    from scorer.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert "--max-inflight" in result.output and "64" in result.output


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_serve_refuses_a_bad_max_inflight(bad: str) -> None:
    from click.testing import CliRunner

    from scorer.cli import cli

    result = CliRunner().invoke(cli, ["serve", "--max-inflight", bad])
    assert result.exit_code == 2
    assert "Invalid value for '--max-inflight'" in result.output
