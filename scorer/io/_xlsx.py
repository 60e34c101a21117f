"""Excel ``.xlsx`` workbooks in and out, through ``openpyxl``.

Reading takes the first sheet, streamed (``read_only``): the first non-empty
row is the header, and columns map to Paper fields by the same rules as a
CSV file's (:mod:`scorer.io._columns`), every other column carried through.
Dates are dates; a cell's displayed value is read, never its formula. A row
without title or abstract is reported with its row number and skipped. A
workbook that unpacks to more than :data:`MAX_UNPACKED_BYTES` (a zip bomb)
is refused before it is read.

Writing (``write_only``, the rows streamed to disk) lays the columns out as
the CSV writer does (the paper's columns, then scorer's result columns,
renamed ``scorer_<name>`` on collision). **No cell is ever a formula**: text
is stored as text, explicitly, so ``=HYPERLINK(...)`` in a title is shown,
not run (unlike CSV, no ``'`` is added: the text reads back exactly).
Characters Excel cannot store (control characters, U+FFFE, U+FFFF) become U+FFFD, and text
longer than Excel's 32,767-character cell limit is cut there, ending in ``…``.
The workbook is written when the run ends (see :class:`XlsxWriter.finish`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from scorer._errors import InputError
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.io._columns import extra_columns, missing_required, resolve_columns
from scorer.io._readers import ProblemHandler, paper_from_record
from scorer.io._writers import (
    OVERFLOW_COLUMN,
    PAPER_COLUMNS,
    PAPER_FILE_COLUMNS,
    input_row,
    paper_row,
    result_name,
    result_names,
    result_values,
)

__all__ = ["MAX_CELL_CHARS", "MAX_UNPACKED_BYTES", "XlsxWriter", "read_xlsx", "write_xlsx_papers"]

MAX_CELL_CHARS = 32_767
"""Excel's limit on the text in one cell, in UTF-16 code units (an emoji takes two)."""

MAX_UNPACKED_BYTES = 512 << 20
"""The most a workbook read may unpack to (a hundred thousand abstracts take about 200 MiB).

openpyxl keeps a workbook's shared strings in memory whole, so a zip bomb of
a few MiB would fill the machine's memory before the first row is read.
"""

# XML 1.0 forbids these in a document: one in a cell and no one can open the workbook.
# (openpyxl refuses the control characters itself, but writes U+FFFE and U+FFFF.)
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def read_xlsx(path: Path, overrides: Mapping[str, str], report: ProblemHandler) -> Iterator[Paper]:
    """The papers on the first sheet of the workbook at ``path``; see the module docstring."""
    from openpyxl import load_workbook

    _refuse_bomb(path)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    except Exception as exc:  # openpyxl's own parse errors have no common base
        raise InputError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    try:
        if not book.worksheets:
            return
        rows = _rows(book.worksheets[0], path)
        header: list[str] = []
        for _, values in rows:
            if any(_present(v) for v in values):
                header = [_header(v) for v in values]
                break
        if not header:
            return
        fields = resolve_columns(header, overrides, str(path))
        missing = missing_required(fields)
        if missing:
            raise InputError(
                f"{path}: no {' or '.join(missing)} column among the headers "
                f"{', '.join(repr(h) for h in header)}; name it with --column {missing[0]}=HEADER",
                line=1,
            )
        extras = extra_columns(header, fields)
        for number, values in rows:
            cells = list(values)
            if not any(_present(v) for v in cells):
                continue
            cells += [None] * (len(header) - len(cells))
            record: dict[str, Any] = {f: _value(cells[i], f) for f, i in fields.items()}
            record.update((key, _value(cells[i], key)) for i, key in extras)
            for i in range(len(header), len(cells)):  # cells right of the header
                if _present(cells[i]):
                    record[f"column {i + 1}"] = _value(cells[i], "")
            paper = paper_from_record(record, number, report)
            if paper is not None:
                yield paper
    finally:
        book.close()


def _rows(sheet: Any, path: Path) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """The sheet's rows, numbered from 1; XML damage found on the way is one InputError.

    openpyxl parses a read-only sheet as its rows are asked for, so damage
    below the first rows (a character XML forbids, an entity bomb that expat
    stops) is found only here.
    """
    number = 0
    try:
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, values
    except (SyntaxError, zipfile.BadZipFile, zlib.error, EOFError) as exc:  # SyntaxError: XML's
        raise InputError(
            f"{path}: not a readable .xlsx workbook after row {number} ({exc})", line=number + 1
        ) from exc


