"""The cluster-wide rate limit's arithmetic (scorer.ray._permits), on a fake clock.

No Ray here: the permit bucket is plain Python, and the workers' gates reach
it through an injected ``ask``, as they reach the permit actor on a cluster.
tests/test_ray_cluster.py checks the same limit on a real cluster.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import subprocess
import sys

import pytest

from scorer._errors import ConfigError
from scorer._settings import RateLimits, Settings
from scorer.ray._dataset import check_cluster_settings
from scorer.ray._permits import ClusterGate, PermitBucket


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now = max(self.now, self.now + seconds)
        await asyncio.sleep(0)


def test_the_bucket_holds_a_seconds_worth_and_refills_at_the_rate() -> None:
    time = FakeTime()
    bucket = PermitBucket(RateLimits(rpm=120), clock=time)  # 2 a second
    assert [bucket.take(1, 0) for _ in range(3)] == [0.0, 0.0, 0.5]
    time.now = 10.0  # a long idle spell refills only up to the capacity
    assert [bucket.take(1, 0) for _ in range(3)] == [0.0, 0.0, 0.5]


def test_the_bucket_counts_tokens_and_a_large_request_waits_its_share() -> None:
    bucket = PermitBucket(RateLimits(tpm=6000), clock=FakeTime())  # 100 tokens a second
    assert bucket.take(0, 100) == 0.0
    assert bucket.take(0, 300) == pytest.approx(3.0)


@pytest.mark.parametrize("rpm", [120, 6000])
def test_workers_together_stay_under_the_limit(rpm: int) -> None:
    time = FakeTime()
    bucket = PermitBucket(RateLimits(rpm=rpm), clock=time)
    asks: list[float] = []

    async def ask(requests: float, tokens: float) -> float:
        asks.append(requests)
        return bucket.take(requests, tokens)

    sent: list[float] = []

    async def worker(gate: ClusterGate, requests: int) -> None:
        for _ in range(requests):
            await gate.admit(50)
            sent.append(time.now)

    async def main() -> None:
        gates = [ClusterGate(ask, RateLimits(rpm=rpm), workers=2, sleep=time.sleep) for _ in "ab"]
        await asyncio.gather(*(worker(gate, 100) for gate in gates for _ in range(4)))

    asyncio.run(main())
    rate = rpm / 60
    chunk = max(1, int(rate * 0.1 / 2))
    assert len(sent) == 800
    # Any window: the bucket's capacity, the rate times the window, a chunk per worker.
    for i, start in enumerate(sent):
        in_window = bisect.bisect_right(sent, start + 1.0) - i
        assert in_window <= max(rate, 1) + rate * 1.0 + 2 * chunk
    assert sent[-1] >= (800 - max(rate, 1) - 2 * chunk) / rate  # it took as long as the limit says
    assert len(asks) <= 800 / chunk + 2  # permits fetched a chunk at a time


def test_a_gate_without_a_token_limit_never_asks_for_tokens() -> None:
    time = FakeTime()
    bucket = PermitBucket(RateLimits(rpm=60), clock=time)
    tokens_asked: list[float] = []

    async def ask(requests: float, tokens: float) -> float:
        tokens_asked.append(tokens)
        return bucket.take(requests, tokens)

    async def main() -> None:
        gate = ClusterGate(ask, RateLimits(rpm=60), workers=1, sleep=time.sleep)
        for _ in range(3):
            await gate.admit(10_000)

    asyncio.run(main())
    assert tokens_asked == [0.0, 0.0, 0.0]
    assert time.now == pytest.approx(2.0)


def test_scorer_ray_loads_ray_only_when_it_runs() -> None:
    """``import scorer`` and even ``scorer.ray.score_dataset`` cost no Ray import (seconds)."""
    code = (
        "import json, sys, scorer, scorer.ray; scorer.ray.score_dataset; "
        "from scorer.cli import main; print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "ray" not in loaded and "pyarrow" not in loaded


def test_the_ray_driver_does_not_load_openai() -> None:
    """The drivers of ``scorer batch --ray`` and ``score_dataset`` call no model: no openai."""
    code = (
        "import json, sys, scorer.ray._route, scorer.ray._worker; "
        "from scorer.ray import score_dataset; print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "openai" not in set(json.loads(done.stdout))


def test_a_cluster_run_refuses_no_concurrency_and_limits_on_the_embedded_model() -> None:
    # Both routes (--ray and score_dataset) check this before Ray is asked for anything.
    endpoint = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    limits = RateLimits(rpm=60)
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        check_cluster_settings(Settings.resolve(env=endpoint), 0)
    with pytest.raises(ConfigError, match="need an endpoint"):
        check_cluster_settings(Settings.resolve(env={}, limits=limits), 16)
    assert check_cluster_settings(Settings.resolve(env=endpoint, limits=limits), 16) is True
    assert check_cluster_settings(Settings.resolve(env=endpoint), 16) is False
