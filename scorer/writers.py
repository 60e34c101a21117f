"""Writing scored papers as they finish: CSV and JSONL rows.

Every row is flushed as soon as it is written, so a crash or Ctrl-C loses
nothing finished (and the cache makes a re-run send only what is missing).
"""

from __future__ import annotations

import csv
import json
from typing import Any, Protocol, TextIO

from scorer.models import Paper, ScoredPaper
from scorer.rubric import Rubric

__all__ = ["CsvWriter", "JsonlWriter", "ResultWriter", "paper_row", "result_row"]

PAPER_COLUMNS = ("id", "title", "abstract", "authors", "published", "url", "pdf_url")
STATUS_COLUMNS = ("justification", "passed", "status", "error", "model", "tokens")


class ResultWriter(Protocol):
    def write(self, result: ScoredPaper) -> None: ...


def status_of(result: ScoredPaper) -> str:
    if result.error is not None:
        return "failed"
    return "cached" if result.cached else "scored"


def paper_row(paper: Paper) -> dict[str, str]:
    """A paper as a row of the batch columns (``PAPER_COLUMNS``; authors ``; ``-joined).

    >>> paper_row(Paper(title="T", abstract="A", authors=["X", "Y"]))["authors"]
    'X; Y'
    """
    return {
        "id": paper.id or "",
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": "; ".join(paper.authors),
        "published": paper.published.isoformat() if paper.published else "",
        "url": paper.url or "",
        "pdf_url": paper.pdf_url or "",
    }


def result_row(result: ScoredPaper, rubric: Rubric) -> dict[str, Any]:
    """One flat output row: the input columns (unknown ones carried through), scores, status."""
    paper = result.paper
    row: dict[str, Any] = paper_row(paper)
    for key, value in paper.extra_fields.items():
        row.setdefault(key, value)
    for dim in rubric.dimensions:
        row[dim.name] = result.scores.get(dim.name, "")
    row.update(
        justification=result.justification,
        passed=result.passed,
        status=status_of(result),
        error=result.error or "",
        model=result.model,
        tokens=result.usage.total_tokens,
    )
    return row


class JsonlWriter:
    """One JSON object per line."""

    def __init__(self, stream: TextIO, rubric: Rubric) -> None:
        self._stream = stream
        self._rubric = rubric

    def write(self, result: ScoredPaper) -> None:
        row = result_row(result, self._rubric)
        self._stream.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        self._stream.flush()


class CsvWriter:
    """CSV with the batch columns, the input's other columns, one per dimension, and status.

    The header is fixed by the first row; a later row's extra columns that the
    first did not have are dropped (CSV input has the same columns on every row).
    """

    def __init__(self, stream: TextIO, rubric: Rubric) -> None:
        self._stream = stream
        self._rubric = rubric
        self._writer: csv.DictWriter[str] | None = None

    def write(self, result: ScoredPaper) -> None:
        row = result_row(result, self._rubric)
        if self._writer is None:
            self._writer = csv.DictWriter(
                self._stream, fieldnames=list(row), extrasaction="ignore", restval=""
            )
            self._writer.writeheader()
        self._writer.writerow(row)
        self._stream.flush()