def _refuse_bomb(path: Path) -> None:
    # The sizes the zip file declares bound what reading it yields: zipfile
    # stops at a member's declared size (and fails its CRC if there was more).
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # openpyxl says what is wrong with it
    if unpacked > MAX_UNPACKED_BYTES:
        raise InputError(
            f"{path}: unpacks to {unpacked >> 20:,} MiB, more than the "
            f"{MAX_UNPACKED_BYTES >> 20} MiB a workbook of papers needs (a zip bomb?); "
            "if it is real, save it as CSV"
        )


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _header(value: object) -> str:
    return "" if value is None else str(value).strip()


def _value(value: Any, field: str) -> Any:
    if isinstance(value, dt.datetime):
        value = value.date() if value.time() == dt.time() else value
    if isinstance(value, dt.date | dt.time):
        return value if field == "published" and isinstance(value, dt.date) else value.isoformat()
    if isinstance(value, float) and value.is_integer() and field not in ("id", "url", "pdf_url"):
        return int(value)  # Excel keeps every number as a float: 2021.0 is the year 2021
    return "" if value is None else value


def _cell(sheet: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = _ILLEGAL.sub("\ufffd", str(value))
    if len(text) > MAX_CELL_CHARS // 2:
        text = _fit_cell(text)
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # openpyxl makes "=..." a formula; text it is
    return cell


def _fit_cell(text: str) -> str:
    """``text`` cut to Excel's cell limit, ending in ``…``, when it is longer.

    Excel counts UTF-16 code units: 20,000 emoji are 40,000 of them, and a
    workbook holding such a cell opens only after Excel "repairs" it.
    """
    if len(text.encode("utf-16-le")) // 2 <= MAX_CELL_CHARS:
        return text
    units = 0
    for end, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > MAX_CELL_CHARS - 1:  # room for the "…"
            return text[:end] + "…"
    return text  # not reached: the text is longer than the limit


class _Book:
    """A write-only workbook with one sheet, saved into a text stream's bytes at the end."""

    def __init__(self, stream: TextIO, title: str) -> None:
        from openpyxl import Workbook

        self._stream = stream
        self._book = Workbook(write_only=True)
        self.sheet = self._book.create_sheet(title)

    def append(self, values: Sequence[Any]) -> None:
        self.sheet.append([_cell(self.sheet, v) for v in values])

    def save(self) -> None:
        self._stream.flush()
        self._book.save(self._stream.buffer)


class XlsxWriter:
    """Scored papers as rows of a workbook, the columns laid out as :class:`CsvWriter`'s.

    ``input_columns`` as for the CSV writer; without it, fields the first row
    lacks go to the ``extra`` column as JSON. Call :meth:`finish` to write the
    workbook (``open_sinks`` does, when the run ends).
    """

    def __init__(
        self, stream: TextIO, rubric: Rubric, *, input_columns: Iterable[str] | None = None
    ) -> None:
        self._book = _Book(stream, "scored")
        self._rubric = rubric
        self._known = list(input_columns) if input_columns is not None else None
        self._inputs: list[str] | None = None
        self._results: dict[str, str] = {}
        self._overflow: str | None = None
        self.renamed: set[str] = set()

    def write(self, result: ScoredPaper) -> None:
        fields = input_row(result.paper)
        if self._inputs is None:
            self._start(fields)
        assert self._inputs is not None
        cells = [fields.pop(column, None) for column in self._inputs]
        values = result_values(result, self._rubric)
        cells += [values[name] for name in self._results]
        if self._overflow is not None:
            cells.append(fields or None)
        self._book.append(cells)

    def _start(self, first: Mapping[str, Any]) -> None:
        known = self._known if self._known is not None else list(first)
        self._inputs = list(dict.fromkeys([*PAPER_COLUMNS, *known]))
        taken = set(self._inputs)
        self._results = {name: result_name(name, taken) for name in result_names(self._rubric)}
        self.renamed = {name for name, column in self._results.items() if column != name}
        header = [*self._inputs, *self._results.values()]
        if self._known is None:
            self._overflow = result_name(OVERFLOW_COLUMN, taken)
            header.append(self._overflow)
        self._book.append(header)

    def finish(self) -> None:
        """Write the workbook (a header only, when no paper came)."""
        if self._inputs is None:
            self._start({})
        self._book.save()


def write_xlsx_papers(papers: Iterable[Paper], stream: TextIO) -> int:
    """Write ``papers`` as a workbook ``scorer batch`` reads (``scorer fetch -o papers.xlsx``)."""
    book = _Book(stream, "papers")
    book.append(PAPER_FILE_COLUMNS)
    count = 0
    for paper in papers:
        row = {**paper_row(paper), "categories": "; ".join(paper.categories)}
        book.append([row[column] for column in PAPER_FILE_COLUMNS])
        count += 1
    book.save()
    return count
