"""run_batch and the CSV/JSONL writers, against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import replace

from scorer import Paper, Settings, load_rubric
from scorer.engine._batch import run_batch
from scorer.engine._scorer import Scorer
from scorer.io._writers import CsvWriter, JsonlWriter
from scorer.testing import FakeOpenAI, Reply

RUBRIC = load_rubric("llm-inference")


def papers() -> list[Paper]:
    rows = [
        {"id": "2602.21548v1", "title": "DualPath", "abstract": "KV-cache I/O."},
        {"id": "2602.20217v1", "title": "KnapSpec", "abstract": "Speculative decoding."},
        {"id": "arXiv:2602.21548v2", "title": "DualPath (v2)", "abstract": "KV-cache I/O, v2."},
        {"title": "Coral reefs", "abstract": "Fish counts.", "authors": ["A", "B"]},
    ]
    # Like rows of one CSV file: every record has the same extra column.
    return [Paper.model_validate({**row, "venue": f"venue of {row['title']}"}) for row in rows]


def test_batch_scores_each_paper_once_and_writes_every_row(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    csv_out, jsonl_out = io.StringIO(), io.StringIO()
    scorer = Scorer(fake_settings)
    summary = asyncio.run(
        run_batch(
            papers(),
            RUBRIC,
            scorer,
            sinks=[CsvWriter(csv_out, RUBRIC), JsonlWriter(jsonl_out, RUBRIC)],
        )
    )
    assert (summary.scanned, summary.duplicates, summary.unique) == (4, 1, 3)
    assert (summary.scored, summary.cached, summary.failed) == (3, 0, 0)
    assert fake.count == 3
    assert summary.tokens > 0

    rows = list(csv.DictReader(io.StringIO(csv_out.getvalue())))
    assert len(rows) == 3
    assert {r["title"] for r in rows} == {"DualPath", "KnapSpec", "Coral reefs"}
    header = list(rows[0])
    assert header[:7] == ["id", "title", "abstract", "authors", "published", "url", "pdf_url"]
    for column in ("relevance", "hype", "justification", "passed", "status", "error"):
        assert column in header
    dualpath = next(r for r in rows if r["title"] == "DualPath")
    assert dualpath["venue"] == "venue of DualPath"  # unknown input columns carried through
    assert next(r for r in rows if r["title"] == "Coral reefs")["authors"] == "A; B"

    lines = [json.loads(line) for line in jsonl_out.getvalue().splitlines()]
    assert len(lines) == 3 and all(0 <= line["relevance"] <= 100 for line in lines)

    again = asyncio.run(run_batch(papers(), RUBRIC, scorer))
    assert (again.scored, again.cached) == (0, 3)
    assert fake.count == 3


def test_a_failed_paper_keeps_its_row_and_the_rest_go_on(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    settings = replace(fake_settings, retry=replace(fake_settings.retry, max_attempts=1))
    fake.enqueue(Reply.server_error(503))
    out = io.StringIO()
    summary = asyncio.run(
        run_batch(
            papers(), RUBRIC, Scorer(settings), sinks=[JsonlWriter(out, RUBRIC)], concurrency=1
        )
    )
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 3
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 1 and "503" in failed[0]["error"] and failed[0]["relevance"] == ""
    assert summary.failed == 1 and summary.scored == 2
