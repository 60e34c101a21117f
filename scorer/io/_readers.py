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

Over 300 lines: CSV and JSONL share the line screening (NUL bytes, long lines,
decoding) that reports a bad row with its line number; split, each half would
import the other's.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from pydantic import ValidationError

from scorer._errors import InputError
from scorer._models import MAX_NESTING, Paper, clean_value
from scorer._plain_paper import plain_paper, plain_rows
from scorer.io._columns import check_overrides, extra_columns, missing_required, resolve_columns
from scorer.io._csv_records import csv_records

__all__ = ["MAX_LINE_BYTES", "ProblemHandler", "RowProblem", "paper_from_record", "read_papers"]

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest line read, in bytes; a longer one is a bad row (and never held in memory whole)."""

_TOO_LONG = f"line longer than {MAX_LINE_BYTES // 2**20} MiB"


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

_ICONV_HINT = "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
# A file saved as UTF-16 ("Unicode text" in Excel) needs the other conversion.
_UTF16_HINT = "re-save it as UTF-8, e.g. `iconv -f utf-16 -t utf-8`"
_NOT_TEXT = "{name}: not UTF-8 text (NUL byte at line 1: UTF-16 or binary?); " + _UTF16_HINT


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
    bad: _BadLines = {}
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin
        lines = _stream_lines(stream, "<stdin>", encoding, report, bad)
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
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(
            _file_lines(path, encoding, report, bad), bad, str(path), overrides, report
        )
    delimiter = "\t" if suffix == ".tsv" else ","
    return _read_csv(
        _file_lines(path, encoding, report, bad), bad, str(path), delimiter, overrides, report
    )


def _read_ris(
    path: Path, encoding: str | None, overrides: Mapping[str, str], report: ProblemHandler
) -> Iterator[Paper]:
    from scorer.io._ris import read_ris  # rispy is imported only when a RIS file is read

    bad: _BadLines = {}
    yield from read_ris(_file_lines(path, encoding, report, bad), bad, str(path), overrides, report)


def _read_bibtex(
    path: Path, encoding: str | None, overrides: Mapping[str, str], report: ProblemHandler
) -> Iterator[Paper]:
    from scorer.io._bibtex import read_bibtex

    bad: _BadLines = {}
    text = "".join(_file_lines(path, encoding, report, bad))
    cut = {line for line, problem in bad.items() if problem == _TOO_LONG}  # read past, not kept
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


# Lines that cannot be part of a paper, by line number, with the reason. The
# line readers fill it as they go; the record readers, which know where a
# record starts and ends, report and skip the records that hold such a line.
_BadLines = dict[int, str]


def _ignore(problem: RowProblem) -> None:
    pass


def _file_lines(
    path: Path, encoding: str | None, report: ProblemHandler, bad: _BadLines
) -> Iterator[str]:
    # The lines of whole blocks, chained in C: no Python frame per line on a clean file.
    return itertools.chain.from_iterable(_file_blocks(path, encoding, report, bad))


def _file_blocks(
    path: Path, encoding: str | None, report: ProblemHandler, bad: _BadLines
) -> Iterator[Iterable[str]]:
    """The lines of ``path`` as :class:`_LineDecoder` reads them, a block at a time.

    A block of whole lines with no NUL byte whose every line decodes strictly
    is read at C speed: ``io.BytesIO`` splits it on ``b"\n"`` as ``readline``
    does, and each line is decoded as :class:`_LineDecoder` would. The first
    line, a line over the limit and any other block go through
    :class:`_LineDecoder` itself, lazily, line by line: errors, notices, bad
    lines and their numbers stay what they were.
    """
    decoder = _LineDecoder(str(path), encoding, report, bad)
    decode = operator.methodcaller("decode", encoding or "utf-8")  # strict, as the decoder
    fast = codecs.lookup(encoding or "utf-8").name in _BLOCK_CODECS
    number = 0  # lines handed on so far
    with path.open("rb") as raw:
        for block in _raw_blocks(raw, MAX_LINE_BYTES):
            if block is None:
                number += 1
                yield (decoder.line(number, None),)
                continue
            if number == 0:  # the first line: BOMs and NUL bytes say what the file is
                cut = block.find(b"\n") + 1 or len(block)
                number += 1
                yield (decoder.line(number, block[:cut]),)
                block = block[cut:]
                if not block:
                    continue
            if fast and b"\0" not in block:
                try:
                    lines = list(map(decode, io.BytesIO(block)))
                except UnicodeDecodeError:
                    pass
                else:
                    number += len(lines)
                    yield lines
                    continue
            yield decoder.lines(number, block)
            number += block.count(b"\n")  # (one not ending in b"\n" is the file's last)


# Codecs (codecs.lookup names) in which a NUL character is a NUL byte, so a block
# without b"\0" needs no screening. Not so in e.g. UTF-7 ("+AAA-") or unicode_escape.
_BLOCK_CODECS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
# 64 KiB: bigger blocks were slower (1 MiB: 0.90 us a line, 64 KiB: 0.47, per line 0.75):
# their lines leave the CPU caches, and past malloc's mmap threshold (128 KiB) each
# read maps fresh pages.
_BLOCK_BYTES = 1 << 16


def _raw_blocks(raw: IO[bytes], limit: int, size: int = _BLOCK_BYTES) -> Iterator[bytes | None]:
    """The bytes of ``raw`` in blocks of whole lines, as :func:`_raw_lines` splits them.

    Each block ends with ``b"\n"`` (but the file's last) and holds no line
    longer than ``limit``; None stands for such a line, read past, never held
    whole. A line longer than a block is gathered from its pieces.
    """
    size = min(size, limit)  # a line inside one read is never over the limit
    held: list[bytes] = []  # the start of a line that began in an earlier read
    length = 0  # of held
    skipping = False  # past the limit: reading to the end of that line
    while chunk := raw.read(size):
        if skipping:
            cut = chunk.find(b"\n") + 1
            if not cut:
                continue
            skipping, chunk = False, chunk[cut:]
        end = chunk.rfind(b"\n") + 1
        if held and end:
            first = chunk.find(b"\n") + 1
            if length + first - 1 > limit:
                yield None
            else:
                yield b"".join([*held, chunk[:first]])
            held, length = [], 0
            chunk, end = chunk[first:], end - first
        if end:
            yield chunk[:end]
        if end < len(chunk):
            held.append(chunk[end:])
            length += len(chunk) - end
            if length > limit:
                yield None
                held, length, skipping = [], 0, True
    if held:
        yield b"".join(held)


class _LineDecoder:
    """Lines of bytes as text: strictly in an explicit encoding, else UTF-8 or Windows-1252.

    Splitting bytes on b"\n" is safe: no byte of a multi-byte UTF-8 (or
    Windows-1252) character is 0x0A. Decoding line by line lets an error name
    its line. A line that does not decode is bad in an explicit encoding, and
    read as Windows-1252 with one notice otherwise; NUL bytes on the first
    line (or a UTF-16 BOM) mean the file is not text at all.
    """

    def __init__(self, name: str, encoding: str | None, report: ProblemHandler, bad: _BadLines):
        self.name, self.encoding, self.report, self.bad = name, encoding, report, bad
        self.fell_back = False

    def lines(self, before: int, block: bytes) -> Iterator[str]:
        """The lines of ``block``, whose first is line ``before + 1``, one at a time."""
        for number, line in enumerate(io.BytesIO(block), start=before + 1):
            yield self.line(number, line)

    def line(self, number: int, line: bytes | None) -> str:
        """Line ``number`` (None: one over the limit) decoded, its NUL bytes noted and dropped."""
        text = self._decoded(number, line)
        if "\0" in text:
            if number == 1:
                raise InputError(_NOT_TEXT.format(name=self.name), line=1)
            self.bad.setdefault(number, "NUL byte in the line (a damaged file?)")
            text = text.replace("\0", "")
        return text

    def _decoded(self, number: int, line: bytes | None) -> str:
        if line is None:
            self.bad[number] = _TOO_LONG
            return "\n"
        name, encoding = self.name, self.encoding
        if number == 1:
            if line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise InputError(f"{name}: UTF-16 text, not UTF-8; {_UTF16_HINT}", line=1)
            line = line.removeprefix(codecs.BOM_UTF8)
            if b"\0" in line:  # before any decoding notice: the file is not text
                raise InputError(_NOT_TEXT.format(name=name), line=1)
        try:
            return line.decode(encoding or "utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte 0x{line[exc.start]:02x} at line {number}"
            if encoding is not None:
                self.bad[number] = f"not {encoding} text ({where}); {_ICONV_HINT}"
                return line.decode(encoding, errors="replace")
            if not self.fell_back:
                self.fell_back = True
                self.report(
                    RowProblem(
                        number,
                        f"not UTF-8 text ({where}); reading such lines as Windows-1252. "
                        "If characters look wrong, re-save the file as UTF-8",
                        skipped=False,
                    )
                )
            return line.decode("cp1252", errors="replace")


def _stream_lines(
    stream: TextIO, name: str, encoding: str | None, report: ProblemHandler, bad: _BadLines
) -> Iterator[str]:
    raw = getattr(stream, "buffer", None)
    if raw is not None:  # a real stdin: decode its bytes the same way as a file's
        decoder = _LineDecoder(name, encoding, report, bad)
        for number, line in enumerate(_raw_lines(raw, MAX_LINE_BYTES), start=1):
            yield decoder.line(number, line)  # line by line: a pipe is read as it comes
        return
    yield from _screened(_text_lines(stream, name, bad), name, bad)


def _text_lines(stream: TextIO, name: str, bad: _BadLines) -> Iterator[str]:
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            if len(line) > MAX_LINE_BYTES:
                bad[number] = _TOO_LONG
                line = "\n"
            yield line.removeprefix("\ufeff") if number == 1 else line
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (after line {number}); {_ICONV_HINT}") from exc


def _screened(lines: Iterable[str], name: str, bad: _BadLines) -> Iterator[str]:
    """Lines with NUL bytes marked bad; NULs on the first line mean UTF-16 or binary."""
    for number, line in enumerate(lines, start=1):
        if "\0" in line:
            if number == 1:
                raise InputError(_NOT_TEXT.format(name=name), line=1)
            bad.setdefault(number, "NUL byte in the line (a damaged file?)")
            line = line.replace("\0", "")
        yield line


def _raw_lines(raw: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The lines of ``raw``; None for a line longer than ``limit``, which is read past, not kept."""
    while line := raw.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := raw.readline(limit)) and not rest.endswith(b"\n"):
            pass
        yield None


def _read_csv(
    lines: Iterator[str],
    bad: _BadLines,
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


def _bad_in(bad: _BadLines, start: int, last_line: int) -> str | None:
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
    bad: _BadLines,
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
