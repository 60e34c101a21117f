"""Writing papers and scored papers as rows: CSV and JSONL.

A row written to a stream someone may be reading (standard output) is
flushed as soon as it is written. A staged output file (``flush_each=False``)
is flushed once the event loop next gets control: while a run waits for the
model, every finished row is on disk as before (a ``kill -9`` leaves them in
the temporary file), and a burst of rows (a cached re-run answers hundreds
at once) costs one flush instead of one per row. With ``hold_rows`` too (as
``scorer batch``'s staged outputs), rows are written to the stream a few
dozen at a time as well, one write call for them; the caller then calls
``finish()`` before closing the stream. The cache makes a re-run send only
what is missing.

A row holds the paper's columns (the batch columns, ``categories`` when the
paper has any, then every other input column under its own name), then
scorer's result columns: one per rubric dimension, ``justification``,
``passed``, ``status``, ``error``, ``model``, ``tokens``; then, when two
models score each paper (``--reviewers``, ``--cascade``), ``needs_human``
(the reviewers disagree about the threshold), ``certainty`` and ``reviews``
(each model's answer, as JSON); ``certainty`` alone when the model's answers
carry one (the logprob method). A CSV's columns follow its first result.

**The user's columns are theirs.** When an input column has the name of a
result column (say ``status``), the input's values keep that name and
scorer's column is written as ``scorer_status`` (``scorer_`` again while the
name is still taken). :func:`result_name` is the rule; ``scorer digest``
reads scorer's value from the prefixed column when there is one.

**Every field reaches the CSV.** A CSV header is fixed when it is written:
``input_columns`` names every input column in advance (``scorer batch``
surveys an input file first); without it the header follows the first row,
plus a last column ``extra`` (``scorer_extra`` if the input has an ``extra``)
holding, as a JSON object, any later row's fields the header lacks. Lists and
objects in a field are written as JSON.

**CSV cells are safe to open** (OWASP CSV injection): a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so a
spreadsheet shows it as text; so does a cell that already starts with ``'``
followed by those, so that :func:`restore_cell` undoes it exactly. JSONL keeps
every value as it is.

Papers without scores (``scorer fetch``'s output, ``scorer batch``'s input)
are written by :func:`write_papers`, or :func:`save_papers` for a file that
is staged and moved into place when complete (see :mod:`scorer.io._outputs`).

Over 300 lines: the row layout rules above (column collisions, the extra
column, the CSV guard) and the writers that follow them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import operator
import re
import sys
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.io._csv_record import csv_record
from scorer.io._outputs import check_outputs, staged_outputs

__all__ = [
    "OVERFLOW_COLUMN",
    "PAPER_FILE_COLUMNS",
    "PAPER_FORMATS",
    "RESULT_PREFIX",
    "CsvWriter",
    "JsonlWriter",
    "ResultWriter",
    "input_row",
    "neutralise_cell",
    "paper_row",
    "restore_cell",
    "result_name",
    "result_names",
    "result_row",
    "result_values",
    "save_papers",
    "write_papers",
]

PAPER_COLUMNS = ("id", "title", "abstract", "authors", "published", "url", "pdf_url")
STATUS_COLUMNS = ("justification", "passed", "status", "error", "model", "tokens")
CERTAINTY_COLUMN = "certainty"
PANEL_COLUMNS = ("needs_human", CERTAINTY_COLUMN, "reviews")
RESULT_PREFIX = "scorer_"
OVERFLOW_COLUMN = "extra"
# A papers file: the batch columns plus ``categories``, which arXiv gives.
PAPER_FILE_COLUMNS = (*PAPER_COLUMNS, "categories")
PAPER_FORMATS = (".csv", ".jsonl", ".ndjson", ".ris", ".bib", ".xlsx")

_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_FORMULA_STARTS = frozenset("'=+-@\t\r")
_first_char = operator.itemgetter(slice(0, 1))  # "" for an empty cell
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")
# json.dumps(value, ensure_ascii=False, default=str), without a new encoder per call (a row each).
_to_json = json.JSONEncoder(ensure_ascii=False, default=str).encode
# Rows a staged output holds before writing them (see _Rows): a few dozen KiB at most.
_ROWS_HELD = 64


class ResultWriter(Protocol):
    def write(self, result: ScoredPaper) -> None: ...


def neutralise_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula.

    >>> neutralise_cell("=HYPERLINK(\\"http://x\\")"), neutralise_cell("'=1"), neutralise_cell("ok")
    ('\\'=HYPERLINK("http://x")', "''=1", 'ok')
    """
    # The first character decides for most cells, without the regex (a cell per column per row).
    if not text or text[0] not in _FORMULA_STARTS:
        return text
    return "'" + text if _FORMULA.match(text) else text


