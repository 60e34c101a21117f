"""Reading papers from the files people have: CSV, TSV and JSONL, streamed row by row.

Header names vary between tools (``Title``, ``Document Title``, ``summary``,
``PDF Link``...): common ones are recognised, ``columns`` overrides them, and
every other column is carried through unchanged as an extra field of the
``Paper``. A bad row is reported to ``on_problem`` with its line number and
skipped; a file that cannot be read at all raises ``InputError``.

Bad rows include: a NUL byte in a line, a line longer than
``MAX_LINE_BYTES``, text that does not decode in an explicit encoding, JSON
nested deeper than ``MAX_NESTING`` levels or fields of the wrong type. Only
what dooms the whole file stops it: UTF-16 or binary content (a BOM or NUL
bytes on the first line), or a CSV header that cannot be read.

>>> import io
>>> papers = read_papers("-", stdin=io.StringIO('{"Title": "T", "summary": "S"}\\n'))
>>> [(p.title, p.abstract) for p in papers]
[('T', 'S')]

The lines themselves (decoding, NUL bytes, long lines, by number) come from
:mod:`scorer.io._lines`.
"""

from __future__ import annotations

import codecs
import csv
import json
import operator
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from scorer._errors import InputError
from scorer._models import MAX_NESTING, Paper, clean_value
from scorer._plain_paper import plain_paper, plain_rows
from scorer.io._columns import check_overrides, extra_columns, missing_required, resolve_columns
from scorer.io._csv_records import csv_records
from scorer.io._lines import MAX_LINE_BYTES, TOO_LONG, BadLines, Notice, file_lines, stream_lines

__all__ = ["MAX_LINE_BYTES", "ProblemHandler", "RowProblem", "paper_from_record", "read_papers"]


@dataclass(frozen=True)
class RowProblem:
    """Something wrong with one record of an input file.

    ``line`` is the 1-based line where the record starts (a CSV header is line
    1). ``skipped`` is False for notices about records that were still read,
    e.g. text that was not UTF-8 and was decoded as Windows-1252.
    """

    line: int
    message: str
    skipped: bool = True


ProblemHandler = Callable[[RowProblem], None]

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".ris", ".bib", ".xlsx")


def read_papers(
    source: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    on_problem: ProblemHandler | None = None,
    stdin: TextIO | None = None,
    encoding: str | None = None,
) -> Iterator[Paper]:
    """Yield the papers in a ``.csv``, ``.tsv``, ``.jsonl``, ``.ndjson``, ``.ris``, ``.bib``
    or ``.xlsx`` file, lazily (RIS, BibTeX and Excel: see :mod:`scorer.io._ris`,
    :mod:`scorer.io._bibtex`, :mod:`scorer.io._xlsx`).

    ``source`` ``"-"`` reads JSONL from ``stdin`` (default ``sys.stdin``).
    ``columns`` maps a Paper field to the header that holds it, overriding the
    recognised names (``{"title": "Paper Name"}``). Rows that cannot become a
    Paper are passed to ``on_problem`` and skipped.

    ``encoding`` None reads UTF-8 (with or without BOM) and decodes any line
    that is not UTF-8 as Windows-1252, telling ``on_problem`` once (legacy
    exports such as Kitchenham.csv are like that); an explicit encoding (one
    that keeps ASCII as is, e.g. ``"utf-8"``, ``"latin-1"``) is used strictly:
    a record with text that does not decode is a bad row (a CSV header that
    does not decode raises ``InputError``). UTF-16 is an error.

    The source, extension, encoding name and ``columns`` fields are checked at
    once; problems with the file's contents surface while iterating.
    """
    overrides = dict(columns or {})
    check_overrides(overrides, option="--column")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputError(f"unknown encoding {encoding!r}") from exc
    report = on_problem or _ignore
    bad: BadLines = {}
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin
        lines = stream_lines(stream, "<stdin>", encoding, _notice(report), bad)
        return _read_jsonl(lines, bad, "<stdin>", overrides, report)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise InputError(
            f"{path}: unsupported file type {suffix or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED_EXTENSIONS)}, or - for JSONL on stdin"
        )
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if suffix in _REFERENCE_READERS:
        return _REFERENCE_READERS[suffix](path, encoding, overrides, report)
    lines = file_lines(path, encoding, _notice(report), bad)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(lines, bad, str(path), overrides, report)
    delimiter = "\t" if suffix == ".tsv" else ","
    return _read_csv(lines, bad, str(path), delimiter, overrides, report)


