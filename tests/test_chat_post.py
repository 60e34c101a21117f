"""The backend's own chat-completions POST sends and returns what the ``openai`` SDK would.

Against the fake server on loopback, with the real SDK beside it: the same
request bytes and headers reach the server, and every answer (the usual JSON,
tool calls, log-probabilities, bodies the SDK reads leniently) and every
failure (error statuses, a garbled body, a timeout, a refused connection)
comes back as the SDK's ``client.post`` returns or raises it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from scorer.backends._chat_post import ChatPost
from scorer.backends._transport import http_client
from scorer.testing import FakeOpenAI, PromptCache, Reply

BODY: dict[str, Any] = {
    "model": "fake-model",
    "messages": [
        {"role": "system", "content": "Score the paper. Ünïcode stays as it is."},
        {"role": "user", "content": "PagedKV: paging the KV cache"},
    ],
    "temperature": 0.0,
    "max_tokens": 256,
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "Answer",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "justification": {"type": "string"},
                    "relevance": {"type": "integer"},
                },
                "required": ["justification", "relevance"],
                "additionalProperties": False,
            },
        },
    },
}
TOOLS_BODY: dict[str, Any] = {
    **{k: v for k, v in BODY.items() if k != "response_format"},
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "Answer",
                "parameters": BODY["response_format"]["json_schema"]["schema"],
            },
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "Answer"}},
}
LOGPROBS_BODY: dict[str, Any] = {**BODY, "logprobs": True, "top_logprobs": 5, "max_tokens": 1}

Send = Callable[[dict[str, Any]], Awaitable[ChatCompletion]]


def on_both(
    base_url: str, transport: str, script: Callable[[], None], body: dict[str, Any], **client: Any
) -> tuple[Any, Any]:
    """What the SDK's ``client.post`` and a warmed-up ``ChatPost`` each give for ``body``.

    ``script`` scripts the server's answer before each of the two requests.
    Each outcome is the answer, or the exception raised.
    """

    async def run() -> tuple[Any, Any]:
        sdk = openai.AsyncOpenAI(
            base_url=base_url,
            api_key="sk-test-0123456789abcdef",
            max_retries=0,
            http_client=http_client(transport),
            **client,
        )
        post = ChatPost(sdk)
        try:
            await post(BODY)  # a client's first request is the SDK's own
            script()
            expected = await outcome(
                lambda b: sdk.post(
                    "/chat/completions",
                    body=b,
                    cast_to=ChatCompletion,
                    options={"security": {"bearer_auth": True}},
                ),
                body,
            )
            script()
            got = await outcome(post, body)
            return expected, got
        finally:
            await post.close()

    return asyncio.run(run())


async def outcome(send: Send, body: dict[str, Any]) -> Any:
    try:
        return await send(body)
    except openai.OpenAIError as exc:
        return exc


def same_answer(expected: Any, got: Any) -> None:
    assert type(got) is type(expected)
    if isinstance(expected, openai.OpenAIError):
        assert str(got) == str(expected)
        assert getattr(got, "body", None) == getattr(expected, "body", None)
        assert type(got.__cause__) is type(expected.__cause__)
        if isinstance(expected, openai.APIStatusError):
            assert isinstance(got, openai.APIStatusError)
            assert got.status_code == expected.status_code
            assert got.response.headers.get("retry-after") == expected.response.headers.get(
                "retry-after"
            )
        return
    if isinstance(expected, ChatCompletion):
        for unset in (True, False):  # the same values, and the same fields given
            dumped = got.model_dump(exclude_unset=unset)
            assert unique(dumped) == unique(expected.model_dump(exclude_unset=unset))
        assert got._request_id is not None
        assert got._request_id.startswith("req_")
        return
    assert got == expected  # the SDK hands back the text of a body it cannot read


def unique(value: Any) -> Any:
    """``value`` without what differs between two answers to one request (ids, times)."""
    if isinstance(value, dict):
        return {k: None if k in ("id", "created") else unique(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unique(v) for v in value]
    return value


transports = pytest.mark.parametrize("transport", ["aiohttp", "httpx"])


@transports
def test_the_server_receives_the_sdks_headers_and_body(fake: FakeOpenAI, transport: str) -> None:
    on_both(fake.base_url, transport, lambda: None, BODY, organization="org-fake")

    assert fake.count == 3
    first, by_sdk, by_us = fake.request_headers
    for headers in (first, by_sdk, by_us):
        headers.pop("x-stainless-retry-count")
    assert by_us == by_sdk == first
    assert by_us["authorization"] == "Bearer sk-test-0123456789abcdef"
    assert by_us["openai-organization"] == "org-fake"
    assert fake.requests[2] == fake.requests[1] == BODY


@transports
def test_cookies_the_server_sets_are_sent_back_as_the_sdk_sends_them(
    fake: FakeOpenAI, transport: str
) -> None:
    # A load balancer's sticky session, set on the client's first answer and changed later.
    fake.enqueue(Reply(headers={"set-cookie": "lb=one; Path=/"}))
    on_both(
        fake.base_url,
        transport,
        lambda: fake.enqueue(Reply(headers={"set-cookie": "lb=two; Path=/"})),
        BODY,
    )

    assert fake.count == 3
    assert "cookie" not in fake.request_headers[0]
    assert fake.request_headers[1]["cookie"] == "lb=one"  # the SDK's own request
    assert fake.request_headers[2]["cookie"] == "lb=two"  # ours, after the SDK's got "two"


@transports
@pytest.mark.parametrize(
    "body", [BODY, TOOLS_BODY, LOGPROBS_BODY], ids=["json", "tools", "logprobs"]
)
def test_answers_are_the_sdks(fake: FakeOpenAI, transport: str, body: dict[str, Any]) -> None:
    fake.prompt_cache = PromptCache()  # usage with cached prompt tokens
    expected, got = on_both(fake.base_url, transport, lambda: None, body)

    assert isinstance(expected, ChatCompletion)
    same_answer(expected, got)


# Bodies the SDK reads leniently: an unknown finish reason and extra fields (vLLM,
# llama.cpp), a number where a string is declared, JSON sent as text/plain, and text.
ODD = {
    "id": "chatcmpl-odd",
    "object": "chat.completion",
    "created": 1,
    "model": "fake-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": '{"relevance": 5}', "reasoning": "x"},
            "finish_reason": "eos",
            "stop_reason": None,
        }
    ],
    "usage": {"prompt_tokens": "12", "completion_tokens": 3, "total_tokens": 15},
    "timings": {"predicted_ms": 1.5},
}
# Well formed but for one number sent as a string: no coercion, as the SDK makes none.
STRING_NUMBER = {
    **ODD,
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}
    ],
}


@transports
@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=json.dumps(ODD)),
        Reply(body=json.dumps(STRING_NUMBER)),
        Reply(body=json.dumps(ODD), headers={"content-type": "text/plain"}),
        Reply(body="the model is loading", headers={"content-type": "text/plain"}),
        Reply(body=json.dumps({"choices": []})),
    ],
    ids=["lenient", "string-number", "json-as-text", "text", "no-choices"],
)
def test_odd_bodies_are_read_as_the_sdk_reads_them(
    fake: FakeOpenAI, transport: str, reply: Reply
) -> None:
    expected, got = on_both(fake.base_url, transport, lambda: fake.enqueue(reply), BODY)

    same_answer(expected, got)


@transports
@pytest.mark.parametrize(
    "reply",
    [
        Reply.rate_limited(retry_after=3),
        Reply.insufficient_quota(),
        Reply.unauthorized(),
        Reply.context_length_exceeded(),
        Reply.server_error(503),
        Reply(status=502, body="<html>bad gateway</html>", headers={"content-type": "text/html"}),
        Reply(status=307, headers={"location": "http://127.0.0.1:9/elsewhere"}),
    ],
    ids=["429", "quota", "401", "context", "503", "html-502", "redirect-away"],
)
def test_error_statuses_raise_the_sdks_errors(
    fake: FakeOpenAI, transport: str, reply: Reply
) -> None:
    expected, got = on_both(fake.base_url, transport, lambda: fake.enqueue(reply), BODY)

    assert isinstance(expected, openai.OpenAIError)
    same_answer(expected, got)


@transports
def test_a_garbled_body_raises_what_the_sdk_raises(fake: FakeOpenAI, transport: str) -> None:
    async def run() -> tuple[BaseException, BaseException]:
        sdk = openai.AsyncOpenAI(
            base_url=fake.base_url, api_key="k", max_retries=0, http_client=http_client(transport)
        )
        post = ChatPost(sdk)
        try:
            await post(BODY)
            errors = []
            for send in (
                lambda: sdk.post("/chat/completions", body=BODY, cast_to=ChatCompletion),
                lambda: post(BODY),
            ):
                fake.enqueue(Reply.malformed())
                with pytest.raises(ValueError) as info:
                    await send()
                errors.append(info.value)
            return errors[0], errors[1]
        finally:
            await post.close()

    expected, got = asyncio.run(run())

    assert type(got) is type(expected)
    assert str(got) == str(expected)


@transports
def test_a_timeout_and_a_refused_connection_raise_the_sdks_errors(
    fake: FakeOpenAI, transport: str
) -> None:
    timed_out = on_both(
        fake.base_url, transport, lambda: fake.enqueue(Reply.hanging()), BODY, timeout=0.2
    )
    assert isinstance(timed_out[0], openai.APITimeoutError)
    same_answer(*timed_out)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once it is closed

    async def refused() -> tuple[BaseException, BaseException]:
        sdk = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key="k",
            max_retries=0,
            http_client=http_client(transport),
        )
        post = ChatPost(sdk)
        try:
            first = await outcome(post, BODY)  # the SDK's own
            second = await outcome(post, BODY)
            return first, second
        finally:
            await post.close()

    expected, got = asyncio.run(refused())
    assert isinstance(expected, openai.APIConnectionError)
    same_answer(expected, got)


def test_with_the_sdks_debug_log_on_every_request_is_logged_by_the_sdk(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        sdk = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        post = ChatPost(sdk)
        try:
            for _ in range(3):
                await post(BODY)
        finally:
            await post.close()

    with caplog.at_level(logging.DEBUG, logger="openai"):
        asyncio.run(run())

    sent = [r for r in caplog.records if r.getMessage().startswith("Sending HTTP Request: POST")]
    assert len(sent) == 3


def test_what_a_warmed_up_post_holds_shows_no_api_key(fake: FakeOpenAI) -> None:
    # The request template keeps the client's headers, Authorization among them;
    # a log line or a traceback's locals showing it must not show the key.
    async def run() -> str:
        sdk = openai.AsyncOpenAI(
            base_url=fake.base_url, api_key="sk-test-0123456789abcdef", max_retries=0
        )
        post = ChatPost(sdk)
        try:
            await post(BODY)
            await post(BODY)  # through the template
            return repr(vars(post))
        finally:
            await post.close()

    shown = asyncio.run(run())

    assert fake.count == 2
    assert "_Template(" in shown
    assert "0123456789abcdef" not in shown
