"""Reading results back: rows written by ``scorer batch`` (CSV or JSONL) as ``ScoredPaper``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from scorer.models import Paper, ScoredPaper
from scorer.readers import ProblemHandler, RowProblem, read_papers
from scorer.rubric import Rubric

__all__ = ["read_scored"]

_STATUS_FIELDS = ("justification", "passed", "status", "error", "model", "tokens")


def read_scored(
    source: str | Path, rubric: Rubric, *, on_problem: ProblemHandler | None = None
) -> Iterator[ScoredPaper]:
    """Yield the scored papers in a results file; rows without valid scores are reported.

    A row marked ``failed`` comes back with its ``error`` (it counts as scanned
    in a digest, and is never listed).
    """
    line = 0

    def count(problem: RowProblem) -> None:
        if on_problem is not None:
            on_problem(problem)

    for paper in read_papers(source, on_problem=count):
        line += 1
        extras = paper.extra_fields
        status = str(extras.get("status", "")).strip()
        error = str(extras.get("error", "") or "").strip()
        scores: dict[str, int] = {}
        if status != "failed" and not error:
            try:
                scores = {dim.name: _score(extras.get(dim.name)) for dim in rubric.dimensions}
            except ValueError as exc:
                message = f"record {line} ('{paper.title[:60]}'): {exc}"
                count(RowProblem(line=0, message=message))
                continue
        result_columns = {*_STATUS_FIELDS, *(d.name for d in rubric.dimensions)}
        fields = {k: v for k, v in paper.model_dump().items() if k not in result_columns}
        clean = Paper.model_validate(fields)
        yield ScoredPaper(
            paper=clean,
            rubric=rubric.name,
            rubric_fingerprint=rubric.fingerprint,
            model=str(extras.get("model", "") or ""),
            scores=scores,
            justification=str(extras.get("justification", "") or ""),
            passed=bool(scores) and scores[rubric.primary.name] >= rubric.threshold,
            error=(error or "failed") if not scores else None,
        )


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