def restore_cell(text: str) -> str:
    """Undo :func:`neutralise_cell` exactly.

    >>> restore_cell("'=1"), restore_cell("''=1"), restore_cell("'quoted")
    ('=1', "'=1", "'quoted")
    """
    return text[1:] if _NEUTRALISED.match(text) else text


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


def input_row(paper: Paper) -> dict[str, Any]:
    """The paper's own columns: the batch columns, ``categories`` if any, its other fields."""
    row: dict[str, Any] = paper_row(paper)
    if paper.categories:
        row["categories"] = "; ".join(paper.categories)
    for key, value in paper.extra_fields.items():
        row.setdefault(key, value)
    return row


def result_names(rubric: Rubric, result: ScoredPaper | None = None) -> tuple[str, ...]:
    """scorer's result columns, before any renaming: dimensions, then the status columns.

    With ``result``, also the columns of what it carries beyond one model's
    scores: the panel's (it has reviews), or its certainty. Without, every
    column a result may have.
    """
    names = (*(dim.name for dim in rubric.dimensions), *STATUS_COLUMNS)
    if result is None or result.reviews:
        return (*names, *PANEL_COLUMNS)
    if result.certainty is not None:
        return (*names, CERTAINTY_COLUMN)
    return names


def result_name(name: str, taken: Collection[str]) -> str:
    """The column a result ``name`` is written under, given the input's columns ``taken``.

    >>> result_name("status", {"title", "status"}), result_name("relevance", {"status"})
    ('scorer_status', 'relevance')
    """
    while name in taken:
        name = RESULT_PREFIX + name
    return name


def _result_values(result: ScoredPaper, rubric: Rubric) -> dict[str, Any]:
    values: dict[str, Any] = {d.name: result.scores.get(d.name, "") for d in rubric.dimensions}
    values.update(
        justification=result.justification,
        passed=result.passed,
        status=status_of(result),
        error=result.error or "",
        model=result.model,
        tokens=result.usage.total_tokens,
        needs_human=result.needs_human,
        certainty="" if result.certainty is None else result.certainty,
        reviews=[r.model_dump(mode="json", exclude={"usage"}) for r in result.reviews],
    )
    return values


def result_values(result: ScoredPaper, rubric: Rubric) -> dict[str, Any]:
    """scorer's result columns for ``result`` by name (before renaming), in column order.

    Writers that are not tables (RIS, BibTeX notes; the ASReview file) take
    their columns from here, so a column added here reaches every format.
    """
    return _result_values(result, rubric)


def result_row(result: ScoredPaper, rubric: Rubric) -> dict[str, Any]:
    """One flat output row: the input's columns, then the result columns (renamed on collision).

    >>> from scorer import load_rubric
    >>> paper = Paper(title="T", abstract="A", status="to read")
    >>> done = ScoredPaper(paper=paper, rubric="r", rubric_fingerprint="f", model="m")
    >>> row = result_row(done, load_rubric("llm-inference"))
    >>> row["status"], row["scorer_status"]
    ('to read', 'scored')
    """
    row = input_row(result.paper)
    taken = set(row)
    values = _result_values(result, rubric)
    for name in result_names(rubric, result):
        row[result_name(name, taken)] = values[name]
    return row


class JsonlWriter:
    """One JSON object per line; each record's colliding result columns are prefixed."""

    def __init__(
        self, stream: TextIO, rubric: Rubric, *, flush_each: bool = True, hold_rows: bool = False
    ) -> None:
        """``flush_each``, ``hold_rows``: when rows are written (see the module docstring)."""
        self._stream = stream
        self._rubric = rubric
        self._rows = _Rows(stream, at_once=flush_each, hold=hold_rows)
        self.renamed: set[str] = set()  # result columns written under a prefixed name

    def write(self, result: ScoredPaper) -> None:
        row = result_row(result, self._rubric)
        names = result_names(self._rubric, result)
        self.renamed.update(n for n in names if RESULT_PREFIX + n in row)
        self._rows.write(_to_json(row) + "\n")

    def finish(self) -> None:
        """Write the rows still held (a staged output holds a few dozen; see :class:`_Rows`)."""
        self._rows.finish()