def _read_ris(
    path: Path, encoding: str | None, overrides: Mapping[str, str], report: ProblemHandler
) -> Iterator[Paper]:
    from scorer.io._ris import read_ris  # rispy is imported only when a RIS file is read

    bad: BadLines = {}
    yield from read_ris(
        file_lines(path, encoding, _notice(report), bad), bad, str(path), overrides, report
    )


def _read_bibtex(
    path: Path, encoding: str | None, overrides: Mapping[str, str], report: ProblemHandler
) -> Iterator[Paper]:
    from scorer.io._bibtex import read_bibtex

    bad: BadLines = {}
    text = "".join(file_lines(path, encoding, _notice(report), bad))
    cut = {line for line, problem in bad.items() if problem == TOO_LONG}  # read past, not kept
    for line, problem in sorted(bad.items()):  # the parser sees the text whole: say where
        if line not in cut:
            report(RowProblem(line, problem, skipped=False))
    yield from read_bibtex(text, overrides, report, cut=cut)


def _read_xlsx(
    path: Path, encoding: str | None, overrides: Mapping[str, str], report: ProblemHandler
) -> Iterator[Paper]:
    from scorer.io._xlsx import read_xlsx

    yield from read_xlsx(path, overrides, report)


_REFERENCE_READERS = {".ris": _read_ris, ".bib": _read_bibtex, ".xlsx": _read_xlsx}


def _ignore(problem: RowProblem) -> None:
    pass


def _notice(report: ProblemHandler) -> Notice:
    """``report``, told of text that was read all the same, as the line readers tell it."""

    def notice(line: int, message: str) -> None:
        report(RowProblem(line, message, skipped=False))

    return notice


def _read_csv(
    lines: Iterator[str],
    bad: BadLines,
    name: str,
    delimiter: str,
    overrides: Mapping[str, str],
    report: ProblemHandler,
) -> Iterator[Paper]:
    _allow_long_fields()
    read = [0]  # lines read so far (csv.reader's line_num)
    records = csv_records(lines, delimiter, read)
    header: list[str] | None = None
    while not header:  # leading blank lines are not a header
        first = next(records, None)
        if first is None:
            return
        if isinstance(first, csv.Error):
            raise InputError(f"{name}: line {read[0]}: {first}", line=read[0]) from first
        header = first
        trouble = _bad_in(bad, 1, read[0])
        if trouble is not None:
            raise InputError(f"{name}: header: {trouble}", line=1)
    fields = resolve_columns(header, overrides, name)
    missing = missing_required(fields)
    if missing:
        raise InputError(
            f"{name}: no {' or '.join(missing)} column among the headers "
            f"{', '.join(repr(h) for h in header)}; name it with "
            f"--column {missing[0]}=HEADER",
            line=1,
        )
    extras = extra_columns(header, fields)
    # A record is the row's cells under their field or column names, picked in one
    # C call per row (title and abstract are always there: never a single index).
    names = [*fields, *(key for _, key in extras)]
    pick = operator.itemgetter(*fields.values(), *(i for i, _ in extras))
    plain = plain_rows(fields, extras)  # most rows: a Paper without making the record first
    width = len(header)
    last_line = read[0]
    error = csv.Error
    for row in records:
        start, last_line = last_line + 1, read[0]
        if bad:
            if isinstance(row, error):
                # The reader starts afresh at the next line: one bad record, not a bad file.
                report(RowProblem(start, _bad_in(bad, start, last_line) or str(row)))
                continue
            trouble = _bad_in(bad, start, last_line)
            if trouble is not None:
                report(RowProblem(start, trouble))
                continue
        elif isinstance(row, error):
            report(RowProblem(start, str(row)))
            continue
        if not (row and row[0].strip()) and not any(cell.strip() for cell in row):
            continue  # a blank row
        if len(row) != width:
            if len(row) > width:
                report(
                    RowProblem(
                        start,
                        f"{len(row)} fields but the header has {width} "
                        "(an unquoted delimiter or quote?)",
                    )
                )
                continue
            row += [""] * (width - len(row))
        paper = plain(row)
        if paper is not None:
            yield paper
            continue
        record: dict[str, Any] = dict(zip(names, pick(row), strict=True))
        paper = paper_from_record(record, start, report)
        if paper is not None:
            yield paper


