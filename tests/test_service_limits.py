"""The service's resource limits: one cap on model requests across all requests, bounded
per-rubric memory and inline-rubric size limits. The real app under uvicorn on loopback,
the fake OpenAI server behind it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scorer import Settings
from scorer.service import create_app
from scorer.service._background import serve_in_thread
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
            async with httpx.AsyncClient(
                base_url=base_url, trust_env=False, verify=False, timeout=60
            ) as ac:
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
    done = threading.Event()
    with serving(fake_settings, max_inflight=1) as base_url:

        async def scenario() -> tuple[httpx.Response, int]:
            async with httpx.AsyncClient(
                base_url=base_url, trust_env=False, verify=False, timeout=60
            ) as ac:
                body = {"paper": PAPER, "rubric": "llm-inference"}
                assert (await ac.post("/v1/score", json=body)).status_code == 200
                # Holds the only slot until the test is done with it (then answers, so
                # the service has no request left to wait for as it shuts down).
                fake.enqueue(Reply(gate=done))
                other = {"title": "Another paper", "abstract": "Something else."}
                stuck = asyncio.create_task(
                    ac.post("/v1/score", json={"paper": other, "rubric": "llm-inference"})
                )
                # The fake server counts in a thread of its own: there is no event to await.
                while fake.in_flight == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                hit = await ac.post("/v1/score", json=body)
                holding = fake.in_flight
                done.set()
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


# -- bounded memory: inline-rubric limits, per-rubric objects in LRUs ----------------------------


def rubric(i: int, **changes: Any) -> dict[str, Any]:
    """A distinct inline rubric (its own fingerprint) for each ``i``."""
    return {
        "title": f"Topic {i}",
        "description": f"Papers about topic number {i}.",
        "dimensions": [{"name": "fit", "description": f"Fit to topic {i}."}],
        **changes,
    }


def dimension(i: int, description: str = "How well it fits.") -> dict[str, Any]:
    return {"name": f"d{i}", "description": description}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dimensions": [dimension(i) for i in range(17)]}, "17 dimensions (the limit is 16)"),
        ({"description": "x" * 2001}, "description is 2001 characters (the limit is 2000)"),
        (
            {"dimensions": [{**dimension(0), "scale": {str(p): "a" for p in range(12)}}]},
            "dimensions.0.scale has 12 points (the limit is 11)",
        ),
        (
            {"dimensions": [{**dimension(0), "scale": {"50": "a" * 501}}]},
            "dimensions.0.scale.50 is 501 characters (the limit is 500)",
        ),
        ({"exclude": ["x"] * 33}, "33 exclude items (the limit is 32)"),
        (
            {
                "examples": [
                    {
                        "title": "t",
                        "abstract": "a" * 4000,
                        "scores": {"fit": 1},
                        "justification": "j",
                    }
                ]
            },
            "examples.0 is 4002 characters (the limit is 4000)",
        ),
        (
            {
                "dimensions": [
                    {
                        **dimension(i, "y" * 2000),
                        "scale": {str(p): "z" * 500 for p in range(0, 101, 10)},
                    }
                    for i in range(16)
                ]
            },
            "bytes as JSON (the limit is 65536)",
        ),
    ],
)
def test_an_inline_rubric_over_a_limit_is_a_422_naming_it(
    fake: FakeOpenAI, fake_settings: Settings, changes: dict[str, Any], message: str
) -> None:
    with serving(fake_settings) as base_url:
        answer = httpx.post(
            f"{base_url}/v1/score",
            json={"paper": PAPER, "rubric": rubric(0, **changes)},
            trust_env=False,
            verify=False,
            timeout=30,
        )
    assert answer.status_code == 422, answer.text
    assert "rubric too large: " in answer.text and message in answer.text
    assert fake.count == 0


def test_every_builtin_rubric_can_be_sent_inline() -> None:
    from scorer._rubric import builtin_rubric_names, check_limits, load_rubric

    for name in builtin_rubric_names():
        check_limits(load_rubric(name))  # GET /v1/rubrics/{name} is a starting point


def test_answer_models_stay_bounded_across_many_rubrics(
    fake: FakeOpenAI, fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scorer.methods._answer import ANSWER_MODELS

    monkeypatch.setattr(ANSWER_MODELS, "maxsize", 8)  # the real bound is 256: same code, faster
    with (
        serving(fake_settings) as base_url,
        httpx.Client(base_url=base_url, trust_env=False, verify=False, timeout=30) as client,
    ):
        answers = [
            client.post("/v1/score", json={"paper": PAPER, "rubric": rubric(i)}) for i in range(30)
        ]
        assert len(ANSWER_MODELS) <= 8
        again = client.post("/v1/score", json={"paper": PAPER, "rubric": rubric(0)})
        other = {"title": "A second paper", "abstract": "Long since evicted rubric."}
        rebuilt = client.post("/v1/score", json={"paper": other, "rubric": rubric(0)})
    assert [a.status_code for a in answers] == [200] * 30
    assert again.json()["cached"]  # the cache key does not depend on the evicted model
    assert rebuilt.status_code == 200 and set(rebuilt.json()["scores"]) == {"fit"}
    assert len(ANSWER_MODELS) <= 8
    assert fake.count == 31
