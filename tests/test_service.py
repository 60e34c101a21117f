"""The HTTP service: the real app under uvicorn on a loopback port, a real HTTP client,
the fake OpenAI server behind it; and ``scorer serve`` as a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from subprocesses import SCORER, started
from subprocesses import run as run_group

from scorer import Settings, builtin_rubric_names
from scorer.service import create_app
from scorer.service._background import serve_in_thread
from scorer.testing import FakeOpenAI, Reply

TOKEN = "svc-token-5b8e0f2a9c"
BANNER = re.compile(r"serving on (http://\S+) \(bearer token required")
API_KEY = "sk-test-0123456789abcdef"  # the fake_settings fixture's model key
PAPER = {
    "id": "2602.21548v1",
    "title": "DualPath: Breaking the Storage Bandwidth Bottleneck in Agentic LLM Inference",
    "abstract": "Multi-turn agentic LLM inference is dominated by KV-Cache storage I/O.",
    "authors": ["Yongtong Wu", "Shaoyuan Chen"],
    "published": "2026-02-25",
}
RUBRIC = {
    "name": "my-topic",
    "title": "My topic",
    "description": "Papers about rigorous benchmarking of inference systems.",
    "threshold": 60,
    "dimensions": [
        {"name": "rigor", "description": "How careful the evaluation is.", "scale": {"0": "None."}}
    ],
}


@contextlib.contextmanager
def serving(settings: Settings, token: str | None = None, **limits: Any) -> Iterator[httpx.Client]:
    """The app on 127.0.0.1 (a free port) and a client for it, sending ``token`` if given.

    Plain HTTP on loopback, here and in the other service tests: ``verify=False``
    only spares each client loading the CA bundle (50-150 ms of CPU) it would not use.
    """
    app = create_app(settings, api_token=token, **limits)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with (
        serve_in_thread(app) as base_url,
        httpx.Client(
            base_url=base_url, headers=headers, timeout=20, trust_env=False, verify=False
        ) as client,
    ):
        yield client


def papers(n: int, prefix: str = "Paper") -> list[dict[str, str]]:
    return [{"title": f"{prefix} {i}", "abstract": f"Abstract number {i}."} for i in range(n)]


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample {name} {labels}")


# -- POST /v1/score --------------------------------------------------------------------------


def test_score_one_by_name_then_from_cache(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings) as client:
        first = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
        again = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["paper"]["id"] == "2602.21548v1"
    assert set(body["scores"]) == {"relevance", "hype"}
    assert body["rubric"] == "llm-inference" and not body["cached"]
    assert body["usage"]["requests"] == 1
    assert again.json()["cached"] and again.json()["scores"] == body["scores"]
    assert fake.count == 1


def test_score_one_with_an_inline_rubric(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings) as client:
        answer = client.post("/v1/score", json={"paper": PAPER, "rubric": RUBRIC})
        unnamed = {k: v for k, v in RUBRIC.items() if k != "name"}
        again = client.post("/v1/score", json={"paper": PAPER, "rubric": unnamed})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rubric"] == "my-topic"
    assert set(answer.json()["scores"]) == {"rigor"}
    assert again.json()["rubric"] == "inline"  # the name is optional, and not in the cache key
    assert again.json()["cached"]
    assert "rigorous benchmarking" in json.dumps(fake.requests[0])


def test_an_inline_copy_of_a_builtin_shares_its_cache(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    with serving(fake_settings) as client:
        builtin = client.get("/v1/rubrics/llm-inference").json()
        by_name = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
        inline = client.post("/v1/score", json={"paper": PAPER, "rubric": builtin})
    assert inline.json()["rubric_fingerprint"] == by_name.json()["rubric_fingerprint"]
    assert inline.json()["cached"] and fake.count == 1


@pytest.mark.parametrize(
    ("rubric", "field"),
    [
        ({**RUBRIC, "dimensions": [{"name": "Bad Name", "description": "x"}]}, "name"),
        ({**RUBRIC, "threshold": 101}, "threshold"),
        ({**RUBRIC, "colour": "blue"}, "colour"),
        ({**RUBRIC, "dimensions": []}, "inline"),
        ({**RUBRIC, "method": "samples=999"}, "inline"),
        (42, "rubric"),
    ],
)
def test_an_invalid_inline_rubric_is_a_422_naming_the_field(
    fake: FakeOpenAI, fake_settings: Settings, rubric: object, field: str
) -> None:
    with serving(fake_settings) as client:
        answer = client.post("/v1/score", json={"paper": PAPER, "rubric": rubric})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"][:2] == ["body", "rubric"]
    assert error["loc"][-1] == field or field in error["loc"]
    assert fake.count == 0


def test_rubric_names_never_reach_files(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A valid rubric file the server could read, if a name were ever taken as a path.
    (tmp_path / "evil.toml").write_text('title = "t"\ndescription = "d"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    names = [
        "../../etc/passwd",
        "/etc/passwd",
        str(tmp_path / "evil.toml"),
        "evil.toml",
        "..",
        "llm-inference.toml",
        "../rubrics/llm-inference",
    ]
    with serving(fake_settings) as client:
        answers = [client.post("/v1/score", json={"paper": PAPER, "rubric": n}) for n in names]
        unknown = client.post("/v1/score", json={"paper": PAPER, "rubric": "evil"})
        by_path = client.get("/v1/rubrics/..%2F..%2Fetc%2Fpasswd")
        missing = client.get("/v1/rubrics/evil")
    assert [a.status_code for a in answers] == [422] * len(names)
    assert unknown.status_code == 422
    assert "unknown rubric 'evil' (built-in: " in unknown.json()["detail"][0]["msg"]
    assert by_path.status_code in (404, 422)
    assert missing.status_code == 404 and "unknown rubric 'evil'" in missing.json()["detail"]
    assert fake.count == 0


def test_invalid_papers_are_422(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings) as client:
        no_abstract = client.post("/v1/score", json={"paper": {"title": "t"}, "rubric": "x"})
        blank = client.post(
            "/v1/score", json={"paper": {"title": " ", "abstract": "a"}, "rubric": "llm-inference"}
        )
        not_json = client.post(
            "/v1/score", content=b"{nope", headers={"content-type": "application/json"}
        )
    assert no_abstract.status_code == blank.status_code == not_json.status_code == 422
    assert ["body", "paper", "abstract"] in [e["loc"] for e in no_abstract.json()["detail"]]
    assert fake.count == 0


@pytest.mark.parametrize("name", ["model_dump", "model_config", "model_validate", "json", "copy"])
def test_dimension_names_pydantic_cannot_take_are_422(
    fake: FakeOpenAI, fake_settings: Settings, name: str
) -> None:
    # Found by fuzzing: each dimension becomes a pydantic field, and these were 500s.
    rubric = {**RUBRIC, "dimensions": [{"name": name, "description": "d"}]}
    with serving(fake_settings) as client:
        answer = client.post("/v1/score", json={"paper": PAPER, "rubric": rubric})
    assert answer.status_code == 422, answer.text
    assert f"'{name}' is reserved" in answer.json()["detail"][0]["msg"]
    assert fake.count == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/score", b'{"paper": {"title": "a\\ud800", "abstract": "b"}, "rubric": "x"}'),
        ("/v1/score", b'{"paper": {"title": "a", "abstract": "b", "x": "\\ud800"}, "rubric": "x"}'),
        (
            "/v1/score",
            b'{"paper": {"title": "a", "abstract": "b"}, "rubric": {"title": "\\udfff"}}',
        ),
    ],
)
def test_lone_surrogates_are_422(
    fake: FakeOpenAI, fake_settings: Settings, path: str, body: bytes
) -> None:
    # Valid JSON that UTF-8 cannot encode: echoing or storing it was a 500 (or a cut stream).
    with serving(fake_settings) as client:
        answer = client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert "not valid Unicode" in answer.text
    assert fake.count == 0


def test_a_lone_surrogate_in_a_batch_is_one_invalid_record(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    body = b'{"papers": [{"title": "a", "abstract": "b", "\\ud800": 1}], "rubric": "llm-inference"}'
    with serving(fake_settings) as client:
        answer = client.post(
            "/v1/score/batch", content=body, headers={"content-type": "application/json"}
        )
    assert answer.status_code == 200, answer.text
    record, summary = ndjson(answer)
    assert record["index"] == 0 and "not valid Unicode" in record["error"]
    assert summary["summary"]["invalid"] == 1
    assert fake.count == 0


def test_a_year_too_large_for_a_date_is_422(fake: FakeOpenAI, fake_settings: Settings) -> None:
    # Found by fuzzing: Paper's date parsing raised OverflowError (a 500) for this.
    paper = {**PAPER, "published": 30159744364}
    with serving(fake_settings) as client:
        one = client.post("/v1/score", json={"paper": paper, "rubric": "llm-inference"})
        many = client.post("/v1/score/batch", json={"papers": [paper], "rubric": "llm-inference"})
    assert one.status_code == 422
    assert "a year must be between 1 and 9999" in one.json()["detail"][0]["msg"]
    (record, _) = ndjson(many)  # in a batch, one invalid record; the rest would go on
    assert "a year must be between 1 and 9999" in record["error"]


def test_model_errors_map_to_502_and_503_without_the_key(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    with serving(fake_settings) as client:
        fake.enqueue(Reply.unauthorized())
        rejected = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
        fake.enqueue(*[Reply.server_error(503)] * fake_settings.retry.max_attempts)
        flaky = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
        fine = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
    assert rejected.status_code == 502, rejected.text
    assert rejected.json()["error"] == "FatalBackendError"
    assert "401" in rejected.json()["detail"]
    assert flaky.status_code == 503 and flaky.json()["error"] == "RetryExhausted"
    assert fine.status_code == 200
    for answer in (rejected, flaky):
        assert API_KEY not in answer.text


def test_concurrent_requests_for_one_paper_share_one_model_call(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.latency = 0.3
    with serving(fake_settings) as client:

        async def both() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=str(client.base_url), trust_env=False, verify=False
            ) as ac:
                body = {"paper": PAPER, "rubric": "llm-inference"}
                return await asyncio.gather(*(ac.post("/v1/score", json=body) for _ in range(4)))

        answers = asyncio.run(both())
    assert [a.status_code for a in answers] == [200] * 4
    assert fake.count == 1
    assert sorted(a.json()["cached"] for a in answers) == [False, True, True, True]


# -- POST /v1/score/batch --------------------------------------------------------------------


def test_batch_streams_each_result_as_it_finishes(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    slow = threading.Event()
    fake.enqueue(Reply(gate=slow))  # whichever paper is asked first answers last
    arrivals: list[tuple[bool, dict[str, Any]]] = []  # (slow paper answered yet?, line)
    # Time enough for the four quick answers on a busy machine: the gate, not a
    # timeout, decides when the slow paper is answered.
    # probe_wait 0: the quick papers need not wait for the slow one's verdict on the
    # answer format (for at most 2 s) before they are asked.
    patient = replace(fake_settings, timeout=120.0, probe_wait=0.0)
    with serving(patient) as client:
        body = {"papers": papers(5), "rubric": "llm-inference"}
        with client.stream("POST", "/v1/score/batch", json=body) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/x-ndjson"
            for line in answer.iter_lines():
                arrivals.append((slow.is_set(), json.loads(line)))
                if sum("paper" in seen for _, seen in arrivals) == 4:
                    slow.set()  # only now may the slow paper be answered
    results = [(answered, line) for answered, line in arrivals if "paper" in line]
    assert len(results) == 5
    # The four quick answers reached the client while the fake still held the slow
    # paper's request: lines are streamed as they finish, not held for the whole
    # batch. (A service that held them would wait for the slow paper until its
    # request timed out and went again: a sixth request.)
    assert not any(answered for answered, _ in results[:4]), results
    assert fake.count == 5
    slow_title = fake.requests[0]["messages"][-1]["content"]
    assert results[-1][1]["paper"]["title"] in slow_title
    *_, (_, last) = arrivals
    assert last["summary"]["unique"] == 5 and last["summary"]["complete"]


def test_batch_merges_duplicates_and_counts_once(fake: FakeOpenAI, fake_settings: Settings) -> None:
    same = [
        {"id": "2602.21548", "title": "A", "abstract": "x"},
        {"id": "arXiv:2602.21548v2", "title": "A (v2)", "abstract": "x"},
        {"url": "https://arxiv.org/abs/2602.21548v1", "title": "A again", "abstract": "x"},
        {"title": "Title Only", "abstract": "y"},
        {"title": "  title   ONLY ", "abstract": "y"},
        {"title": "Another", "abstract": "z"},
    ]
    with serving(fake_settings) as client:
        answer = client.post("/v1/score/batch", json={"papers": same, "rubric": "llm-inference"})
    lines = ndjson(answer)
    results = [line for line in lines if "paper" in line]
    assert len(results) == 3 and fake.count == 3
    summary = lines[-1]["summary"]
    assert summary["scanned"] == 6 and summary["unique"] == 3 and summary["duplicates"] == 3
    assert summary["scored"] == 3 and summary["tokens"] > 0


def test_batch_failed_paper_is_a_line_and_the_rest_go_on(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.enqueue(*[Reply.server_error()] * fake_settings.retry.max_attempts)
    with serving(fake_settings) as client:
        body = {"papers": papers(3), "rubric": "llm-inference", "concurrency": 1}
        lines = ndjson(client.post("/v1/score/batch", json=body))
    failed = [line for line in lines if line.get("error")]
    assert len(failed) == 1 and "paper" in failed[0]
    assert "attempts" in failed[0]["error"] or "500" in failed[0]["error"]
    assert lines[-1]["summary"] | {"wall_s": 0, "tokens": 0} == {
        "scanned": 3,
        "unique": 3,
        "duplicates": 0,
        "scored": 2,
        "cached": 0,
        "failed": 1,
        "invalid": 0,
        "above_threshold": lines[-1]["summary"]["above_threshold"],
        "tokens": 0,
        "wall_s": 0,
        "complete": True,
        # One model: no panel, nothing to agree on or escalate (tests/test_reviewers.py).
        "panel": None,
        "needs_human": 0,
        "kappa": None,
        "escalated": 0,
    }


def test_batch_fatal_error_first_is_a_502(fake: FakeOpenAI, fake_settings: Settings) -> None:
    fake.enqueue(Reply.unauthorized())
    with serving(fake_settings) as client:
        body = {"papers": papers(5), "rubric": "llm-inference", "concurrency": 1}
        answer = client.post("/v1/score/batch", json=body)
    assert answer.status_code == 502
    assert answer.json()["error"] == "FatalBackendError"
    assert API_KEY not in answer.text
    assert fake.count == 1  # the other papers were not sent


def test_batch_fatal_error_later_ends_the_stream_with_an_error_line(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.enqueue(Reply(), Reply.unauthorized())
    with serving(fake_settings) as client:
        body = {"papers": papers(5), "rubric": "llm-inference", "concurrency": 1}
        answer = client.post("/v1/score/batch", json=body)
    assert answer.status_code == 200
    first, error, summary = ndjson(answer)
    assert "scores" in first
    assert error["error"]["type"] == "FatalBackendError" and error["error"]["status"] == 502
    assert summary["summary"]["complete"] is False and summary["summary"]["scored"] == 1
    assert API_KEY not in answer.text
    assert fake.count == 2


def test_batch_concurrency_is_capped_by_the_server(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    # The first requests are held until three are in flight, so three do overlap however
    # busy the machine; the others' answers wait for no format verdict (probe_wait 0).
    fake.hold()
    releaser = threading.Thread(target=release_when_in_flight, args=(fake, 3), daemon=True)
    releaser.start()
    settings = replace(fake_settings, timeout=60.0, probe_wait=0.0)
    with serving(settings, concurrency=3) as client:
        body = {"papers": papers(12), "rubric": "llm-inference", "concurrency": 100}
        lines = ndjson(client.post("/v1/score/batch", json=body))
    releaser.join()
    assert len(lines) == 13
    assert fake.peak_in_flight == 3


def release_when_in_flight(fake: FakeOpenAI, count: int) -> None:
    """Release the held fake once ``count`` requests are in flight (60 s: a hang guard)."""
    deadline = time.monotonic() + 60
    while fake.in_flight < count and time.monotonic() < deadline:
        time.sleep(0.005)
    fake.release()


def test_empty_batch_is_just_a_summary(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings) as client:
        answer = client.post("/v1/score/batch", json={"papers": [], "rubric": "llm-inference"})
    assert answer.status_code == 200
    assert ndjson(answer) == [{"summary": ndjson(answer)[0]["summary"]}]
    assert ndjson(answer)[0]["summary"]["scanned"] == 0


# The engine leaves a task's request coroutine unawaited when the task is cancelled while it
# waits for a request slot (scorer/engine/_request_slots.py, RequestSlots.ask); drop this
# when it closes it.
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_a_client_that_goes_away_stops_the_batch(fake: FakeOpenAI, fake_settings: Settings) -> None:
    fake.latency = 0.2
    with serving(fake_settings) as client:
        body = {"papers": papers(40), "rubric": "llm-inference", "concurrency": 2}
        with client.stream("POST", "/v1/score/batch", json=body) as answer:
            next(answer.iter_lines())
        time.sleep(0.5)
        sent = fake.count
        time.sleep(0.6)
        assert fake.count == sent < 10
    gc.collect()  # so the engine's warning (see above) is raised here, under the filter


# -- limits ----------------------------------------------------------------------------------


def test_body_and_batch_limits_are_413(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings, max_batch=3, max_body_bytes=10_000) as client:
        huge = {"paper": {"title": "t", "abstract": "a" * 20_000}, "rubric": "llm-inference"}
        declared = client.post("/v1/score", json=huge)

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield json.dumps(huge).encode()[:6000]
            yield json.dumps(huge).encode()[6000:]

        chunked = client.post(
            "/v1/score", content=chunks(), headers={"content-type": "application/json"}
        )
        too_many = client.post(
            "/v1/score/batch", json={"papers": papers(4), "rubric": "llm-inference"}
        )
        just_right = client.post(
            "/v1/score/batch", json={"papers": papers(3), "rubric": "llm-inference"}
        )
    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert answer.json()["detail"] == "request body too large (the limit is 10000 bytes)"
    assert too_many.status_code == 413
    assert "too many papers: 4 (at most 3 per batch" in too_many.json()["detail"]
    assert just_right.status_code == 200
    assert fake.count == 3


# -- auth --------------------------------------------------------------------------------------


def test_auth_on(fake: FakeOpenAI, fake_settings: Settings) -> None:
    body = {"paper": PAPER, "rubric": "llm-inference"}
    with serving(fake_settings, token=TOKEN) as client:
        anonymous = httpx.Client(base_url=client.base_url, trust_env=False, verify=False)
        missing = anonymous.post("/v1/score", json=body)
        wrong = anonymous.post("/v1/score", json=body, headers={"Authorization": "Bearer nope"})
        basic = anonymous.post("/v1/score", json=body, headers={"Authorization": f"Basic {TOKEN}"})
        metrics = anonymous.get("/metrics")
        rubrics = anonymous.get("/v1/rubrics")
        unknown_path = anonymous.get("/v1/nothing-here")
        health = anonymous.get("/healthz")
        schema = anonymous.get("/openapi.json")
        ok = client.post("/v1/score", json=body)
        anonymous.close()
    for answer in (missing, wrong, basic, metrics, rubrics, unknown_path):
        assert answer.status_code == 401, answer.request.url
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in answer.text
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert health.status_code == 200 and schema.status_code == 200
    assert "HTTPBearer" in schema.json()["components"]["securitySchemes"]
    assert ok.status_code == 200
    assert fake.count == 1


def test_auth_off(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings) as client:
        answer = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
        schema = client.get("/openapi.json").json()
    assert answer.status_code == 200
    assert "securitySchemes" not in schema.get("components", {})


# -- metrics, rubrics, schema ------------------------------------------------------------------


def test_metrics_reflect_what_happened(fake: FakeOpenAI, fake_settings: Settings) -> None:
    with serving(fake_settings, token=TOKEN) as client:
        one = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"}).json()
        client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
        batch = client.post(
            "/v1/score/batch", json={"papers": papers(3), "rubric": "llm-inference"}
        )
        client.post("/v1/score", json={"paper": PAPER, "rubric": "no-such-rubric"})
        httpx.get(f"{client.base_url}/v1/score", trust_env=False, verify=False)  # no token
        client.get("/v1/rubrics/llm-inference")
        client.request("BREW", "/v1/score")  # free-form methods share one label
        fake.enqueue(Reply.unauthorized())
        rejected = client.post(
            "/v1/score", json={"paper": papers(1, "New")[0], "rubric": "llm-inference"}
        )
        text = client.get("/metrics").text
    score_ok = {"route": "/v1/score", "method": "POST", "status": "200"}
    assert metric(text, "scorer_http_requests_total", **score_ok) == 2
    assert metric(text, "scorer_http_requests_total", route="/v1/score", status="422") == 1
    assert metric(text, "scorer_http_requests_total", route="/v1/score", status="401") == 1
    assert metric(text, "scorer_http_requests_total", route="/v1/rubrics/{name}") == 1
    assert metric(text, "scorer_papers_total", outcome="scored") == 4
    assert metric(text, "scorer_papers_total", outcome="cached") == 1
    assert metric(text, "scorer_cache_hits_total") == 1
    assert rejected.status_code == 502
    assert metric(text, "scorer_papers_total", outcome="failed") == 1
    assert metric(text, "scorer_model_requests_total") == fake.count == 5
    assert metric(text, "scorer_http_requests_total", method="other", status="405") == 1
    usages = [one["usage"]] + [line["usage"] for line in ndjson(batch) if "usage" in line]
    for kind in ("prompt", "completion"):
        spent = sum(usage[f"{kind}_tokens"] for usage in usages)
        assert metric(text, "scorer_tokens_total", kind=kind) == spent > 0
    assert metric(text, "scorer_paper_latency_seconds_count") == 5  # answered papers
    batch = {"route": "/v1/score/batch", "method": "POST"}
    assert metric(text, "scorer_http_request_duration_seconds_count", **batch) == 1


def test_rubrics_are_listed_and_shown(fake_settings: Settings) -> None:
    with serving(fake_settings) as client:
        listed = client.get("/v1/rubrics").json()["rubrics"]
        shown = client.get("/v1/rubrics/llm-inference").json()
    assert [r["name"] for r in listed] == builtin_rubric_names()
    inference = next(r for r in listed if r["name"] == "llm-inference")
    assert inference["dimensions"] == ["relevance", "hype"] and inference["threshold"] == 70
    assert shown["name"] == "llm-inference" and shown["dimensions"][0]["name"] == "relevance"


def test_openapi_schema_is_published(fake_settings: Settings) -> None:
    with serving(fake_settings) as client:
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert schema["info"]["title"] == "scorer"
    assert {"/v1/score", "/v1/score/batch", "/v1/rubrics", "/healthz", "/metrics"} <= set(
        schema["paths"]
    )
    batch = schema["paths"]["/v1/score/batch"]["post"]["responses"]
    assert "application/x-ndjson" in batch["200"]["content"]
    assert {"413", "422", "502", "503"} <= set(batch)
    assert docs.status_code == 200


# -- scorer serve --------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCORER_"))}
    return env | extra


def test_serve_refuses_a_public_address_without_a_token() -> None:
    # Hold the port: had serve tried to bind before checking, it would say so instead.
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        port = held.getsockname()[1]
        done = run_group(
            [SCORER, "serve", "--host", "0.0.0.0", "--port", str(port)],
            timeout=60,
            env=clean_env(),
        )
    assert done.returncode == 2
    assert done.stderr.startswith("scorer: error: refusing to serve on 0.0.0.0 without auth")
    assert "SCORER_API_TOKEN" in done.stderr and "--allow-unauthenticated" in done.stderr
    assert "Traceback" not in done.stderr and "cannot listen" not in done.stderr


def test_serve_end_to_end(fake: FakeOpenAI, isolated_env: Path) -> None:
    env = clean_env(
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY=API_KEY,
        SCORER_MODEL="fake-model",
        SCORER_CACHE_DIR=str(isolated_env),
        SCORER_API_TOKEN=TOKEN,
    )
    with started(
        [SCORER, "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:  # its group is killed if it outlives the block
        lines: queue.Queue[str] = queue.Queue()
        stderr: list[str] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                stderr.append(line)
                lines.put(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            url = None
            deadline = time.monotonic() + 120  # a hang guard: start-up is slow on a busy machine
            while url is None and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    found = re.search(
                        r"serving on (http://\S+) \(bearer token required", lines.get(timeout=1)
                    )
                    url = found[1] if found else None
            assert url is not None, "".join(stderr)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(
                base_url=url, headers=headers, trust_env=False, verify=False, timeout=20
            ) as client:
                answer = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
            assert answer.status_code == 200, answer.text
            assert set(answer.json()["scores"]) == {"relevance", "hype"}
            assert fake.count == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
            reader.join(timeout=5)
    log = "".join(stderr)
    assert proc.returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log
    assert TOKEN not in log and API_KEY not in log
    assert url.startswith("http://127.0.0.1:")