def _bad_in(bad: BadLines, start: int, last_line: int) -> str | None:
    """The problem of the record on lines ``start``..``last_line``: its first bad line's."""
    if not bad:
        return None
    found = sorted(number for number in bad if number <= last_line)
    if not found:
        return None
    problem = bad[found[0]]
    if found[0] != start:
        problem = f"{problem} (line {found[0]})"
    for number in found:
        del bad[number]
    return problem


def _allow_long_fields() -> None:
    # The default limit (128 KiB) is below some real abstracts-with-markup fields.
    limit = 2**31 - 1
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def _read_jsonl(
    lines: Iterator[str],
    bad: BadLines,
    name: str,
    overrides: Mapping[str, str],
    report: ProblemHandler,
) -> Iterator[Paper]:
    layouts: dict[tuple[str, ...], tuple[dict[str, int], list[tuple[int, str]]]] = {}
    for number, line in enumerate(lines, start=1):
        if number in bad:
            report(RowProblem(number, bad.pop(number)))
            continue
        if not line.strip():
            continue
        obj = _json_record(line, number, report)
        if obj is None:
            continue
        keys = tuple(obj)
        if keys not in layouts:
            # Records may differ in their keys; an override must name a key of
            # the first record, so that a typo fails at once.
            fields = resolve_columns(keys, overrides, name, require_overrides=not layouts)
            layouts[keys] = (fields, extra_columns(keys, fields))
        fields, extras = layouts[keys]
        values = list(obj.values())
        record: dict[str, Any] = {field: values[i] for field, i in fields.items()}
        record.update((key, values[i]) for i, key in extras)
        paper = paper_from_record(record, number, report)
        if paper is not None:
            yield paper


def _json_record(line: str, number: int, report: ProblemHandler) -> dict[str, Any] | None:
    """The JSON object on ``line``, bounded in depth and valid Unicode; None (reported) if not."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        report(RowProblem(number, f"not valid JSON: {exc.msg} (column {exc.colno})"))
        return None
    except RecursionError:
        report(RowProblem(number, f"JSON nested too deep (more than {MAX_NESTING} levels)"))
        return None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        report(RowProblem(number, f"not valid JSON: {exc}"))
        return None
    if not isinstance(obj, dict):
        report(RowProblem(number, f"not a JSON object but {type(obj).__name__}"))
        return None
    try:
        cleaned, fixed = clean_value(obj, max_depth=MAX_NESTING + 1)  # the record is a level
    except ValueError:
        report(RowProblem(number, f"JSON nested too deep (more than {MAX_NESTING} levels)"))
        return None
    if fixed:
        report(
            RowProblem(
                number,
                "lone UTF-16 surrogates (half an emoji?) in the text, read as \ufffd",
                skipped=False,
            )
        )
    result: dict[str, Any] = cleaned
    return result


def paper_from_record(record: dict[str, Any], line: int, report: ProblemHandler) -> Paper | None:
    """``record`` (Paper field or extra key -> value) as a Paper, or None after telling ``report``.

    A record without title or abstract, or with a field that does not
    validate, is one :class:`RowProblem` at ``line`` (its message names the
    field and value, shortened).
    """
    paper = plain_paper(record)  # most rows of a text file: no validators to run
    if paper is not None:
        return paper
    missing = [f for f in ("title", "abstract") if _is_blank(record.get(f))]
    if missing:
        report(RowProblem(line, f"missing {' and '.join(missing)}"))
        return None
    try:
        return Paper.model_validate(record)
    except ValidationError as exc:
        report(RowProblem(line, _describe(exc)))
        return None


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        if not error["loc"]:  # about the whole record, whose repr may be huge
            parts.append(error["msg"].removeprefix("Value error, "))
            continue
        field = ".".join(str(part) for part in error["loc"])
        kind = "date" if field == "published" else "value"
        shown = repr(error.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        parts.append(f"{field}: invalid {kind} {shown} ({error['msg']})")
    return "; ".join(parts)
