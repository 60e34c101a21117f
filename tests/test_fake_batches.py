"""The fake server's files and Batch API, and its prompt cache, through the real openai client."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from scorer.testing import BatchPlay, FakeOpenAI, PromptCache, Reply


def client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


def request_lines(n: int) -> bytes:
    lines = []
    for i in range(n):
        body = {
            "model": "fake-model",
            "messages": [
                {"role": "system", "content": "You score papers on one shared rubric text."},
                {"role": "user", "content": f"Paper {i}"},
            ],
        }
        line = {"custom_id": f"k{i}", "method": "POST", "url": "/v1/chat/completions"}
        lines.append(json.dumps({**line, "body": body}) + "\n")
    return "".join(lines).encode()


def submit(fake: FakeOpenAI, data: bytes) -> tuple[openai.OpenAI, str]:
    api = client(fake)
    upload = api.files.create(file=("in.jsonl", data), purpose="batch")
    batch = api.batches.create(
        input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    return api, batch.id


def lines_of(api: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(x) for x in api.files.content(file_id).text.splitlines()]


def test_a_batch_runs_in_progress_for_n_polls_then_completes(fake: FakeOpenAI) -> None:
    fake.batch_api.play(BatchPlay(in_progress_polls=2))
    api, batch_id = submit(fake, request_lines(3))
    assert [api.batches.retrieve(batch_id).status for _ in range(3)] == [
        "in_progress",
        "in_progress",
        "completed",
    ]
    done = api.batches.retrieve(batch_id)
    assert done.request_counts is not None and done.request_counts.completed == 3
    output = lines_of(api, done.output_file_id)
    assert [line["custom_id"] for line in output] == ["k0", "k1", "k2"]
    assert all(line["response"]["body"]["choices"][0]["message"]["content"] for line in output)
    assert done.error_file_id is None and fake.count == 0 and len(fake.batch_requests) == 3


def test_an_expired_batch_has_part_of_the_output_and_expired_error_lines(
    fake: FakeOpenAI,
) -> None:
    fake.batch_api.play(BatchPlay(status="expired", ran=1))
    api, batch_id = submit(fake, request_lines(3))
    batch = api.batches.retrieve(batch_id)
    assert batch.status == "expired"
    assert [x["custom_id"] for x in lines_of(api, batch.output_file_id)] == ["k0"]
    errors = lines_of(api, batch.error_file_id)
    assert [(e["custom_id"], e["error"]["code"]) for e in errors] == [
        ("k1", "batch_expired"),
        ("k2", "batch_expired"),
    ]


def test_scripted_error_replies_go_to_the_error_file(fake: FakeOpenAI) -> None:
    fake.answer_when("Paper 1", Reply.server_error(500))
    api, batch_id = submit(fake, request_lines(2))
    batch = api.batches.retrieve(batch_id)
    assert batch.status == "completed"
    (error,) = lines_of(api, batch.error_file_id)
    assert error["custom_id"] == "k1" and error["response"]["status_code"] == 500
    assert [x["custom_id"] for x in lines_of(api, batch.output_file_id)] == ["k0"]


def test_failed_batches_say_why(fake: FakeOpenAI) -> None:
    api, batch_id = submit(fake, request_lines(1) + b"{not json\n")
    batch = api.batches.retrieve(batch_id)
    assert batch.status == "failed" and batch.errors and batch.errors.data
    assert batch.errors.data[0].code == "invalid_json_line" and batch.errors.data[0].line == 2
    assert batch.output_file_id is None

    fake.batch_api.play(BatchPlay(status="failed"))
    api, batch_id = submit(fake, request_lines(1))
    assert api.batches.retrieve(batch_id).status == "failed"
    assert not fake.batch_requests[1:]  # a failed batch answers nothing


def test_cancel_a_running_batch_and_unknown_ids(fake: FakeOpenAI) -> None:
    fake.batch_api.play(BatchPlay(in_progress_polls=5))
    api, batch_id = submit(fake, request_lines(2))
    assert api.batches.cancel(batch_id).status == "cancelled"
    batch = api.batches.retrieve(batch_id)
    assert batch.status == "cancelled" and batch.output_file_id is None
    codes = {e["error"]["code"] for e in lines_of(api, batch.error_file_id)}
    assert codes == {"batch_cancelled"}
    with pytest.raises(openai.NotFoundError):
        api.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        api.files.content("file-nope")


def test_the_prompt_cache_reports_the_repeated_prefix() -> None:
    cache = PromptCache(minimum=4, step=2)
    shared = ["one", "two", "three", "four", "five", "six"]
    assert cache.cached_tokens([*shared, "a"]) == 0
    assert cache.cached_tokens([*shared, "b", "c"]) == 6  # in steps of 2 from 4
    assert cache.cached_tokens(["x", *shared]) == 0  # a prefix, not any repeated text
    assert cache.cached_tokens(shared[:3]) == 0  # below the minimum


def test_answers_carry_cached_tokens_when_asked(fake: FakeOpenAI) -> None:
    api = client(fake)
    messages: Any = [
        {"role": "system", "content": " ".join(f"w{i}" for i in range(40))},
        {"role": "user", "content": "a paper"},
    ]
    plain = api.chat.completions.create(model="fake-model", messages=messages)
    assert plain.usage is not None and plain.usage.prompt_tokens_details is None
    fake.prompt_cache = PromptCache(minimum=8, step=8)
    first, second = (
        api.chat.completions.create(model="fake-model", messages=messages) for _ in range(2)
    )
    assert first.usage and first.usage.prompt_tokens_details
    assert second.usage and second.usage.prompt_tokens_details
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert second.usage.prompt_tokens_details.cached_tokens == 40  # 42 words, steps of 8
