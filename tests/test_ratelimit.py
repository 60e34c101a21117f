"""--rpm / --tpm: requests reach the server no faster than the limits allow.

Time is injected (a clock that stands still, a sleep that records), so the
waits the limits ask for are checked exactly and take no time.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from conftest import SleepRecorder

from scorer import Settings
from scorer._errors import ConfigError
from scorer._models import Paper
from scorer._rubric import load_rubric
from scorer._settings import RateLimits
from scorer.backends._openai_compat import OpenAICompatBackend
from scorer.backends._ratelimit import RequestGate, estimate_tokens
from scorer.engine import Scorer
from scorer.prompt import load_prompt
from scorer.testing import FakeOpenAI

PAPERS = [{"title": f"Paper {i} on paged attention", "abstract": "KV caches."} for i in range(6)]


class StillClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waits_scoring(fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder) -> list[float]:
    """Score PAPERS all at once through a backend on a still clock; the waits asked for."""
    backend = OpenAICompatBackend(
        base_url=fake.base_url,
        api_key="sk-test",
        model="fake-model",
        settings=settings,
        sleep=sleeps,
        clock=StillClock(),
    )

    async def run() -> None:
        async with Scorer(settings, backend=backend) as scorer:
            rubric = load_rubric("llm-inference")
            results = [r async for r in scorer.ascore_many(PAPERS, rubric, concurrency=6)]
        assert all(r.ok for r in results) and len(results) == len(PAPERS)

    asyncio.run(run())
    assert fake.count == len(PAPERS)
    return sorted(sleeps.waits)


def test_rpm_spaces_requests(
    fake: FakeOpenAI, fake_settings: Settings, sleeps: SleepRecorder
) -> None:
    # 120 rpm: a bucket of 2 requests refilled at 2 per second. Of six requests
    # asked at once, two go at once and the others half a second apart.
    limited = dataclasses.replace(fake_settings, limits=RateLimits(rpm=120))

    assert waits_scoring(fake, limited, sleeps) == [0.5, 1.0, 1.5, 2.0]


def test_tpm_spaces_requests_by_their_estimated_size(
    fake: FakeOpenAI, fake_settings: Settings, sleeps: SleepRecorder
) -> None:
    rubric = load_rubric("llm-inference")
    messages = load_prompt().messages(rubric, Paper.model_validate(PAPERS[0]))
    per_request = estimate_tokens(messages, fake_settings.sampling.max_tokens)
    assert per_request > fake_settings.sampling.max_tokens
    # A bucket of two requests' tokens per second: as for 120 rpm.
    tpm = 2 * per_request * 60
    limited = dataclasses.replace(fake_settings, limits=RateLimits(tpm=tpm))

    assert waits_scoring(fake, limited, sleeps) == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_the_bucket_refills_as_the_clock_moves(sleeps: SleepRecorder) -> None:
    clock = StillClock()
    gate = RequestGate(RateLimits(rpm=60), clock=clock, sleep=sleeps)  # 1 request a second

    async def admit_at(*times: float) -> None:
        for moment in times:
            clock.now = moment
            await gate.admit(1)

    asyncio.run(admit_at(1000.0, 1000.0, 1000.25, 1003.0, 1003.0))
    # The second owes a second; the third a second more, less the quarter that passed;
    # three idle seconds refill the bucket to its one-request cap, not to three.
    assert sleeps.waits == [1.0, 1.75, 1.0]


def test_a_request_larger_than_the_bucket_is_charged_in_parts(sleeps: SleepRecorder) -> None:
    gate = RequestGate(RateLimits(tpm=60 * 100), clock=StillClock(), sleep=sleeps)  # 100/s
    asyncio.run(gate.admit(250))  # 100 at once, then 150 more at 100 per second
    assert sleeps.waits == [1.5]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="rpm must be positive"):
        RateLimits(rpm=0)