class CsvWriter:
    """CSV with the paper's columns, one per dimension, and the status columns.

    ``input_columns``: every input column the rows will have beyond the batch
    columns, in order, when known in advance; otherwise the first row's, plus
    the overflow column for later rows' others (see the module docstring).
    """

    def __init__(
        self,
        stream: TextIO,
        rubric: Rubric,
        *,
        input_columns: Iterable[str] | None = None,
        flush_each: bool = True,
        hold_rows: bool = False,
    ) -> None:
        """``flush_each``, ``hold_rows``: when rows are written (see the module docstring)."""
        self._stream = stream
        self._rubric = rubric
        self._rows = _Rows(stream, at_once=flush_each, hold=hold_rows)
        self._known = list(input_columns) if input_columns is not None else None
        self._plan: _CsvPlan | None = None  # set by the first row
        self.renamed: set[str] = set()

    def write(self, result: ScoredPaper) -> None:
        plan = self._plan
        if plan is None:
            plan = self._plan = self._start(input_row(result.paper), result)
        # The fields from the models' __dict__: a pydantic model's attributes are read
        # through its __getattr__ hook, a few times a dict look-up's cost (a row per paper).
        field = result.__dict__
        paper = field["paper"]
        own = paper.__dict__
        published = own["published"]
        # Every cell as text, not yet neutralised (see the guard below): the paper's first,
        # as input_row has them.
        cells = [
            own["id"] or "",
            own["title"],
            own["abstract"],
            "; ".join(own["authors"]),
            published.isoformat() if published else "",
            own["url"] or "",
            own["pdf_url"] or "",
        ]
        extra = paper.__pydantic_extra__
        if plan.extras:
            cells += plan.extra_cells(own, extra)
        unannounced = None
        if (own["categories"] and not plan.categories) or (
            extra and not extra.keys() <= plan.announced
        ):
            unannounced = plan.unannounced(own["categories"], extra or {})
        if plan.plain_results:
            # What _text makes of each value, inline: most results are one model's.
            scores, error = field["scores"], field["error"]
            cells += [str(scores.get(name, "")) for name in plan.dimensions]
            cells += (
                field["justification"],
                str(field["passed"]),
                "failed" if error is not None else "cached" if field["cached"] else "scored",
                error or "",
                field["model"],
                str(field["usage"].total_tokens),
            )
        else:
            values = _result_values(result, self._rubric)
            cells += [_text(values[name]) for name in plan.results]
        if plan.overflow is not None:
            cells.append(_to_json(unannounced) if unannounced else "")
        elif unannounced:
            raise ValueError(f"columns not announced in input_columns: {', '.join(unannounced)}")
        # Most rows have no cell that may start a formula: one pass in C over the first
        # characters says so (a third of a listcomp's cost); only the rest go cell by cell.
        if not _FORMULA_STARTS.isdisjoint(map(_first_char, cells)):
            cells = [neutralise_cell(cell) for cell in cells]
        self._rows.write(csv_record(cells))

    def finish(self) -> None:
        """Write the rows still held (a staged output holds a few dozen; see :class:`_Rows`)."""
        self._rows.finish()

    def _start(self, first: Mapping[str, Any], result: ScoredPaper) -> _CsvPlan:
        known = self._known if self._known is not None else list(first)
        inputs = list(dict.fromkeys([*PAPER_COLUMNS, *known]))
        taken = set(inputs)
        names = result_names(self._rubric, result)
        results = {name: result_name(name, taken) for name in names}
        self.renamed = {name for name, column in results.items() if column != name}
        header = [*inputs, *results.values()]
        overflow = None
        if self._known is None:
            overflow = result_name(OVERFLOW_COLUMN, taken)
            header.append(overflow)
        self._stream.write(csv_record([_cell(name) for name in header]))
        dimensions = tuple(dim.name for dim in self._rubric.dimensions)
        return _CsvPlan(
            inputs=inputs,
            results=tuple(results),
            dimensions=dimensions,
            plain_results=tuple(results) == (*dimensions, *STATUS_COLUMNS),
            overflow=overflow,
        )


class _CsvPlan:
    """A CSV output's columns, fixed by its header: where each cell of a row comes from."""

    def __init__(
        self,
        *,
        inputs: list[str],
        results: tuple[str, ...],
        dimensions: tuple[str, ...],
        plain_results: bool,
        overflow: str | None,
    ) -> None:
        self.results = results  # result names, in column order
        self.dimensions = dimensions
        # The result columns are one model's (no certainty, no panel): filled inline.
        self.plain_results = plain_results
        self.overflow = overflow
        self.extras = inputs[len(PAPER_COLUMNS) :]  # the input's own columns after the batch ones
        self.announced = frozenset(inputs)
        self.categories = "categories" in self.announced

    def extra_cells(self, own: Mapping[str, Any], extra: Mapping[str, Any] | None) -> list[str]:
        """The cells of :attr:`extras` as text (``own``: the fields, ``extra``: the others)."""
        categories = "; ".join(own["categories"])
        got = extra or {}
        return [
            categories if column == "categories" else _text(got.get(column, ""))
            for column in self.extras
        ]

    def unannounced(self, categories: list[str], extra: Mapping[str, Any]) -> dict[str, Any]:
        """A paper's fields the header lacks (it has ``categories`` and ``extra``)."""
        found: dict[str, Any] = {}
        if categories and not self.categories:
            found["categories"] = "; ".join(categories)
        found.update((k, v) for k, v in extra.items() if k not in self.announced)
        return found


