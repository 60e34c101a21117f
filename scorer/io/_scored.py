"""Reading results back: rows written by ``scorer batch`` (CSV or JSONL) as ``ScoredPaper``.

Undoes what the writers do (see :mod:`scorer.io._writers`): in a CSV file, a cell
that ``scorer batch`` neutralised against formula injection (a leading ``'``
before ``=``, ``+``, ``-``, ``@``, tab or CR) comes back as it was, so titles
read back exactly; a result column is taken from its ``scorer_``-prefixed
name when the row has one (the input had a column of that name, which stays
an extra field of the paper). A panel's columns (``needs_human``,
``certainty``, ``reviews``) are read back when the file has its ``reviews``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scorer._models import Paper, Review, ScoredPaper
from scorer._rubric import Rubric
from scorer.io._readers import ProblemHandler, RowProblem, read_papers
from scorer.io._references import note_columns
from scorer.io._writers import PANEL_COLUMNS, RESULT_PREFIX, restore_cell, result_names

__all__ = ["read_scored"]

_NOTES = {".ris": "notes", ".bib": "note"}


def read_scored(
    source: str | Path, rubric: Rubric, *, on_problem: ProblemHandler | None = None
) -> Iterator[ScoredPaper]:
    """Yield the scored papers in a results file; rows without valid scores are reported.

    A row marked ``failed`` comes back with its ``error`` (it counts as scanned
    in a digest, and is never listed).
    """
    line = 0
    suffix = Path(source).suffix.lower()
    is_csv = suffix == ".csv"
    notes_key = _NOTES.get(suffix)

    def count(problem: RowProblem) -> None:
        if on_problem is not None:
            on_problem(problem)

    for read in read_papers(source, on_problem=count):
        line += 1
        record = read.model_dump()
        if is_csv:
            record = {key: _restored(value) for key, value in record.items()}
        if notes_key is not None:  # RIS and BibTeX keep the results in a note
            record = note_columns(record, notes_key, rubric)
        columns = _result_columns(record, rubric)
        ours = {name: record.get(column) for name, column in columns.items()}
        paper = Paper.model_validate({k: v for k, v in record.items() if k not in columns.values()})
        status = str(ours["status"] or "").strip()
        error = str(ours["error"] or "").strip()
        scores: dict[str, int] = {}
        if status != "failed" and not error:
            try:
                scores = {dim.name: _score(ours[dim.name]) for dim in rubric.dimensions}
            except ValueError as exc:
                message = f"record {line} ('{paper.title[:60]}'): {exc}"
                count(RowProblem(line=0, message=message))
                continue
        yield ScoredPaper(
            paper=paper,
            rubric=rubric.name,
            rubric_fingerprint=rubric.fingerprint,
            model=str(ours["model"] or ""),
            scores=scores,
            justification=str(ours["justification"] or ""),
            passed=bool(scores) and scores[rubric.primary.name] >= rubric.threshold,
            error=(error or "failed") if not scores else None,
            **_panel_fields(ours),
        )


def _panel_fields(ours: Mapping[str, Any]) -> dict[str, Any]:
    """``needs_human``, ``certainty`` and ``reviews`` as written by a panel run; {} if absent."""
    raw = ours.get("reviews")
    try:
        listed = json.loads(raw) if isinstance(raw, str) else raw
        reviews = tuple(Review.model_validate(r) for r in listed or ())
    except (ValueError, TypeError, ValidationError):
        return {}
    if not reviews:
        return {}
    certainty = ours.get("certainty")
    try:
        sure = None if certainty in (None, "") else float(str(certainty))
    except ValueError:
        sure = None
    flagged = str(ours.get("needs_human")).strip().lower() in ("true", "1", "yes")
    return {"reviews": reviews, "certainty": sure, "needs_human": flagged}


def _result_columns(record: Mapping[str, Any], rubric: Rubric) -> dict[str, str]:
    """Result name -> the column holding scorer's value: the most-prefixed one present.

    A panel's columns count only when the record has a ``reviews`` column:
    an input's own ``certainty`` stays the paper's.
    """
    names = result_names(rubric)
    if not any(_unprefixed(key) == "reviews" for key in record):
        names = tuple(n for n in names if n not in PANEL_COLUMNS)
    columns: dict[str, str] = {}
    for name in names:
        column = name
        while RESULT_PREFIX + column in record:
            column = RESULT_PREFIX + column
        columns[name] = column
    return columns


def _unprefixed(key: str) -> str:
    while key.startswith(RESULT_PREFIX):
        key = key.removeprefix(RESULT_PREFIX)
    return key


def _restored(value: Any) -> Any:
    if isinstance(value, str):
        return restore_cell(value)
    if isinstance(value, list):
        return [_restored(item) for item in value]
    return value


def _score(value: object) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("no score")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"score {value!r} is not a number") from None
    if not 0 <= number <= 100 or number != int(number):
        raise ValueError(f"score {value!r} is not an integer from 0 to 100")
    return int(number)
