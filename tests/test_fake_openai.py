"""The fake OpenAI server (scorer.testing), exercised with the real openai client over HTTP."""

from __future__ import annotations

import asyncio
import json
import selectors
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, Literal

import openai
import pytest
from pydantic import BaseModel, Field
from subprocesses import kill_group

from scorer.testing import FakeOpenAI, Reply


class Score(BaseModel):
    justification: str = Field(max_length=200)
    relevance: int = Field(ge=0, le=100)
    hype: int = Field(ge=0, le=100)


class Author(BaseModel):
    name: str = Field(min_length=40)
    h_index: int = Field(gt=10, lt=13)


class Kind(StrEnum):
    theory = "theory"
    experiment = "experiment"


class Rich(BaseModel):
    """Exercises $defs/$ref, enum, array, number, boolean, Optional and nested objects."""

    label: Literal["yes", "no"]
    kind: Kind
    tags: list[str] = Field(min_length=2)
    confidence: float = Field(ge=0.5, le=0.75)
    novel: bool
    note: str | None = None
    authors: list[Author]
    lead: Author


class Node(BaseModel):
    """A recursive model: filling must stop somewhere."""

    name: str
    next: Node | None
    children: list[Node]


def response_format(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"type": "json_schema", "json_schema": {"name": model.__name__, "schema": schema}}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You score papers."}, {"role": "user", "content": text}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(latency=0.0) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=10) as c:
        yield c


def score(client: openai.OpenAI, text: str = "A paper about transformers.") -> Any:
    return client.chat.completions.create(
        model="gpt-test", messages=user(text), response_format=response_format(Score)
    )