class _Rows:
    """Rows on their way to a stream: flushed at once, at the next loop turn, or held.

    ``at_once``: each row is written and flushed as it comes (a stream someone
    reads). Otherwise each row is written, and flushed once the running event
    loop next gets control; with ``hold`` rows are also held until then (or
    until ``_ROWS_HELD`` wait), so a burst of cached rows costs one write call
    per few dozen rows, and the rows held stay a few dozen however long the
    burst; :meth:`finish` writes what is held. With no running loop each row
    is written and flushed at once.
    """

    def __init__(self, stream: TextIO, *, at_once: bool, hold: bool = False) -> None:
        self._stream = stream
        self._at_once = at_once
        self._hold = hold
        self._held: list[str] = []
        self._due = False  # a flush is scheduled

    def write(self, row: str) -> None:
        """Write ``row`` (see the class docstring for when)."""
        if self._at_once:
            self._stream.write(row)
            self._stream.flush()
            return
        if self._hold:
            held = self._held
            held.append(row)
            if len(held) >= _ROWS_HELD:
                self._write_held()
        else:
            self._stream.write(row)
        if self._due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # written from plain code: nothing to wait for
            self._flush()
            return
        self._due = True
        loop.call_soon(self._flush)

    def finish(self) -> None:
        """Write and flush the rows still held."""
        self._flush()

    def _write_held(self) -> None:
        held = self._held
        if held:
            self._stream.write("".join(held))
            held.clear()

    def _flush(self) -> None:
        self._due = False
        with contextlib.suppress(ValueError):  # already closed: closing flushed it
            self._write_held()
            self._stream.flush()


def _cell(value: Any) -> str:
    if type(value) is str:  # most cells: no type dispatch, and no regex unless it may be a formula
        return value if not value or value[0] not in _FORMULA_STARTS else neutralise_cell(value)
    return neutralise_cell(_text(value))


def _text(value: Any) -> str:
    """A cell's text before :func:`neutralise_cell`: lists and objects as JSON."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return _to_json(value)
    return str(value)


def _paper_file_row(paper: Paper) -> dict[str, str]:
    return {**paper_row(paper), "categories": "; ".join(paper.categories)}


def write_papers(papers: Iterable[Paper], stream: TextIO, *, csv_format: bool = False) -> int:
    """Write ``papers`` as rows ``scorer batch`` reads; return how many were written.

    JSONL by default (one object per line, flushed as each paper comes, so a
    slow source shows progress); with ``csv_format``, CSV with a header of
    :data:`PAPER_FILE_COLUMNS` even when there are no papers, cells
    neutralised as for results.

    >>> import io
    >>> out = io.StringIO()
    >>> write_papers([Paper(title="=1+1", abstract="A")], out, csv_format=True)
    1
    >>> out.getvalue().splitlines()[1]
    ",'=1+1,A,,,,,"
    """
    count = 0
    if csv_format:
        writer = csv.writer(stream)
        writer.writerow(PAPER_FILE_COLUMNS)
        for paper in papers:
            row = _paper_file_row(paper)
            writer.writerow([neutralise_cell(row[column]) for column in PAPER_FILE_COLUMNS])
            count += 1
        return count
    for paper in papers:
        stream.write(json.dumps(_paper_file_row(paper), ensure_ascii=False) + "\n")
        stream.flush()
        count += 1
    return count


def save_papers(papers: Iterable[Paper], path: Path | None, *, stdout: TextIO | None = None) -> int:
    """Write ``papers`` to ``path`` (by extension, as ``PAPER_FORMATS``), or JSONL on ``stdout``.

    The file is staged beside ``path`` before the first paper is taken, and
    moved into place only when every paper was written: a source that fails
    midway leaves no half file that looks complete, and an older file as it
    was. An unknown format, or a folder that cannot take the file, is a
    :class:`~scorer._errors.ConfigError` before anything is read. Returns how
    many papers were written.
    """
    if path is None:
        return write_papers(papers, stdout or sys.stdout)
    check_outputs([path], formats=PAPER_FORMATS)
    suffix = path.suffix.lower()
    with staged_outputs([path]) as staged:
        stream = staged.stream(path)
        if suffix == ".ris":
            from scorer.io._ris import write_ris_papers

            return write_ris_papers(papers, stream)
        if suffix == ".bib":
            from scorer.io._bibtex import write_bibtex_papers

            return write_bibtex_papers(papers, stream)
        if suffix == ".xlsx":
            from scorer.io._xlsx import write_xlsx_papers

            return write_xlsx_papers(papers, stream)
        return write_papers(papers, stream, csv_format=suffix == ".csv")
