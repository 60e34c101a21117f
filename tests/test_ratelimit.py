"""--rpm / --tpm: requests reach the server no faster than the limits allow."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from scorer import Settings, score_many
from scorer._errors import ConfigError
from scorer._models import Paper
from scorer._rubric import load_rubric
from scorer._settings import RateLimits
from scorer.backends._ratelimit import RequestGate, estimate_tokens
from scorer.prompt._messages import load_prompt
from scorer.testing import FakeOpenAI

PAPERS = [{"title": f"Paper {i} on paged attention", "abstract": "KV caches."} for i in range(6)]


def elapsed_scoring(settings: Settings) -> float:
    started = time.perf_counter()
    results = list(score_many(PAPERS, "llm-inference", settings=settings, concurrency=6))
    assert all(r.ok for r in results) and len(results) == len(PAPERS)
    return time.perf_counter() - started


def test_rpm_spaces_requests(fake: FakeOpenAI, fake_settings: Settings) -> None:
    # 120 rpm: a bucket of 2 requests refilled at 2 per second. Six requests
    # need at least two seconds whatever the machine's speed.
    limited = dataclasses.replace(fake_settings, limits=RateLimits(rpm=120))

    assert elapsed_scoring(limited) >= 1.9
    assert fake.count == len(PAPERS)


def test_tpm_spaces_requests_by_their_estimated_size(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    rubric = load_rubric("llm-inference")
    messages = load_prompt().messages(rubric, Paper.model_validate(PAPERS[0]))
    per_request = estimate_tokens(messages, fake_settings.sampling.max_tokens)
    assert per_request > fake_settings.sampling.max_tokens
    # A bucket of two requests' tokens per second: six requests take two seconds.
    tpm = 2 * per_request * 60
    limited = dataclasses.replace(fake_settings, limits=RateLimits(tpm=tpm))

    assert elapsed_scoring(limited) >= 1.9
    assert fake.count == len(PAPERS)


def test_a_request_larger_than_the_bucket_is_charged_in_parts() -> None:
    gate = RequestGate(RateLimits(tpm=60 * 100))  # 100 tokens a second
    started = time.perf_counter()
    asyncio.run(gate.admit(250))  # 100 at once, then 150 more at 100 per second
    assert time.perf_counter() - started >= 1.4


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="rpm must be positive"):
        RateLimits(rpm=0)