def test_default_reply_is_a_schema_valid_completion(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/v1")
    completion = score(client, "one two three")
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    parsed = Score.model_validate_json(choice.message.content)
    assert list(json.loads(choice.message.content)) == ["justification", "relevance", "hype"]
    assert 0 < len(parsed.justification) <= 200
    usage = completion.usage
    assert usage.prompt_tokens == 6  # "You score papers." + "one two three"
    assert usage.completion_tokens >= 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_values_are_deterministic_per_message(client: openai.OpenAI) -> None:
    def values(text: str) -> tuple[int, int]:
        parsed = Score.model_validate_json(score(client, text).choices[0].message.content)
        return parsed.relevance, parsed.hype

    assert values("paper A") == values("paper A")
    assert len({values(f"paper {i}") for i in range(8)}) > 1


def test_complex_schema_is_filled_validly(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="m", messages=user("x"), response_format=response_format(Rich)
    )
    rich = Rich.model_validate_json(completion.choices[0].message.content)
    assert rich.label == "yes"
    assert rich.kind is Kind.theory
    assert len(rich.tags) == 2
    assert len(rich.authors) == 1
    assert rich.lead.h_index in (11, 12)
    completion = client.chat.completions.create(
        model="m", messages=user("x"), response_format=response_format(Node)
    )
    Node.model_validate_json(completion.choices[0].message.content)


def test_without_response_format_content_is_ok(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    completion = client.chat.completions.create(model="m", messages=user("hi"))
    assert completion.choices[0].message.content == "ok"
    fake.enqueue(Reply(content="hello there", finish_reason="length"))
    completion = client.chat.completions.create(model="m", messages=user("hi"))
    assert completion.choices[0].message.content == "hello there"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


def test_counts_records_and_resets(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    assert fake.count == 0
    score(client, "first")
    score(client, "second")
    assert fake.count == 2
    assert [r["messages"][-1]["content"] for r in fake.requests] == ["first", "second"]
    assert fake.requests[0]["response_format"]["json_schema"]["name"] == "Score"
    assert fake.request_headers[0]["authorization"] == "Bearer test"
    assert fake.request_headers[1]["content-type"] == "application/json"
    fake.enqueue(Reply.server_error())
    fake.reset()
    assert fake.count == 0
    assert fake.request_headers == []
    score(client)  # the queue was cleared too: no error
    assert fake.count == 1


@pytest.mark.parametrize(
    ("reply", "exc_type", "status", "code"),
    [
        (Reply.rate_limited(), openai.RateLimitError, 429, "rate_limit_exceeded"),
        (Reply.insufficient_quota(), openai.RateLimitError, 429, "insufficient_quota"),
        (Reply.server_error(), openai.InternalServerError, 500, None),
        (Reply.server_error(503), openai.InternalServerError, 503, None),
        (Reply.unauthorized(), openai.AuthenticationError, 401, "invalid_api_key"),
        (Reply.bad_request("Bad things."), openai.BadRequestError, 400, None),
        (Reply.not_found_model("gpt-9"), openai.NotFoundError, 404, "model_not_found"),
        (Reply(status=503), openai.InternalServerError, 503, None),
    ],
)
def test_scripted_errors_raise_the_right_exception(
    fake: FakeOpenAI,
    client: openai.OpenAI,
    reply: Reply,
    exc_type: type[openai.APIStatusError],
    status: int,
    code: str | None,
) -> None:
    fake.enqueue(reply)
    with pytest.raises(exc_type) as info:
        score(client)
    assert info.value.status_code == status
    assert info.value.code == code
    assert info.value.response.headers["content-type"] == "application/json"
    assert isinstance(info.value.body, dict)
    assert info.value.body["message"]
    score(client)  # the queue is empty again: default reply


def test_rate_limit_headers_are_visible(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.enqueue(Reply.rate_limited(retry_after=2), Reply.rate_limited(None, retry_after_ms=1500))
    with pytest.raises(openai.RateLimitError) as info:
        score(client)
    headers = info.value.response.headers
    assert headers["retry-after"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert "retry-after-ms" not in headers
    assert info.value.body["type"] == "tokens"
    with pytest.raises(openai.RateLimitError) as info:
        score(client)
    assert info.value.response.headers["retry-after-ms"] == "1500"
    assert "retry-after" not in info.value.response.headers
    fake.enqueue(Reply.insufficient_quota())
    with pytest.raises(openai.RateLimitError) as info:
        score(client)
    assert "retry-after" not in info.value.response.headers


def test_malformed_body_makes_the_client_raise(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.enqueue(Reply.malformed())
    with pytest.raises(Exception):  # noqa: B017  (any failure to parse is fine)
        score(client)


def test_out_of_range_override(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.enqueue(Reply.out_of_range(), Reply.out_of_range("hype", -3))
    first = json.loads(score(client).choices[0].message.content)
    second = json.loads(score(client).choices[0].message.content)
    assert first["relevance"] == 150
    assert 0 <= first["hype"] <= 100
    assert first["justification"]
    assert second["hype"] == -3


def test_latency_and_delay_are_applied(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    # Lower bounds only: a busy machine makes answers later, never earlier.
    fake.latency = 0.2
    start = time.monotonic()
    score(client)
    assert time.monotonic() - start >= 0.2
    fake.latency = 0.0
    fake.enqueue(Reply(delay=0.2))
    start = time.monotonic()
    score(client)
    assert time.monotonic() - start >= 0.2


def stops_despite_the_hang(fake: FakeOpenAI) -> None:
    """``fake.stop()`` returns while a request hangs (a hang lasts until the server stops)."""
    stopper = threading.Thread(target=fake.stop)
    stopper.start()
    stopper.join(timeout=60)  # a hang guard, not a speed check
    assert not stopper.is_alive(), "stop() waited for the hanging request"


def test_hang_times_out_and_stop_is_quick() -> None:
    fake = FakeOpenAI().start()
    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=0.5)
    fake.enqueue(Reply.hanging())
    with pytest.raises(openai.APITimeoutError):
        score(client)
    stops_despite_the_hang(fake)
    assert fake.count == 1
    fake.stop()  # idempotent
    client.close()


def test_stop_cuts_off_a_hang_in_progress() -> None:
    fake = FakeOpenAI().start()
    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=30)
    fake.enqueue(Reply.hanging())
    errors: list[BaseException] = []

    def call() -> None:
        try:
            score(client)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    while fake.count == 0:
        time.sleep(0.01)
    stops_despite_the_hang(fake)
    thread.join(timeout=60)
    client.close()
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APIConnectionError)


def test_concurrent_async_requests() -> None:
    async def run(fake: FakeOpenAI) -> list[Score]:
        async with openai.AsyncOpenAI(
            base_url=fake.base_url, api_key="test", max_retries=0, timeout=10
        ) as client:
            completions = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="m",
                        messages=user(f"paper {i}"),
                        response_format=response_format(Score),
                    )
                    for i in range(50)
                )
            )
        return [Score.model_validate_json(c.choices[0].message.content) for c in completions]

    with FakeOpenAI(latency=0.2) as fake:
        scores = asyncio.run(run(fake))
        assert fake.count == 50
        assert fake.peak_in_flight > 1  # answered side by side, not one after another
    assert len(scores) == 50


def test_async_use_inside_a_running_loop() -> None:
    async def run() -> str | None:
        with FakeOpenAI() as fake:  # start/stop from inside a running event loop
            async with openai.AsyncOpenAI(
                base_url=fake.base_url, api_key="test", max_retries=0, timeout=10
            ) as client:
                completion = await client.chat.completions.create(model="m", messages=user("hi"))
        return completion.choices[0].message.content

    assert asyncio.run(run()) == "ok"


def test_tools_mode_calls_the_chosen_function(client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {"name": "Score", "parameters": Score.model_json_schema()},
    }
    completion = client.chat.completions.create(
        model="m",
        messages=user("paper"),
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "Score"}},
    )
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].function.name == "Score"
    Score.model_validate_json(calls[0].function.arguments)


def test_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m",
        messages=user("paper"),
        response_format=response_format(Score),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    Score.model_validate_json(content)
    assert chunks[-1].usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_models_and_unknown_routes(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fake-model"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for path, data, status in [("/nope", b"{}", 404), ("/chat/completions", b"not json", 400)]:
        request = urllib.request.Request(fake.base_url + path, data=data, method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            opener.open(request, timeout=10)
        assert info.value.code == status
        assert info.value.headers["content-type"] == "application/json"
        assert json.loads(info.value.read())["error"]["type"] == "invalid_request_error"
    assert fake.count == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_line_entry_point(signum: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scorer.testing.fake_openai", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=60), "the server printed no URL"  # a hang guard
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0, timeout=10) as client:
            Score.model_validate_json(score(client).choices[0].message.content)
    finally:
        proc.send_signal(signum)
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise
    assert proc.returncode == 0, stderr
    assert "Warning" not in stderr, stderr
