"""A CSV that ASReview reads as a dataset with labels: ``-o NAME.asreview.csv``.

Columns are the ones ASReview recognises: ``title``, ``abstract``,
``authors`` (``; ``-separated), ``doi``, ``url``, ``keywords`` and
``included``: 1 when the paper's first-dimension score reaches the threshold,
0 when it does not, empty when the paper failed or needs a human (two
reviewers disagree about the threshold: ``needs_human``). ASReview treats an
empty label as not yet screened, so those papers are left for a person
rather than labelled on one model's word. scorer's result columns follow (the writers'
:func:`~scorer.io._writers.result_names`, so a column added there comes
too), for a reviewer's eyes: ASReview keeps columns it does not know. Cells
are neutralised against spreadsheet formulas as in every CSV scorer writes.
"""

from __future__ import annotations

import csv
from typing import Any, TextIO

from scorer._models import ScoredPaper
from scorer._rubric import Rubric
from scorer.io._references import split_dois
from scorer.io._writers import neutralise_cell, result_name, result_names, result_values

__all__ = ["ASREVIEW_COLUMNS", "ASREVIEW_SUFFIX", "AsreviewWriter", "is_asreview"]

ASREVIEW_SUFFIX = ".asreview.csv"
ASREVIEW_COLUMNS = ("title", "abstract", "authors", "doi", "url", "keywords", "included")


def is_asreview(name: str) -> bool:
    """Whether an output ``name`` asks for the ASReview CSV.

    >>> is_asreview("screen.asreview.csv"), is_asreview("screen.csv")
    (True, False)
    """
    return name.lower().endswith(ASREVIEW_SUFFIX)


class AsreviewWriter:
    """Rows of :data:`ASREVIEW_COLUMNS`, ``included`` from the threshold (empty: undecided)."""

    def __init__(self, stream: TextIO, rubric: Rubric) -> None:
        self._stream = stream
        self._rubric = rubric
        self._writer: Any = csv.writer(stream)  # csv.writer's type is private to typeshed
        # Result columns named like ASReview's own keep their place; scorer's are renamed.
        self._results = {n: result_name(n, ASREVIEW_COLUMNS) for n in result_names(rubric)}
        self._writer.writerow([*ASREVIEW_COLUMNS, *self._results.values()])
        self.renamed: set[str] = set()

    def write(self, result: ScoredPaper) -> None:
        paper = result.paper
        values = result_values(result, self._rubric)
        doi = split_dois([paper.id])[0] if paper.id else None
        undecided = result.error is not None or result.needs_human
        included = "" if undecided else "1" if values["passed"] else "0"
        row = (
            paper.title,
            paper.abstract,
            "; ".join(paper.authors),
            doi or "",
            paper.url or "",
            "; ".join(paper.categories),
            included,
            *(_text(values[name]) for name in self._results),
        )
        self._writer.writerow([neutralise_cell(cell) for cell in row])
        self._stream.flush()


def _text(value: Any) -> str:
    return "" if value is None else str(value)
