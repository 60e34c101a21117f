"""Every CSV cell a result row has is neutralised, whichever column it is in (the writer's
row path checks first characters in one pass and neutralises cell by cell only when one may
start a formula: a cell it missed would reach a spreadsheet as a formula)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io

import pytest

from scorer import Paper, load_rubric
from scorer._models import ScoredPaper, Usage
from scorer.io._writers import CsvWriter

_HOSTILE = ["=1+1", "+1", "-1", "@SUM(A1)", "'=q", "''-q", "'plain", "a,b", 'q"x', "é"]


def _result(text: str, *, score: int = 50, tokens: int = 0) -> ScoredPaper:
    rubric = load_rubric("llm-inference")
    paper = Paper(
        title=f"T {text}",
        abstract=text or "A",
        id=text,
        authors=[text],
        published=dt.date(2026, 2, 24),
        url=text,
        pdf_url=text,
        notes=text,
        status=text,
    )
    return ScoredPaper(
        paper=paper,
        rubric=rubric.name,
        rubric_fingerprint=rubric.fingerprint,
        model=text,
        scores={"relevance": score, "hype": 50},
        justification=text,
        cached=True,
        usage=Usage(prompt_tokens=tokens),
    )


def _rows(results: list[ScoredPaper]) -> list[dict[str, str]]:
    out = io.StringIO()

    async def write() -> None:
        writer = CsvWriter(
            out, load_rubric("llm-inference"), input_columns=["notes", "status"], hold_rows=True
        )
        for result in results:
            writer.write(result)
        writer.finish()

    asyncio.run(write())
    return list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))


@pytest.mark.parametrize("text", _HOSTILE)
def test_a_formula_in_any_text_column_is_neutralised(text: str) -> None:
    row = _rows([_result("plain"), _result(text)])[1]
    expected = "'" + text if text.lstrip("'")[:1] in ("=", "+", "-", "@", "\t", "\r") else text
    for column in ("id", "abstract", "authors", "url", "pdf_url", "notes", "status"):
        assert row[column] == expected, column
    for column in ("justification", "model"):
        assert row[column] == expected, column
    assert row["title"] == f"T {text}"
    assert row["scorer_status"] == "cached"


def test_negative_numbers_are_neutralised_as_text() -> None:
    row = _rows([_result("plain", score=-5, tokens=-3)])[0]
    assert row["relevance"] == "'-5"
    assert row["tokens"] == "'-3"
    assert row["hype"] == "50"
