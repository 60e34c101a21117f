"""Contract tests of the OpenAI-compatible backend against the fake server.

Real HTTP on loopback, the real ``openai`` client and ``instructor``; only time is
faked (the injected ``sleeps`` records the waits instead of sleeping). What is
asserted is what a user would see: requests the server received, waits, errors
and their data, token usage.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import socket
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from scorer._errors import (
    BackendError,
    FatalBackendError,
    InvalidOutputError,
    RetryExhausted,
    ScorerError,
)
from scorer._models import ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer._settings import Settings
from scorer.backends._openai_compat import OpenAICompatBackend
from scorer.engine._scorer import Scorer, to_paper
from scorer.testing import FakeOpenAI, Reply
from scorer.testing._replies import completion, error_body

if TYPE_CHECKING:
    from conftest import SleepRecorder

E = TypeVar("E", bound=BaseException)
KEY = "sk-test-0123456789abcdef"
KEY_TAIL = "0123456789abcdef"
PAPER = {
    "title": "PagedKV: paging the KV cache for high-throughput LLM serving",
    "abstract": "We page the KV cache of a transformer across GPU and host memory "
    "and serve 2x more requests per second than vLLM at equal latency.",
}


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric("llm-inference")  # dimensions: relevance, hype


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """The HTTP transport under the SDK: the default, unless a test runs on both."""
    return str(getattr(request, "param", "auto"))


# What the transport carries (retries, timeouts, errors, redaction, closing) must
# behave the same on both; tests of validation and the engine run on the default.
both_transports = pytest.mark.parametrize("transport", ["aiohttp", "httpx"], indirect=True)


@pytest.fixture
def settings(fake_settings: Settings, transport: str) -> Settings:
    """The fake server's settings without the cache, so every score reaches the server."""
    return replace(fake_settings, use_cache=False, transport=transport)


def make_scorer(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, *, api_key: str = KEY
) -> Scorer:
    backend = OpenAICompatBackend(
        base_url=fake.base_url, api_key=api_key, model="fake-model", settings=settings, sleep=sleeps
    )
    return Scorer(settings, backend=backend)


def score(scorer: Scorer, rubric: Rubric, paper: Mapping[str, Any] = PAPER) -> ScoredPaper:
    return asyncio.run(scorer.ascore(paper, rubric))


def score_error(
    expected: type[E], scorer: Scorer, rubric: Rubric, paper: Mapping[str, Any] = PAPER
) -> E:
    with pytest.raises(expected) as info:
        score(scorer, rubric, paper)
    return info.value


def collect(
    scorer: Scorer, papers: list[dict[str, str]], rubric: Rubric, concurrency: int
) -> list[ScoredPaper]:
    async def run() -> list[ScoredPaper]:
        return [r async for r in scorer.ascore_many(papers, rubric, concurrency=concurrency)]

    return asyncio.run(run())


def reported_prompt_tokens(request_body: dict[str, Any]) -> int:
    """The prompt tokens the fake server reported for this request."""
    usage: dict[str, int] = completion(request_body, Reply())["usage"]
    return usage["prompt_tokens"]


def assert_valid(result: ScoredPaper) -> None:
    assert result.ok
    assert set(result.scores) == {"relevance", "hype"}
    assert all(0 <= value <= 100 for value in result.scores.values())
    assert result.justification


def assert_key_hidden(exc: BackendError) -> None:
    shown = [str(exc), repr(exc), json.dumps(exc.body)]
    for text in shown:
        assert KEY not in text
        assert KEY_TAIL not in text
        assert "sk-...xxxx" not in text


# -- the happy path ---------------------------------------------------------------------------


