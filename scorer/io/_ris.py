"""RIS files in and out: what Zotero, EndNote, Rayyan and ASReview export and import.

Reading: records run from ``TY  -`` to ``ER  -``; each is parsed by ``rispy``
(a line without a tag continues the one before, so an abstract split over
lines comes back whole). Title (``TI``, else ``T1``), abstract (``AB``, else
``N2``), authors (``AU``, else ``A1``), year (``PY``; the date from ``DA``
when it has one), DOI (``DO``; the first valid one, the others kept as
``other_dois``), URL (the first http(s) ``UR``; the others kept as
``other_urls``) and keywords (``KW``, as the paper's categories) make the
``Paper``. Every other tag is carried through under rispy's name for it
(``journal_name``, ``volume``, ``label``, ``custom1``, ``notes``...;
``ID`` as ``reference_id``; tags rispy does not know under the tag itself)
and written back to the same tag. An ``ID`` that is an arXiv id, in a record
without a DOI, is the paper's id: the writer puts a paper's id there when it
is not a DOI, so a scored file read again keeps its papers' identities.

A record without title or abstract, or cut short (no ``ER`` line), is
reported with its line and number and skipped; the others are read. A file
with text but no record at all is an :class:`~scorer._errors.InputError`.

Writing puts scorer's results in the first ``N1`` note (see
:mod:`scorer.io._references`), ahead of the record's own notes; fields that
are not RIS tags (a CSV input's extra columns) become ``N1`` notes
``name: value``, and so do a paper's URLs that are not http(s) (only those
become ``UR`` and ``L1`` links) and fields named like a tag the paper's own
fields fill (a ``TI`` column beside the title). Every value is written on
one line, so no field can end a record or start a new one (and ``TY`` once:
other types go to notes); control characters are written as U+FFFD.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.io._readers import ProblemHandler, RowProblem, paper_from_record
from scorer.io._references import (
    format_note,
    is_arxiv_id,
    is_note,
    one_line,
    parse_published,
    record_reporter,
    replace_control,
    split_dois,
    split_links,
)

__all__ = ["RisWriter", "read_ris", "ris_lines", "write_ris_papers"]

# rispy's names for the tags, but ``ID`` is not the paper's id (scorer's id is the DOI).
_NAMES: dict[str, str] = {}
_TAGS: dict[str, str] = {}
_LIST_TAGS = ["A1", "A2", "A3", "A4", "AU", "KW", "N1", "UR", "DO"]
_TAG_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")
_BARE_TAG = re.compile(r"^[A-Z][A-Z0-9]$")
_HEADER = re.compile(r"^\s*\d+\.\s*$")  # "1." before a record, as rispy and some tools write


def _mapping() -> dict[str, str]:
    if not _NAMES:
        from rispy.config import TAG_KEY_MAPPING  # type: ignore[import-untyped]

        _NAMES.update(TAG_KEY_MAPPING, ID="reference_id")
        _TAGS.update((name, tag) for tag, name in _NAMES.items())
    return _NAMES


def read_ris(
    lines: Iterable[str],
    bad: Mapping[int, str],
    name: str,
    overrides: Mapping[str, str],
    report: ProblemHandler,
) -> Iterator[Paper]:
    """The papers of a RIS file's ``lines`` (decoded, numbered from 1); see the module docstring.

    ``bad`` holds lines the line reader could not use (NUL bytes, too long);
    a record with one is reported and skipped. ``overrides`` maps a Paper
    field to the tag (``N2``) or rispy name (``notes_abstract``) to read it from.
    """
    record: list[str] | None = None
    start = number = 0
    stray = False
    for line_number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        tag = line[:2] if _TAG_LINE.match(line) else None
        if tag == "TY":
            if record is not None:
                report(RowProblem(start, f"record {number}: no ER line before the next TY"))
            record, start, number = [line], line_number, number + 1
            continue
        if record is None:
            if line.strip() and not _HEADER.match(line):
                stray = True
            continue
        record.append(line)
        if tag == "ER":
            trouble = next((bad[n] for n in sorted(bad) if start <= n <= line_number), None)
            tell = record_reporter(report, number, None)
            if trouble is not None:
                tell(RowProblem(start, trouble))
            else:
                paper = _paper(record, start, number, overrides, report)
                if paper is not None:
                    yield paper
            record = None
    if record is not None:
        report(RowProblem(start, f"record {number}: no ER line (the file ends first; cut short?)"))
    if number == 0 and stray:
        from scorer._errors import InputError

        raise InputError(f"{name}: no RIS record (no line starts with 'TY  - '); is it RIS?")


def _paper(
    lines: list[str],
    start: int,
    number: int,
    overrides: Mapping[str, str],
    report: ProblemHandler,
) -> Paper | None:
    from rispy import RisParser  # type: ignore[import-untyped]

    try:
        parser = RisParser(mapping=_mapping(), list_tags=_LIST_TAGS, enforce_list_tags=False)
        entry: dict[str, Any] = parser.parse_lines(iter(lines))[0]
    except Exception as exc:  # rispy's own errors are plain exceptions: one bad record
        report(RowProblem(start, f"record {number}: not readable as RIS ({exc})"))
        return None
    for tag, values in dict(entry.pop("unknown_tag", {})).items():
        entry[tag] = values[0] if len(values) == 1 else list(values)
    wanted = {field: _NAMES.get(key.upper(), key) for field, key in overrides.items()}

    def take(field: str, *keys: str) -> Any:
        for key in (wanted[field],) if field in wanted else keys:
            if key in entry:
                return entry.pop(key)
        return None

    title = _text(take("title", "title", "primary_title"))
    record: dict[str, Any] = {
        "title": title,
        "abstract": _text(take("abstract", "abstract", "notes_abstract")),
        "authors": _list(take("authors", "authors", "first_authors")),
        "categories": _list(take("categories", "keywords")),
    }
    year = take("published", "year")
    record["published"] = parse_published(_text(entry.get("date")), _text(year))
    doi, other_dois = split_dois(_list(take("id", "doi")))
    record["id"] = doi
    reference = entry.get("reference_id")
    arxiv = isinstance(reference, str) and is_arxiv_id(reference)
    if doi is None and arxiv and "id" not in wanted:
        record["id"] = entry.pop("reference_id")  # what RisWriter writes for an arXiv paper
    if other_dois:
        record["other_dois"] = other_dois
    urls = _list(take("url", "urls"))
    web = next((u for u in urls if u.lower().startswith(("http://", "https://"))), None)
    record["url"] = web
    if rest := [u for u in urls if u != web]:
        record["other_urls"] = rest
    if "pdf_url" in wanted:
        record["pdf_url"] = _text(take("pdf_url"))
    for key, value in entry.items():
        # A tag whose name is taken (TI when --column title=T1) is kept under
        # the tag itself, which the writer writes back as it is.
        record[_TAGS.get(key, key) if key in record else key] = value
    return paper_from_record(record, start, record_reporter(report, number, title))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return one_line(" ".join(str(v) for v in value))
    return one_line(str(value))


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [text for item in items if (text := one_line(str(item)))]


def ris_reference(paper: Paper, *, note: str | None = None) -> dict[str, Any]:
    """``paper`` as tag -> value(s), its own fields first, ``note`` the first ``N1``."""
    _mapping()
    extras = paper.extra_fields
    # One TY line: a second one would start a record of its own.
    kinds = _list(extras.pop("type_of_reference", None))
    ref: dict[str, Any] = {"TY": kinds[0] if kinds else "JOUR"}
    ref["TI"] = paper.title
    ref["AU"] = paper.authors
    if paper.published is not None:
        ref["PY"] = str(paper.published.year)
        if "date" not in extras and paper.published.timetuple()[1:3] != (1, 1):
            ref["DA"] = paper.published.strftime("%Y/%m/%d")
    ref["AB"] = paper.abstract
    dois = _list(extras.pop("other_dois", None))
    if paper.id and split_dois([paper.id])[0]:
        dois.insert(0, paper.id)
    elif paper.id and "reference_id" not in extras:
        ref["ID"] = paper.id
    # One line, as EndNote writes several DOIs (Zotero writes one).
    ref["DO"] = " ".join(dois) or None
    urls = ([paper.url] if paper.url else []) + _list(extras.pop("other_urls", None))
    ref["UR"], text_links = split_links("url", urls)
    if paper.pdf_url and "file_attachments1" not in extras:
        pdf, not_web = split_links("pdf_url", [paper.pdf_url])
        ref["L1"] = pdf
        text_links += not_web
    ref["KW"] = paper.categories
    notes = [note] if note else []
    notes += [f"type_of_reference: {kind}" for kind in kinds[1:]] + text_links
    for key, value in extras.items():
        tag = _TAGS.get(key) or (key if _BARE_TAG.match(key) else None)
        if tag == "N1":
            notes.extend(n for n in _list(value) if not is_note(n))  # an older run's note goes
        # A tag the paper's own fields hold ("TI" beside title) must not replace them:
        # that one, like a field that is no tag, becomes a note.
        elif tag is not None and tag not in ("TY", "ER") and ref.get(tag) in (None, "", []):
            if tag == "UR":  # a link as the paper's own URLs are: http(s) only
                ref["UR"], not_web = split_links(key, _list(value))
                notes += not_web
            else:
                ref[tag] = value
        elif value not in (None, "", [], {}):
            notes.append(f"{key}: {_flat(value)}")
    ref["N1"] = notes
    return ref


def _flat(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def ris_lines(ref: Mapping[str, Any]) -> str:
    """A record as RIS text: ``TY`` first, ``ER`` last, every value on its own line."""
    out = []
    for tag, value in ref.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            text = replace_control(one_line(_flat(item))) if item is not None else ""
            if text:
                out.append(f"{tag}  - {text}")
    out.append("ER  - ")
    return "\n".join(out) + "\n\n"


class RisWriter:
    """Scored papers as RIS records, results in the first ``N1`` note of each."""

    def __init__(self, stream: TextIO, rubric: Rubric) -> None:
        self._stream = stream
        self._rubric = rubric
        self.renamed: set[str] = set()  # results live in the note: no column is renamed

    def write(self, result: ScoredPaper) -> None:
        note = format_note(result, self._rubric)
        self._stream.write(ris_lines(ris_reference(result.paper, note=note)))
        self._stream.flush()


def write_ris_papers(papers: Iterable[Paper], stream: TextIO) -> int:
    """Write ``papers`` as RIS records (``scorer fetch -o papers.ris``); return how many."""
    count = 0
    for paper in papers:
        stream.write(ris_lines(ris_reference(paper)))
        stream.flush()
        count += 1
    return count
