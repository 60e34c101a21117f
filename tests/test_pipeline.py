"""Every face merges duplicates the same way: an arXiv paper given as v1 and v2 is one model call.

The two records differ in title and abstract (a revised version), so only
identity merges them: the cache and single-flight would send both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scorer import Paper, Settings, load_rubric, score_many
from scorer.engine import Scorer
from scorer.engine._batch import run_batch
from scorer.engine._pipeline import BatchSummary, Scored, Unreadable, Unscored, score_stream
from scorer.eval._run import LabelledPaper, run_eval
from scorer.pandas import score_frame
from scorer.service import create_app
from scorer.service._background import serve_in_thread
from scorer.testing import FakeOpenAI

RUBRIC = load_rubric("llm-inference")
RECORDS: list[dict[str, Any]] = [
    {"id": "2602.21548v1", "title": "DualPath", "abstract": "KV-cache storage I/O."},
    {"id": "2602.20217", "title": "KnapSpec", "abstract": "Self-speculative decoding."},
    {
        "id": "arXiv:2602.21548v2",
        "title": "DualPath: revised",
        "abstract": "KV-cache storage I/O, revised with new experiments.",
    },
]


def papers() -> list[Paper]:
    return [Paper.model_validate(record) for record in RECORDS]


def test_run_batch_sends_v1_and_v2_once(fake: FakeOpenAI, fake_settings: Settings) -> None:
    summary = asyncio.run(run_batch(papers(), RUBRIC, Scorer(fake_settings)))
    assert fake.count == 2
    assert (summary.scanned, summary.unique, summary.duplicates) == (3, 2, 1)


def test_score_many_sends_v1_and_v2_once_and_yields_the_paper_once(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    results = list(score_many(RECORDS, RUBRIC, settings=fake_settings))
    assert fake.count == 2
    assert sorted(r.paper.title for r in results) == ["DualPath", "KnapSpec"]


def test_score_frame_sends_v1_and_v2_once_and_both_rows_share_it(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    import pandas as pd

    scored = score_frame(pd.DataFrame(RECORDS), RUBRIC, settings=fake_settings)
    assert fake.count == 2
    assert list(scored["status"]) == ["scored"] * 3
    assert scored.loc[0, "relevance"] == scored.loc[2, "relevance"]


def test_run_eval_sends_v1_and_v2_once_and_scores_both_items(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    items = [LabelledPaper(paper, label) for paper, label in zip(papers(), [1, 0, 1], strict=True)]
    run = asyncio.run(run_eval(items, RUBRIC, Scorer(fake_settings)))
    assert fake.count == 2
    assert run.report.failed == 0
    assert run.report.n == 3  # each labelled item is a point, the duplicate with its paper's score


@pytest.fixture
def service(fake_settings: Settings) -> Iterator[httpx.Client]:
    with (
        serve_in_thread(create_app(fake_settings, api_token=None)) as base_url,
        httpx.Client(base_url=base_url, timeout=20, trust_env=False, verify=False) as client,
    ):
        yield client


def test_service_batch_sends_v1_and_v2_once(fake: FakeOpenAI, service: httpx.Client) -> None:
    answer = service.post("/v1/score/batch", json={"papers": RECORDS, "rubric": RUBRIC.name})
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert fake.count == 2
    assert [line["paper"]["title"] for line in lines if "paper" in line].count("DualPath") == 1
    summary = lines[-1]["summary"]
    assert (summary["scanned"], summary["unique"], summary["duplicates"]) == (3, 2, 1)


def test_score_stream_answers_every_position(fake: FakeOpenAI, fake_settings: Settings) -> None:
    """Duplicates read while their paper is scored join its result; later ones point at it."""

    async def outcomes() -> tuple[list[Scored | Unscored], BatchSummary]:
        summary = BatchSummary()
        records = [*papers(), Unreadable("missing abstract"), papers()[0]]
        stream = score_stream(
            records, RUBRIC, Scorer(fake_settings), summary=summary, every_position=True
        )
        return [outcome async for outcome in stream], summary

    found, summary = asyncio.run(outcomes())
    answered: dict[int, str] = {}
    for outcome in found:
        if isinstance(outcome, Scored):
            answered |= {p: outcome.result.paper.title for p in outcome.positions}
        elif outcome.duplicate_of is not None:
            answered[outcome.position] = answered[outcome.duplicate_of]
        else:
            answered[outcome.position] = f"invalid: {outcome.problem}"
    assert answered == {
        0: "DualPath",
        1: "KnapSpec",
        2: "DualPath",
        3: "invalid: missing abstract",
        4: "DualPath",
    }
    assert fake.count == 2
    assert (summary.scanned, summary.unique, summary.duplicates, summary.invalid) == (5, 2, 2, 1)


def test_duplicates_read_while_scored_join_its_result_in_input_order(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    """Every record of a paper read before its answer comes back is answered by that one result."""
    dual, knap, revised = papers()
    records = [dual, knap, revised, dual, knap, revised, revised]

    async def outcomes() -> list[Scored | Unscored]:
        stream = score_stream(records, RUBRIC, Scorer(fake_settings), every_position=True)
        return [outcome async for outcome in stream]

    found = asyncio.run(outcomes())
    positions = {o.result.paper.title: o.positions for o in found if isinstance(o, Scored)}
    assert positions == {"DualPath": (0, 2, 3, 5, 6), "KnapSpec": (1, 4)}
    assert len(found) == 2
    assert fake.count == 2