@both_transports
def test_scores_a_paper_with_one_structured_request(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    result = score(make_scorer(fake, settings, sleeps), rubric)

    assert_valid(result)
    assert not result.cached
    assert result.model == "fake-model"
    assert result.usage.requests == 1
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens > 0
    assert fake.count == 1
    assert sleeps.waits == []

    sent = fake.requests[0]
    assert sent["model"] == "fake-model"
    assert sent["response_format"]["type"] == "json_schema"
    schema = sent["response_format"]["json_schema"]["schema"]
    assert {"justification", "relevance", "hype"} <= set(schema["properties"])
    assert sent["max_tokens"] == settings.sampling.max_tokens
    assert sent["temperature"] == settings.sampling.temperature
    messages = sent["messages"]
    assert messages[0]["role"] == "system"
    assert messages[-1]["role"] == "user"
    assert PAPER["title"] in messages[-1]["content"]
    assert PAPER["abstract"] in messages[-1]["content"]
    assert fake.request_headers[0]["authorization"] == f"Bearer {KEY}"


# -- transient failures: tenacity retries, waits are recorded ---------------------------------


@both_transports
@pytest.mark.parametrize(
    ("reply", "wait"),
    [
        (Reply.rate_limited(retry_after=2), 2.0),
        (Reply.rate_limited(retry_after=None, retry_after_ms=1500), 1.5),
    ],
    ids=["retry-after", "retry-after-ms"],
)
def test_429_waits_what_the_server_asked_then_succeeds(
    fake: FakeOpenAI,
    settings: Settings,
    sleeps: SleepRecorder,
    rubric: Rubric,
    reply: Reply,
    wait: float,
) -> None:
    fake.enqueue(reply)
    result = score(make_scorer(fake, settings, sleeps), rubric)

    assert_valid(result)
    assert sleeps.waits == [wait]
    assert fake.count == 2
    assert result.usage.requests == 2


def test_429_retry_after_beyond_the_cap_is_capped(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    capped = replace(settings, retry=replace(settings.retry, max_retry_after=3.0))
    fake.enqueue(Reply.rate_limited(retry_after=120))
    assert_valid(score(make_scorer(fake, capped, sleeps), rubric))
    assert sleeps.waits == [3.0]
    assert fake.count == 2


@both_transports
@pytest.mark.parametrize("status", [500, 503])
def test_server_error_is_retried_after_a_capped_backoff(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric, status: int
) -> None:
    fake.enqueue(Reply.server_error(status))
    assert_valid(score(make_scorer(fake, settings, sleeps), rubric))
    assert fake.count == 2
    assert len(sleeps.waits) == 1
    assert 0 < sleeps.waits[0] <= settings.retry.max_wait


@both_transports
def test_retries_stop_at_max_attempts(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    assert settings.retry.max_attempts == 4
    fake.enqueue(*[Reply.server_error(503)] * 6)
    exc = score_error(RetryExhausted, make_scorer(fake, settings, sleeps), rubric)

    assert exc.attempts == 4
    assert exc.status_code == 503
    assert fake.count == 4  # the openai client's own retries are off: no 4 x 3
    assert len(sleeps.waits) == 3
    assert all(0 < w <= settings.retry.max_wait for w in sleeps.waits)
    assert exc.usage is not None and exc.usage.requests == 4
    assert "4 attempt" in str(exc)


@both_transports
def test_a_hung_request_times_out_and_is_retried(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    quick = replace(settings, timeout=0.5)
    fake.enqueue(Reply.hanging())
    result = score(make_scorer(fake, quick, sleeps), rubric)

    assert_valid(result)
    assert fake.count == 2
    assert len(sleeps.waits) == 1


@both_transports
def test_a_server_that_always_hangs_ends_in_retry_exhausted(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    quick = replace(settings, timeout=0.3, retry=replace(settings.retry, max_attempts=2))
    fake.enqueue(Reply.hanging(), Reply.hanging())
    exc = score_error(RetryExhausted, make_scorer(fake, quick, sleeps), rubric)

    assert exc.attempts == 2
    assert exc.status_code is None
    assert "timed out" in str(exc)
    assert fake.count == 2


@both_transports
def test_a_malformed_body_is_retried(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(Reply.malformed())
    assert_valid(score(make_scorer(fake, settings, sleeps), rubric))
    assert fake.count == 2
    assert len(sleeps.waits) == 1


# -- fatal failures: one request, one clear error, no key in it -------------------------------


@both_transports
def test_401_is_fatal_not_retried_and_hides_the_key(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(Reply.unauthorized(), Reply.unauthorized())
    exc = score_error(FatalBackendError, make_scorer(fake, settings, sleeps), rubric)

    assert exc.status_code == 401
    assert exc.attempts == 1
    assert fake.count == 1
    assert sleeps.waits == []
    assert "OPENAI_API_KEY" in str(exc)
    assert_key_hidden(exc)


@both_transports
@pytest.mark.parametrize("status", [400, 401])
def test_a_server_echoing_the_full_key_does_not_leak_it(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric, status: int
) -> None:
    body = error_body(f"Incorrect API key provided: {KEY}.", "invalid_request_error", param=KEY)
    fake.enqueue(Reply(status=status, body=body))
    exc = score_error(FatalBackendError, make_scorer(fake, settings, sleeps), rubric)

    assert exc.status_code == status
    assert fake.count == 1
    assert isinstance(exc.body, dict)
    assert exc.body["type"] == "invalid_request_error"  # the rest of the body is kept
    assert_key_hidden(exc)


def test_a_short_key_is_hidden_without_mangling_the_body(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    # Local servers accept any key; a short one like "1234" also occurs inside numbers.
    body = json.dumps(
        {"error": {"message": "key 1234 rejected", "type": "auth", "code": 12345, "param": None}}
    )
    fake.enqueue(Reply(status=401, body=body))
    scorer = make_scorer(fake, settings, sleeps, api_key="1234")
    exc = score_error(FatalBackendError, scorer, rubric)

    assert exc.status_code == 401
    assert "1234" not in str(exc)
    assert exc.body == {"message": "key *** rejected", "type": "auth", "code": 12345, "param": None}


@both_transports
def test_insufficient_quota_is_fatal_and_says_so(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(Reply.insufficient_quota(), Reply.insufficient_quota())
    exc = score_error(FatalBackendError, make_scorer(fake, settings, sleeps), rubric)

    assert exc.status_code == 429
    assert "quota" in str(exc)
    assert fake.count == 1
    assert sleeps.waits == []


@both_transports
@pytest.mark.parametrize(
    ("reply", "status", "words"),
    [
        (Reply.bad_request("Invalid 'max_tokens': too large.", param="max_tokens"), 400, "max_tok"),
        (Reply.not_found_model("fake-model"), 404, "fake-model"),
    ],
    ids=["bad-request", "model-not-found"],
)
def test_bad_request_and_unknown_model_are_fatal(
    fake: FakeOpenAI,
    settings: Settings,
    sleeps: SleepRecorder,
    rubric: Rubric,
    reply: Reply,
    status: int,
    words: str,
) -> None:
    fake.enqueue(reply, reply)
    exc = score_error(FatalBackendError, make_scorer(fake, settings, sleeps), rubric)

    assert exc.status_code == status
    assert words in str(exc)
    assert fake.count == 1
    assert sleeps.waits == []


# -- invalid answers: instructor re-asks exactly once -----------------------------------------


def test_out_of_range_score_is_reasked_once(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(Reply.out_of_range("relevance", 150))
    result = score(make_scorer(fake, settings, sleeps), rubric)

    assert_valid(result)
    assert fake.count == 2
    assert sleeps.waits == []  # a re-ask is not a transport retry
    assert result.usage.requests == 2
    assert result.usage.prompt_tokens == sum(reported_prompt_tokens(r) for r in fake.requests)

    first, reask = (r["messages"] for r in fake.requests)
    assert len(reask) > len(first)
    feedback = " ".join(str(m["content"]) for m in reask[len(first) :])
    assert "150" in feedback
    assert "less than or equal to 100" in feedback


def test_out_of_range_twice_is_invalid_output_after_exactly_one_reask(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(*[Reply.out_of_range("relevance", 150)] * 4)
    exc = score_error(InvalidOutputError, make_scorer(fake, settings, sleeps), rubric)

    assert fake.count == 2
    assert exc.usage is not None
    assert exc.usage.requests == 2
    assert exc.usage.prompt_tokens == sum(reported_prompt_tokens(r) for r in fake.requests)
    assert "validation" in str(exc)


def test_a_missing_dimension_is_reasked(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(Reply(content='{"justification": "fine sentence here ok", "relevance": 50}'))
    result = score(make_scorer(fake, settings, sleeps), rubric)

    assert_valid(result)
    assert fake.count == 2
    first, reask = (r["messages"] for r in fake.requests)
    assert len(reask) > len(first)
    assert "hype" in " ".join(str(m["content"]) for m in reask[len(first) :])


def test_an_answer_cut_at_max_tokens_is_invalid_and_not_retried(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(Reply(finish_reason="length"), Reply(finish_reason="length"))
    exc = score_error(InvalidOutputError, make_scorer(fake, settings, sleeps), rubric)

    assert "max_tokens" in str(exc)
    assert fake.count == 1
    assert sleeps.waits == []


# -- through the engine -----------------------------------------------------------------------


def test_ascore_or_error_keeps_a_transient_failure_with_its_paper(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(*[Reply.server_error(503)] * 4)
    scorer = make_scorer(fake, settings, sleeps)
    result = asyncio.run(scorer.ascore_or_error(to_paper(PAPER), rubric))

    assert not result.ok
    assert result.error is not None and "503" in result.error
    assert result.scores == {}
    assert result.usage.requests == 4
    assert result.paper.title == PAPER["title"]


def test_ascore_or_error_keeps_invalid_output_with_its_paper(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(*[Reply.out_of_range("hype", -5)] * 2)
    scorer = make_scorer(fake, settings, sleeps)
    result = asyncio.run(scorer.ascore_or_error(to_paper(PAPER), rubric))

    assert not result.ok
    assert result.error is not None and "validation" in result.error
    assert result.usage.requests == 2


def test_ascore_or_error_raises_a_fatal_error(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(Reply.unauthorized())
    scorer = make_scorer(fake, settings, sleeps)
    with pytest.raises(FatalBackendError):
        asyncio.run(scorer.ascore_or_error(to_paper(PAPER), rubric))
    assert fake.count == 1


@both_transports
def test_ascore_many_runs_requests_concurrently(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.latency = 0.2
    papers = [
        {"title": f"Serving trick number {i}", "abstract": "Faster decoding."} for i in range(20)
    ]
    results = collect(make_scorer(fake, settings, sleeps), papers, rubric, concurrency=8)

    assert len(results) == 20
    assert all(r.ok for r in results)
    assert sorted(r.paper.title for r in results) == sorted(p["title"] for p in papers)
    assert fake.count == 20
    assert fake.peak_in_flight == 8  # the limit, and all of it used


def test_cache_hits_do_not_wait_behind_a_slow_request(
    fake: FakeOpenAI, fake_settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    papers = [{"title": f"Cached serving paper {i}", "abstract": "Decoding."} for i in range(4)]
    collect(make_scorer(fake, fake_settings, sleeps), papers, rubric, concurrency=4)
    fake.reset()
    fake.enqueue(Reply(delay=1.0))
    slow = {"title": "A slow paper on prefill", "abstract": "Chunked prefill."}

    results = collect(make_scorer(fake, fake_settings, sleeps), [slow, *papers], rubric, 1)

    assert [r.paper.title for r in results] == [p["title"] for p in papers] + [slow["title"]]
    assert [r.cached for r in results] == [True] * 4 + [False]
    assert fake.count == 1


def test_ascore_many_sends_identical_papers_once(
    fake: FakeOpenAI, fake_settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.latency = 0.3
    results = collect(make_scorer(fake, fake_settings, sleeps), [PAPER] * 6, rubric, concurrency=8)

    assert fake.count == 1
    assert len(results) == 6
    assert sorted(r.cached for r in results) == [False] + [True] * 5
    assert len({json.dumps(r.scores, sort_keys=True) for r in results}) == 1
    assert sum(r.usage.requests for r in results) == 1


def release_when_in_flight(fake: FakeOpenAI, count: int) -> None:
    """Release the held fake once ``count`` requests are in flight (60 s: a hang guard)."""
    deadline = time.monotonic() + 60
    while fake.in_flight < count and time.monotonic() < deadline:
        time.sleep(0.005)
    fake.release()


def test_a_fatal_error_stops_the_batch(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(*[Reply.unauthorized()] * 10)
    papers = [{"title": f"Paper {i} on KV caches", "abstract": "Serving."} for i in range(10)]
    # Both slots' requests reach the server before either is answered (on a busy machine
    # the first 401 could otherwise come back before the second request went out).
    fake.hold()
    releaser = threading.Thread(target=release_when_in_flight, args=(fake, 2))
    releaser.start()
    # auto's probe waits as it does for a user (probe_wait's default): the second paper
    # goes out only after that wait, so the first request is held at least as long. Its
    # timeout must outlast the hold, or the timed-out probe is retried: a third request,
    # sent before any 401 came back (what made this test fail in about half the runs).
    patient = dataclasses.replace(settings, timeout=60.0)
    assert patient.probe_wait == Settings().probe_wait
    with pytest.raises(FatalBackendError) as info:
        collect(make_scorer(fake, patient, sleeps), papers, rubric, concurrency=2)
    releaser.join()

    assert info.value.status_code == 401
    assert fake.count == 2  # the two in flight; papers waiting for a slot never go out
    assert_key_hidden(info.value)


def test_no_request_goes_out_after_a_fatal_error_while_the_consumer_is_busy(
    fake: FakeOpenAI, settings: Settings, rubric: Rubric
) -> None:
    # A pipeline that awaits its own work between results: the engine cancels the other
    # papers only when it is asked for the next one. A paper already retrying a 429
    # must not send its retry after another paper's 401 meanwhile.
    fake.answer_when("rejected", Reply.unauthorized())
    fake.answer_when("throttled", Reply.rate_limited(retry_after=1))
    papers = [
        {"title": "An answered paper on KV caches", "abstract": "Serving."},
        {"title": "A rejected paper on KV caches", "abstract": "Serving."},
        {"title": "A throttled paper on KV caches", "abstract": "Serving."},
    ]

    async def others_done() -> None:
        """Until every other paper's task has ended (60 s: a hang guard)."""
        others = asyncio.all_tasks() - {main, asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=60)

    async def retry_wait(seconds: float) -> None:
        await others_done()  # the server's retry-after passes while the 401 comes back

    backend = OpenAICompatBackend(
        base_url=fake.base_url, api_key=KEY, model="fake-model", settings=settings, sleep=retry_wait
    )
    scorer = Scorer(settings, backend=backend)
    main: asyncio.Task[Any] | None = None

    async def run() -> list[ScoredPaper]:
        nonlocal main
        main = asyncio.current_task()
        results = []
        async for result in scorer.ascore_many(papers, rubric, concurrency=3):
            results.append(result)
            await others_done()  # busy with it until the other papers are done
        return results

    assert settings.probe_wait == Settings().probe_wait  # auto's probe waits as for a user
    with pytest.raises(FatalBackendError) as info:
        asyncio.run(run())

    assert info.value.status_code == 401
    # One request each: the throttled paper's retry was due after the 401, so never sent.
    assert fake.count == 3
    assert len([body for body in fake.requests if "throttled" in json.dumps(body)]) == 1


def test_a_fatal_error_stops_the_batch_with_one_error_only(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    fake.enqueue(*[Reply.unauthorized()] * 10)
    scorer = make_scorer(fake, settings, sleeps)
    reported: list[dict[str, Any]] = []

    async def papers() -> AsyncIterator[dict[str, str]]:
        yield {"title": "First paper on KV caches", "abstract": "Serving."}
        yield {"title": "Second paper on KV caches", "abstract": "Serving."}
        # Let both requests fail before the engine looks at them: two fatal errors at once.
        first_two = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.wait(first_two, timeout=10)
        yield {"title": "Third paper on KV caches", "abstract": "Serving."}

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        async for _ in scorer.ascore_many(papers(), rubric, concurrency=3):
            pass

    gc.collect()  # earlier tests' garbage is not this test's business
    with pytest.raises(FatalBackendError):
        asyncio.run(run())
    gc.collect()  # a task's unretrieved exception is reported when the task is collected

    assert fake.count <= 3
    # Only our own errors count: an SDK client left unclosed by an earlier test
    # may be collected meanwhile and report its own failed aclose() here.
    ours = [ctx for ctx in reported if isinstance(ctx.get("exception"), ScorerError)]
    assert [ctx["message"] for ctx in ours] == []


@both_transports
def test_scorer_closes_its_connections_and_can_be_used_again(
    fake: FakeOpenAI, settings: Settings
) -> None:
    rubric = load_rubric("llm-inference")

    async def run() -> list[ScoredPaper]:
        async with Scorer(settings) as scorer:
            first = await scorer.ascore({"title": "A", "abstract": "First."}, rubric)
        second = await scorer.ascore({"title": "B", "abstract": "Second."}, rubric)
        await scorer.aclose()
        return [first, second]

    gc.collect()  # other tests' garbage first: only this test's clients are judged
    unraisable: list[Any] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            results = asyncio.run(run())
            gc.collect()  # an unclosed client would raise its ResourceWarning here
    finally:
        sys.unraisablehook = hook
    assert not [u for u in unraisable if issubclass(u.exc_type, ResourceWarning)]
    assert all(r.ok for r in results)
    assert fake.count == 2


@both_transports
def test_a_scorer_never_closed_leaves_no_open_connection_when_its_run_ends(
    fake: FakeOpenAI, settings: Settings, rubric: Rubric
) -> None:
    # A script that scores under asyncio.run() and never calls aclose(): the
    # end of the run closes the client (aiohttp would say "Unclosed client session").
    scorer = Scorer(settings)
    gc.collect()
    unraisable: list[Any] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            result = asyncio.run(scorer.ascore(PAPER, rubric))
            del scorer
            gc.collect()  # the loop and its client go: an open session would warn here
    finally:
        sys.unraisablehook = hook
    assert not [u for u in unraisable if issubclass(u.exc_type, ResourceWarning)]
    assert result.ok


@both_transports
def test_closing_a_batch_early_leaves_no_unawaited_requests(
    fake: FakeOpenAI, settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    # The first answer is quick, the rest slow: when it arrives, one paper holds
    # the other slot and one more task is waiting for a slot (window = 2 x 2).
    fake.enqueue(Reply(), *[Reply(delay=2.0)] * 7)
    papers = [{"title": f"Waiting paper {i}", "abstract": "Decoding."} for i in range(8)]
    # The engine's slots are under test, not auto's probe for a mode: nobody waits for it.
    scorer = make_scorer(fake, dataclasses.replace(settings, probe_wait=0.0), sleeps)

    async def first_only() -> ScoredPaper:
        results = scorer.ascore_many(papers, rubric, concurrency=2)
        first = await anext(results)
        await results.aclose()
        return first

    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = asyncio.run(first_only())
        gc.collect()
    assert first.ok
    never_awaited = [w for w in caught if "was never awaited" in str(w.message)]
    assert never_awaited == []
    # The quick paper was sent; the slow ones holding the other slot or next in line may or
    # may not have left before the close (a race, not a property: on aiohttp the second
    # connection can still be opening when the first answer is back): nothing after did.
    assert 1 <= fake.count <= 3


@both_transports
def test_an_endpoint_that_cannot_be_reached_stops_the_batch(
    settings: Settings, sleeps: SleepRecorder, rubric: Rubric
) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    backend = OpenAICompatBackend(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=KEY,
        model="fake-model",
        settings=settings,
        sleep=sleeps,
    )
    papers = [{"title": f"Paper {i} on KV caches", "abstract": "Serving."} for i in range(50)]

    async def run() -> list[ScoredPaper]:
        scorer = Scorer(settings, backend=backend)
        return [r async for r in scorer.ascore_many(papers, rubric, concurrency=2)]

    with pytest.raises(FatalBackendError, match="cannot be reached") as info:
        asyncio.run(run())
    assert info.value.attempts == settings.retry.max_attempts
    assert len(sleeps.waits) <= 2 * (settings.retry.max_attempts - 1)  # two papers, not fifty
    assert_key_hidden(info.value)
