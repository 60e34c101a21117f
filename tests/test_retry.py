"""Unit tests of the retry policy (scorer.backends._retry): which failures are retried, how
long each wait is, and what the caller gets when retrying stops.

The errors are real ``openai`` exceptions built around real ``httpx2`` responses, the way the
``openai`` client raises them.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
from collections.abc import Callable
from pathlib import Path

import httpx2
import openai
import pytest

from scorer._errors import (
    BackendError,
    ConfigError,
    FatalBackendError,
    RequestRefusedError,
    RetryExhausted,
)
from scorer._settings import RetryPolicy, Settings
from scorer.backends._retry import (
    is_transient,
    retry_after_seconds,
    retrying,
    to_backend_error,
    with_retries,
)

URL = "http://127.0.0.1:9/v1/chat/completions"
REQUEST = httpx2.Request("POST", URL)

_CLASSES: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def status_error(
    status: int,
    headers: dict[str, str] | None = None,
    *,
    message: str = "something went wrong",
    code: str | None = None,
    type_: str = "invalid_request_error",
) -> openai.APIStatusError:
    """The exception the openai client raises for an HTTP error (body = the inner error)."""
    body = {"message": message, "type": type_, "param": None, "code": code}
    response = httpx2.Response(status, headers=headers or {}, json={"error": body}, request=REQUEST)
    cls = _CLASSES.get(status, openai.InternalServerError if status >= 500 else None)
    cls = cls or openai.APIStatusError
    return cls(
        f"Error code: {status} - {json.dumps({'error': body})}", response=response, body=body
    )


def rate_limited(headers: dict[str, str]) -> openai.APIStatusError:
    return status_error(429, headers, message="Rate limit reached", code="rate_limit_exceeded")


def insufficient_quota() -> openai.APIStatusError:
    return status_error(
        429,
        message="You exceeded your current quota, please check your plan and billing details.",
        code="insufficient_quota",
        type_="insufficient_quota",
    )


# -- retry_after_seconds ----------------------------------------------------------------------


def test_retry_after_ms_is_read_in_milliseconds() -> None:
    assert retry_after_seconds(rate_limited({"retry-after-ms": "1500"})) == 1.5


@pytest.mark.parametrize(("raw", "seconds"), [("2", 2.0), ("0.5", 0.5), ("0", 0.0), (" 7 ", 7.0)])
def test_retry_after_in_seconds(raw: str, seconds: float) -> None:
    assert retry_after_seconds(rate_limited({"retry-after": raw})) == seconds


def test_retry_after_ms_wins_over_retry_after() -> None:
    exc = rate_limited({"retry-after-ms": "250", "retry-after": "9"})
    assert retry_after_seconds(exc) == 0.25


def test_retry_after_http_date_counts_from_now() -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    at = float(email.utils.mktime_tz(email.utils.parsedate_tz(date)))  # type: ignore[arg-type]
    exc = rate_limited({"retry-after": date})
    assert retry_after_seconds(exc, now=lambda: at - 30) == 30.0
    assert retry_after_seconds(exc, now=lambda: at + 30) == 0.0  # in the past: go now


@pytest.mark.parametrize(
    "raw",
    [
        "soon",
        "",
        "-1",
        "nan",
        "inf",
        "1e999",
        "Mon, 99 Foo 2015 07:28:00 GMT",
        "Wed, 21 Oct 99999 07:28:00 GMT",  # parses, but mktime_tz cannot convert it
    ],
)
def test_garbage_retry_after_is_ignored(raw: str) -> None:
    assert retry_after_seconds(rate_limited({"retry-after": raw}), now=lambda: 0.0) is None


@pytest.mark.parametrize("raw_ms", ["soon", "-5", "nan", "inf"])
def test_garbage_retry_after_ms_falls_back_to_retry_after(raw_ms: str) -> None:
    exc = rate_limited({"retry-after-ms": raw_ms, "retry-after": "3"})
    assert retry_after_seconds(exc) == 3.0
    assert retry_after_seconds(rate_limited({"retry-after-ms": raw_ms})) is None


def test_no_retry_after_without_a_status_error() -> None:
    assert retry_after_seconds(rate_limited({})) is None
    assert retry_after_seconds(openai.APITimeoutError(request=REQUEST)) is None
    assert retry_after_seconds(ValueError("x")) is None


# -- is_transient -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
    ],
)
def test_is_transient_by_status(status: int, transient: bool) -> None:
    assert is_transient(status_error(status)) is transient


def test_insufficient_quota_is_not_transient() -> None:
    assert is_transient(insufficient_quota()) is False


def test_insufficient_quota_is_recognised_in_a_wrapped_body_and_by_type() -> None:
    wrapped = insufficient_quota()
    wrapped.body = {"error": wrapped.body}
    by_type = status_error(429, code=None, type_="insufficient_quota")
    assert is_transient(wrapped) is False
    assert is_transient(by_type) is False


@pytest.mark.parametrize(("status", "header", "transient"), [
    (400, "true", True),
    (401, "true", True),
    (503, "false", False),
    (429, "false", False),
    (500, "maybe", True),  # not a recognised value: the status decides
    (400, "maybe", False),
])  # fmt: skip
def test_x_should_retry_overrides_the_status(status: int, header: str, transient: bool) -> None:
    assert is_transient(status_error(status, {"x-should-retry": header})) is transient


def test_timeouts_connection_errors_and_garbled_bodies_are_transient() -> None:
    assert is_transient(openai.APITimeoutError(request=REQUEST))
    assert is_transient(openai.APIConnectionError(request=REQUEST))
    garbled = httpx2.Response(200, content=b'{"choices": [', request=REQUEST)
    assert is_transient(openai.APIResponseValidationError(garbled, None))
    assert is_transient(json.JSONDecodeError("Expecting value", '{"choices": [', 13))


def test_programming_errors_are_not_transient() -> None:
    assert not is_transient(TypeError("create() got an unexpected keyword argument"))
    assert not is_transient(KeyError("choices"))


# -- the wait strategy, driven through the real tenacity controller ---------------------------


def run_failing(
    policy: RetryPolicy, error: Callable[[int], BaseException]
) -> tuple[int, list[float], BaseException]:
    """Drive ``retrying(policy)`` over an operation that always fails with ``error(attempt)``.

    Returns the attempts made, the waits asked of the injected sleep, and what was raised;
    :func:`with_retries` (the backend's way in) must make the same attempts and waits.
    """
    waits: list[float] = []
    attempts = 0

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def fail() -> None:
        nonlocal attempts
        attempts += 1
        raise error(attempts)

    async def go() -> None:
        async for attempt in retrying(policy, sleep):
            with attempt:
                await fail()

    with pytest.raises(Exception) as info:
        asyncio.run(go())
    by_tenacity = attempts, waits, info.value

    waits, attempts = [], 0
    with pytest.raises(Exception) as info:
        asyncio.run(with_retries(policy, sleep, fail))
    assert attempts == by_tenacity[0]
    assert len(waits) == len(by_tenacity[1])
    if policy.jitter == 0:
        assert waits == by_tenacity[1]
    assert type(info.value) is type(by_tenacity[2])
    assert str(info.value) == str(by_tenacity[2])
    return attempts, waits, info.value


def test_with_retries_returns_the_first_success() -> None:
    policy = RetryPolicy(max_attempts=5, initial_wait=1.0, max_wait=10.0, jitter=0)
    waits: list[float] = []
    failures = [status_error(503), openai.APIConnectionError(request=REQUEST)]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def send() -> str:
        if failures:
            raise failures.pop(0)
        return "answer"

    assert asyncio.run(with_retries(policy, sleep, send)) == "answer"
    assert waits == [1.0, 2.0]
    assert asyncio.run(with_retries(policy, sleep, send)) == "answer"
    assert waits == [1.0, 2.0]  # a first success waits for nothing


def test_with_retries_of_one_attempt_raises_the_first_failure() -> None:
    attempts, waits, last = run_failing(RetryPolicy(max_attempts=1), lambda _: status_error(503))
    assert (attempts, waits) == (1, [])
    assert isinstance(last, openai.InternalServerError)


def test_retry_after_is_honoured() -> None:
    policy = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.05, jitter=0)
    attempts, waits, _ = run_failing(policy, lambda _: rate_limited({"retry-after": "2"}))
    assert attempts == 3
    assert waits == [2.0, 2.0]


def test_retry_after_is_capped_at_max_retry_after() -> None:
    policy = RetryPolicy(max_attempts=3, max_wait=1.0, max_retry_after=5.0)
    _, waits, _ = run_failing(policy, lambda _: rate_limited({"retry-after": "120"}))
    assert waits == [5.0, 5.0]


def test_without_retry_after_waits_grow_exponentially_up_to_max_wait() -> None:
    policy = RetryPolicy(max_attempts=6, initial_wait=1.0, max_wait=4.0, jitter=0)
    attempts, waits, _ = run_failing(policy, lambda _: status_error(503))
    assert attempts == 6
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_is_added_but_never_passes_max_wait() -> None:
    policy = RetryPolicy(max_attempts=8, initial_wait=0.5, max_wait=3.0, jitter=0.5)
    _, waits, _ = run_failing(policy, lambda _: openai.APITimeoutError(request=REQUEST))
    bases = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert len(waits) == 7
    for base, wait in zip(bases, waits, strict=True):
        assert min(base, 3.0) <= wait <= min(base + 0.5, 3.0)


def test_many_attempts_do_not_overflow_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=1100, initial_wait=0.5, max_wait=2.0, jitter=0)
    _, waits, _ = run_failing(policy, lambda _: status_error(500))
    assert len(waits) == 1099
    assert waits[-1] == 2.0


def test_a_mix_of_server_asked_and_backoff_waits() -> None:
    policy = RetryPolicy(max_attempts=4, initial_wait=1.0, max_wait=10.0, jitter=0)
    errors = {1: rate_limited({"retry-after-ms": "300"}), 2: status_error(502)}
    _, waits, last = run_failing(
        policy, lambda n: errors.get(n, openai.APIConnectionError(request=REQUEST))
    )
    assert waits == [0.3, 2.0, 4.0]  # the backoff counts attempts, whatever failed before
    assert isinstance(last, openai.APIConnectionError)


def test_the_last_error_is_reraised_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.01, jitter=0)
    attempts, _, last = run_failing(policy, lambda n: status_error(503, message=f"try {n}"))
    assert attempts == 4
    assert isinstance(last, openai.InternalServerError)
    assert "try 4" in str(last)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_fatal_errors_are_not_retried(status: int) -> None:
    attempts, waits, last = run_failing(RetryPolicy(), lambda _: status_error(status))
    assert attempts == 1
    assert waits == []
    assert isinstance(last, openai.APIStatusError)
    assert last.status_code == status


def test_insufficient_quota_is_not_retried_even_with_retry_after() -> None:
    def quota(_: int) -> BaseException:
        exc = insufficient_quota()
        exc.response.headers["retry-after"] = "1"
        return exc

    attempts, waits, _ = run_failing(RetryPolicy(), quota)
    assert (attempts, waits) == (1, [])


# -- to_backend_error -------------------------------------------------------------------------


def test_401_becomes_fatal_with_status_body_and_a_hint() -> None:
    exc = status_error(401, message="Incorrect API key provided.", code="invalid_api_key")
    error = to_backend_error(exc, attempts=1)
    assert type(error) is FatalBackendError
    assert error.status_code == 401
    assert error.body == exc.body
    assert error.attempts == 1
    assert "OPENAI_API_KEY" in str(error)
    assert "Incorrect API key provided." in str(error)


@pytest.mark.parametrize(
    ("exc", "status", "words"),
    [
        (insufficient_quota(), 429, "quota"),
        (status_error(403), 403, "may not use"),
        (status_error(404, message="The model `gpt-x` does not exist"), 404, "gpt-x"),
        (status_error(400, message="Invalid 'max_tokens'"), 400, "Invalid 'max_tokens'"),
        (status_error(422), 422, "refused"),
    ],
)
def test_non_transient_errors_become_fatal(
    exc: openai.APIStatusError, status: int, words: str
) -> None:
    error = to_backend_error(exc, attempts=1)
    assert type(error) is FatalBackendError
    assert error.status_code == status
    assert words in str(error)


@pytest.mark.parametrize("status", [429, 500, 503, 408, 409])
def test_transient_errors_become_retry_exhausted(status: int) -> None:
    exc = status_error(status, message="busy, come back later")
    error = to_backend_error(exc, attempts=4)
    assert type(error) is RetryExhausted
    assert error.status_code == status
    assert error.body == {
        "message": "busy, come back later",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert error.attempts == 4
    assert "4 attempt" in str(error)
    assert "busy, come back later" in str(error)


def test_timeout_becomes_retry_exhausted_without_a_status() -> None:
    error = to_backend_error(openai.APITimeoutError(request=REQUEST), attempts=3)
    assert type(error) is RetryExhausted
    assert (error.status_code, error.body, error.attempts) == (None, None, 3)
    assert "timed out" in str(error)


def test_connection_error_names_the_endpoint_without_its_query() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions?key=sekrit")
    error = to_backend_error(openai.APIConnectionError(request=request), attempts=6)
    assert type(error) is RetryExhausted
    assert error.attempts == 6
    assert "cannot connect" in str(error)
    assert "127.0.0.1:9/v1/chat/completions" in str(error)
    assert "sekrit" not in str(error)


def test_garbled_body_becomes_retry_exhausted() -> None:
    error = to_backend_error(json.JSONDecodeError("Expecting value", "{", 1), attempts=2)
    assert type(error) is RetryExhausted
    assert "unreadable answer" in str(error)


def test_every_translation_is_a_backend_error() -> None:
    for exc in (status_error(401), status_error(503), openai.APITimeoutError(request=REQUEST)):
        assert isinstance(to_backend_error(exc, attempts=1), BackendError)


# -- 400s: one paper's refusal, or every paper's --------------------------------------------------


def error_from_body(status: int, body: dict[str, object]) -> openai.APIStatusError:
    """The exception the client raises for ``body`` (whole JSON answer) with ``status``."""
    response = httpx2.Response(status, json=body, request=REQUEST)
    inner = body.get("error", body)
    cls = _CLASSES.get(status, openai.APIStatusError)
    return cls(f"Error code: {status} - {json.dumps(body)}", response=response, body=inner)


def recorded_error(name: str) -> dict[str, object]:
    """The error answer in a real recorded OpenAI exchange (../shared/data/openai_responses)."""
    yaml = pytest.importorskip("yaml")
    path = ROOT_DATA / "openai_responses" / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"shared data not here: {path}")
    cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
    answers = [i["response"]["parsed_body"] for i in cassette["interactions"]]
    return next(a for a in answers if isinstance(a, dict) and "error" in a)


ROOT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OPENAI_CONTEXT = {
    "error": {
        "message": "This model's maximum context length is 128000 tokens. However, your "
        "messages resulted in 132207 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
VLLM_CONTEXT = {
    "object": "error",
    "message": "This model's maximum context length is 4096 tokens. However, you requested "
    "5120 tokens (4736 in the messages, 384 in the completion). Please reduce the length of "
    "the messages or completion.",
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
LLAMA_CPP_CONTEXT = {
    "error": {
        "code": 400,
        "message": "the request exceeds the available context size, try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 4611,
        "n_ctx": 4096,
    }
}
AZURE_FILTER = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
    }
}
INVALID_PROMPT = {
    "error": {
        "message": "Invalid prompt: your prompt was flagged as potentially violating our "
        "usage policy.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_prompt",
    }
}
TOO_LONG_STRING = {
    "error": {
        "message": "Invalid 'messages[1].content': string too long. Expected a string with "
        "maximum length 10485760, but got a string with length 12000000 instead.",
        "type": "invalid_request_error",
        "param": "messages[1].content",
        "code": "string_above_max_length",
    }
}
UNSUPPORTED_PARAMETER = {
    "error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
}
UNSUPPORTED_FORMAT = {
    "error": {
        "message": "Invalid parameter: 'response_format' of type 'json_schema' is not "
        "supported with this model.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
}


@pytest.mark.parametrize(
    "body",
    [
        OPENAI_CONTEXT,
        VLLM_CONTEXT,
        LLAMA_CPP_CONTEXT,
        AZURE_FILTER,
        INVALID_PROMPT,
        TOO_LONG_STRING,
    ],
    ids=[
        "openai-context",
        "vllm-context",
        "llamacpp-context",
        "azure-filter",
        "invalid-prompt",
        "string-too-long",
    ],
)
def test_a_400_about_one_papers_text_fails_that_paper_only(body: dict[str, object]) -> None:
    exc = error_from_body(400, body)
    assert not is_transient(exc)
    error = to_backend_error(exc, attempts=1)
    assert type(error) is RequestRefusedError
    assert not isinstance(error, FatalBackendError)
    assert error.status_code == 400
    assert "refused this paper" in str(error)


@pytest.mark.parametrize(
    "body", [UNSUPPORTED_PARAMETER, UNSUPPORTED_FORMAT], ids=["max_tokens", "response_format"]
)
def test_a_400_every_request_gets_is_fatal(body: dict[str, object]) -> None:
    error = to_backend_error(error_from_body(400, body), attempts=1)
    assert type(error) is FatalBackendError


@pytest.mark.parametrize(
    "name",
    ["test_openai_o1_mini_system_rolesystem", "test_openai_web_search_tool_model_not_supported"],
)
def test_recorded_openai_400s_about_the_request_shape_are_fatal(name: str) -> None:
    # Real answers: "'messages[0].role' does not support 'system'" (code unsupported_value)
    # and "Web search options not supported with this model": every paper would get them.
    error = to_backend_error(error_from_body(400, recorded_error(name)), attempts=1)
    assert type(error) is FatalBackendError


def test_a_refused_connection_names_the_setting_and_the_url_but_no_secret() -> None:
    request = httpx2.Request("POST", "http://user:sk-secret-123456@127.0.0.1:9/v1/chat/completions")
    error = to_backend_error(openai.APIConnectionError(request=request), attempts=3)
    assert type(error) is RetryExhausted and error.unreachable
    assert "check OPENAI_BASE_URL" in str(error)
    assert "http://127.0.0.1:9/v1/chat/completions" in str(error)
    assert "sk-secret" not in str(error)


def test_a_timeout_is_marked_as_one() -> None:
    error = to_backend_error(openai.APITimeoutError(request=REQUEST), attempts=2)
    assert type(error) is RetryExhausted
    assert error.timed_out and not error.unreachable


# -- the policy from the environment ---------------------------------------------------------------


def test_retry_policy_comes_from_the_environment_unless_given() -> None:
    env = {
        "SCORER_MAX_ATTEMPTS": "2",
        "SCORER_RETRY_MAX_WAIT": "0.5",
        "SCORER_MAX_CONSECUTIVE_TIMEOUTS": "5",
    }
    policy = Settings.resolve(env=env).retry
    assert policy.max_attempts == 2
    assert policy.max_wait == 0.5 and policy.max_retry_after == 0.5 and policy.jitter <= 0.5
    assert policy.max_consecutive_timeouts == 5
    assert Settings.resolve(env={}).retry == RetryPolicy()
    explicit = RetryPolicy(max_attempts=9)
    assert Settings.resolve(env=env, retry=explicit).retry == explicit


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCORER_MAX_ATTEMPTS", "0"),
        ("SCORER_RETRY_MAX_WAIT", "-1"),
        ("SCORER_RETRY_MAX_WAIT", "nan"),
        ("SCORER_MAX_CONSECUTIVE_TIMEOUTS", "x"),
    ],
)
def test_a_bad_retry_variable_is_a_config_error_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.resolve(env={name: value})


def test_a_wait_cap_from_the_environment_bounds_a_servers_retry_after() -> None:
    policy = Settings.resolve(env={"SCORER_RETRY_MAX_WAIT": "0"}).retry
    attempts, waits, _ = run_failing(policy, lambda _: rate_limited({"retry-after": "30"}))
    assert attempts == policy.max_attempts
    assert waits == [0.0] * (policy.max_attempts - 1)
