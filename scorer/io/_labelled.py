"""Reading labelled papers (a human's verdict per paper) for ``scorer eval`` and its library use.

A labelled file is a batch input (.csv, .jsonl) with one more column, the
label: yes/no, true/false, include/exclude, 1/0, a grade (numbers), or any
values named as positive. Rows with an empty label are left out and counted;
a file with no label column at all is an :class:`~scorer._errors.InputError`
naming the columns it has.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "labelled.csv"
>>> _ = path.write_text("title,abstract,label\\nA,x,yes\\nB,y,\\nC,z,no\\n", encoding="utf-8")
>>> labelled = read_labelled(path)
>>> [(item.paper.title, item.label) for item in labelled.papers], labelled.unlabelled
([('A', 1.0), ('C', 0.0)], 1)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from scorer._errors import InputError
from scorer.eval._metrics import parse_label
from scorer.eval._run import LabelledPaper
from scorer.io._readers import ProblemHandler, read_papers

__all__ = ["Labelled", "read_labelled"]


@dataclass(frozen=True)
class Labelled:
    """The labelled papers of a file, in file order, and how many rows had no label."""

    papers: list[LabelledPaper]
    unlabelled: int


def read_labelled(
    source: str | Path,
    *,
    label_column: str = "label",
    positives: Collection[str] = (),
    columns: Mapping[str, str] | None = None,
    on_problem: ProblemHandler | None = None,
    on_unlabelled: Callable[[int], None] | None = None,
) -> Labelled:
    """Read ``source``'s papers and their labels from ``label_column``, for :func:`run_eval`.

    ``positives`` are the label values that mean relevant (case-insensitive);
    none means the usual spellings, or numbers as grades. ``columns`` and
    ``on_problem`` are :func:`~scorer.io._readers.read_papers`'s.
    ``on_unlabelled(n)`` is told how many rows had no label, when some had
    none, before a file with no labelled row at all is refused (an
    :class:`~scorer._errors.InputError`, as is a missing label column).
    """
    wanted = {p.strip().lower() for p in positives}
    items: list[LabelledPaper] = []
    unlabelled = 0
    for paper in read_papers(source, columns=columns, on_problem=on_problem):
        extra = paper.extra_fields
        if label_column not in extra:
            raise InputError(
                f"{source}: no column {label_column!r} (columns beyond the paper fields: "
                f"{', '.join(sorted(extra)) or 'none'}); name it with --label-column"
            )
        label = parse_label(str(extra[label_column] or ""), wanted)
        if label is None:
            unlabelled += 1
            continue
        items.append(LabelledPaper(paper, label))
    if unlabelled and on_unlabelled is not None:
        on_unlabelled(unlabelled)
    if not items:
        raise InputError(f"{source}: no labelled papers to evaluate")
    return Labelled(items, unlabelled)
