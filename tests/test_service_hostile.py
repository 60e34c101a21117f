"""Hostile bodies: a single request is a 422 that says why (never a 500), and in a batch one
bad record is one invalid line, named by its line or index, while the rest are scored.
The real app under uvicorn on loopback, the fake OpenAI server behind it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scorer import Settings
from scorer.service import create_app
from scorer.service._background import serve_in_thread
from scorer.testing import FakeOpenAI

GOOD = {"title": "A paper about KV caches", "abstract": "We move KV caches to storage."}
DEEP = b"[" * 5000 + b"]" * 5000  # json.loads overflows the stack on it
NESTED_40 = b'{"a":' * 40 + b"1" + b"}" * 40  # parses, but no paper nests that deep


@contextlib.contextmanager
def client(settings: Settings) -> Iterator[httpx.Client]:
    with (
        serve_in_thread(create_app(settings, api_token=None)) as base_url,
        httpx.Client(base_url=base_url, trust_env=False, verify=False, timeout=30) as http,
    ):
        yield http


def lines(answer: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in answer.text.splitlines()]


def paper_line(**fields: object) -> bytes:
    return json.dumps({**GOOD, **fields}).encode()


def test_hostile_lines_of_an_ndjson_batch_are_invalid_records_and_the_rest_are_scored(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    body = b"\n".join(
        [
            b'{"rubric": "llm-inference", "concurrency": 2}',  # 1: the header
            paper_line(title="First good paper"),  # 2
            paper_line(title="NUL \u0000 inside"),  # 3
            b'{"title": "t", "abstract": "a", "x": ' + DEEP + b"}",  # 4
            b'{"title": ["a", "list"], "abstract": {"not": "text"}}',  # 5
            b'{"title": "caf\xe9 in latin-1", "abstract": "a"}',  # 6: not UTF-8
            b'{"title": "lone \\ud800 surrogate", "abstract": "a"}',  # 7
            b'{"title": "cut off", "abstr',  # 8
            b"   ",  # 9: blank, skipped
            paper_line(title="Second good paper", authors=["A. Author"]),  # 10
            paper_line(published=30159744364),  # 11: a year past 9999
            b'{"title": "t", "abstract": "a", "n": 1' + b"0" * 5000 + b"}",  # 12
            b'["not", "an", "object"]',  # 13
            b'{"title": "t", "abstract": "a", "x": ' + NESTED_40 + b"}",  # 14
        ]
    )
    with client(fake_settings) as http:
        answer = http.post(
            "/v1/score/batch", content=body, headers={"content-type": "application/x-ndjson"}
        )
    assert answer.status_code == 200, answer.text
    records = lines(answer)
    invalid = {r["line"]: r["error"] for r in records if "line" in r}
    assert sorted(invalid) == [3, 4, 5, 6, 7, 8, 11, 12, 13, 14]
    assert all(error.startswith(f"line {n}") for n, error in invalid.items())
    assert "NUL" in invalid[3]
    assert "nested too deeply" in invalid[4] and "more than 32 levels" in invalid[14]
    assert "title: Input should be a valid string" in invalid[5]
    assert "not UTF-8 text (byte 0xe9" in invalid[6]
    assert "not valid Unicode" in invalid[7]
    assert "not valid JSON" in invalid[8]
    assert "between 1 and 9999" in invalid[11]
    scored = sorted(r["paper"]["title"] for r in records if "paper" in r)
    assert scored == ["First good paper", "Second good paper"]
    summary = records[-1]["summary"]
    assert summary["scanned"] == 12 and summary["invalid"] == 10
    assert summary["scored"] == 2 and summary["failed"] == 0 and summary["complete"]
    assert fake.count == 2


def test_bad_papers_of_a_json_batch_are_invalid_records_by_index(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    body = (
        b'{"rubric": "llm-inference", "papers": ['
        + b",".join(
            [
                paper_line(title="Good one"),
                b'{"title": 42, "abstract": null}',
                paper_line(title="NUL \u0000"),
                b'{"title": "t", "abstract": "a", "x": ' + NESTED_40 + b"}",
                b'{"title": "\\udfff", "abstract": "a"}',
                b'"just a string"',
                paper_line(title="Good two"),
            ]
        )
        + b"]}"
    )
    with client(fake_settings) as http:
        answer = http.post(
            "/v1/score/batch", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 200, answer.text
    records = lines(answer)
    invalid = {r["index"]: r["error"] for r in records if "index" in r}
    assert sorted(invalid) == [1, 2, 3, 4, 5]
    assert invalid[1].startswith("papers.1: title: Input should be a valid string")
    assert sorted(r["paper"]["title"] for r in records if "paper" in r) == ["Good one", "Good two"]
    assert records[-1]["summary"]["invalid"] == 5 and records[-1]["summary"]["scanned"] == 7
    assert fake.count == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"paper": {"title": "t", "abstract": "a", "x": ' + DEEP + b'}, "rubric": "x"}',
            "nested too deeply",
        ),
        (
            b'{"paper": {"title": "t", "abstract": "a", "x": ' + NESTED_40 + b'}, "rubric": "x"}',
            "nested more than 32 levels deep",
        ),
        (b'{"paper": {"title": "a\\u0000b", "abstract": "a"}, "rubric": "x"}', "NUL"),
        (b'{"paper": {"title": "a\xff", "abstract": "a"}, "rubric": "x"}', "not UTF-8 text"),
        (
            b'{"paper": {"title": "t", "abstract": "a", "n": 1'
            + b"0" * 5000
            + b'}, "rubric": "x"}',
            "4300 digits",
        ),
        (
            b'{"paper": {"title": "t", "abstract": "a"}, "rubric": {"title": ' + NESTED_40 + b"}}",
            "nested more than 32 levels deep",
        ),
        (
            b'{"paper": {"title": {"a": 1}, "abstract": "a"}, "rubric": "llm-inference"}',
            "Input should be a valid string",
        ),
        (b"[]", "Input should be a valid dictionary"),
        (b"null", "Input should be a valid dictionary"),
    ],
)
def test_a_hostile_single_request_is_a_422_saying_why(
    fake: FakeOpenAI, fake_settings: Settings, body: bytes, message: str
) -> None:
    with client(fake_settings) as http:
        answer = http.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert message in answer.text
    assert len(answer.content) < 10_000  # the hostile input is not echoed back whole
    assert fake.count == 0


@pytest.mark.parametrize(
    "first",
    [b'{"title": "t", "abstract": "a"}', b"", b"not json", b'{"rubric": "x", "papers": []}'],
)
def test_an_ndjson_batch_without_its_header_line_is_a_422(
    fake: FakeOpenAI, fake_settings: Settings, first: bytes
) -> None:
    body = first + b"\n" + paper_line()
    with client(fake_settings) as http:
        answer = http.post(
            "/v1/score/batch", content=body, headers={"content-type": "application/x-ndjson"}
        )
    assert answer.status_code == 422, answer.text
    assert "line 1" in answer.text
    assert fake.count == 0


def test_invalid_records_count_towards_the_batch_limit(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    body = b"\n".join([b'{"rubric": "llm-inference"}', paper_line(), b"{", b"{", b"{"])
    with (
        serve_in_thread(create_app(fake_settings, api_token=None, max_batch=3)) as base_url,
        httpx.Client(base_url=base_url, trust_env=False, verify=False, timeout=30) as http,
    ):
        answer = http.post(
            "/v1/score/batch", content=body, headers={"content-type": "application/x-ndjson"}
        )
    assert answer.status_code == 413 and "too many papers: 4" in answer.text
    assert fake.count == 0
