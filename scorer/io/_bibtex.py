"""BibTeX files in and out, through ``bibtexparser`` 2 (Zotero's and EndNote's exports).

Reading: LaTeX is decoded (``M{\\"u}ller`` is ``Müller``; math such as
``$\\alpha$`` is kept as written), except in the fields biblatex reads
verbatim (``url``, ``doi``, ``eprint``, ``file``, ``pdf``; Zotero writes a
URL's ``%20`` as it is); authors are split on ``and`` outside braces
(``{Simon and Schuster}`` is one author) and kept as written (``Last,
First``). ``title``, ``abstract``, ``author``, ``year`` (with ``date`` when
it is a full date), ``doi`` (the first valid DOI; others kept as
``other_dois``; without one, ``eprint``, an arXiv id for instance, is the id),
``url`` and ``keywords`` (split on ``,`` or ``;``, as the
paper's categories) make the ``Paper``; every other field is carried through
under its own name, with the entry type as ``entry_type`` and the key as
``citation_key``, and written back.

An entry the parser cannot read, without title or abstract, or holding a
line too long to read (see :data:`~scorer.io._readers.MAX_LINE_BYTES`), is
reported with its line and number and skipped; the others are read.

Writing: one entry per paper, LaTeX-encoded by :mod:`scorer.io._latex` (no
value can close its field or start an entry; URLs, DOIs and files are
written as they are); a paper's URLs that are not http(s), and fields whose
names BibTeX cannot hold or that are taken (``Title`` beside ``title``), go
to the note as ``name: value``;
scorer's results lead the ``note`` field (see :mod:`scorer.io._references`),
the entry's own note after a blank line.

Over 300 lines: reading and writing share the field rules (DOIs, URLs,
keywords, fields renamed on collision, the authors' braces); split, each
half would restate them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.io._columns import PAPER_FIELDS
from scorer.io._latex import (
    VERBATIM_FIELDS,
    decoder,
    latex,
    quiet_logger,
    read_verbatim,
    verbatim,
)
from scorer.io._readers import MAX_LINE_BYTES, ProblemHandler, RowProblem, paper_from_record
from scorer.io._references import (
    format_note,
    is_note,
    one_line,
    parse_published,
    record_reporter,
    replace_control,
    split_dois,
    split_links,
)

if TYPE_CHECKING:
    from bibtexparser.middlewares import LatexDecodingMiddleware

__all__ = ["BibtexWriter", "bibtex_entry", "read_bibtex", "write_bibtex_papers"]

_PREFIX = "bibtex_"
_AUTHORS = "author list"  # a field name no file has: the authors, until written
_MIB = MAX_LINE_BYTES >> 20
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_:.\-]+")


def read_bibtex(
    text: str,
    overrides: Mapping[str, str],
    report: ProblemHandler,
    *,
    cut: Collection[int] = (),
) -> Iterator[Paper]:
    """The papers of a BibTeX file's ``text``; see the module docstring.

    ``overrides`` maps a Paper field to the BibTeX field to read it from.
    ``cut`` holds the lines (from 1) the line reader read past, too long to
    keep: an entry holding one is reported and skipped, not read without it.
    """
    from bibtexparser.entrypoint import parse_string
    from bibtexparser.middlewares import (
        LatexDecodingMiddleware,
        NormalizeFieldKeys,
        SeparateCoAuthors,
    )
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

    # The parser logs each bad block as a warning, which Python prints on
    # stderr when nothing handles logging; scorer reports them itself, once.
    # (An application that configures logging still gets them.)
    quiet_logger("bibtexparser")

    class Decoder(LatexDecodingMiddleware):
        """LaTeX decoding of every field but the verbatim ones (URLs, DOIs, files)."""

        def transform_entry(self, entry: Entry, library: Any) -> Any:
            fields = entry.fields
            entry.fields = [f for f in fields if f.key not in VERBATIM_FIELDS]
            try:
                return super().transform_entry(entry, library)
            finally:
                for field in fields:
                    if field.key in VERBATIM_FIELDS and isinstance(field.value, str):
                        field.value = read_verbatim(field.value)
                entry.fields = fields

    latex_decoder = Decoder(decoder=decoder())
    stack = [NormalizeFieldKeys(), SeparateCoAuthors(), latex_decoder]
    library = parse_string(text, append_middleware=stack)
    number = 0
    left = set(cut)
    for block in library.blocks:
        line = (block.start_line or 0) + 1
        lost = sorted(n for n in left if line <= n <= line + (block.raw or "").count("\n"))
        if isinstance(block, DuplicateBlockKeyBlock) and isinstance(
            block.ignore_error_block, Entry
        ):
            block = block.ignore_error_block  # two entries, one key: still two papers
        elif isinstance(block, ParsingFailedBlock):
            number += 1
            left.difference_update(lost)
            reason = getattr(block.error, "abort_reason", "") or str(block.error)
            report(RowProblem(line, f"entry {number}: not valid BibTeX ({one_line(reason)})"))
            continue
        if not isinstance(block, Entry):
            continue  # comments, @string, @preamble
        number += 1
        left.difference_update(lost)
        if lost:
            title = block.fields_dict.get("title")
            tell = record_reporter(report, number, _text(title and title.value), kind="entry")
            tell(RowProblem(line, f"line {lost[0]} is longer than {_MIB} MiB"))
            continue
        paper = _paper(block, line, number, latex_decoder, overrides, report)
        if paper is not None:
            yield paper
    for n in sorted(left):  # the whole of an entry, or what was between entries
        report(RowProblem(n, f"line longer than {_MIB} MiB"))


def _paper(
    entry: Any,
    line: int,
    number: int,
    decoder: LatexDecodingMiddleware,
    overrides: Mapping[str, str],
    report: ProblemHandler,
) -> Paper | None:
    fields: dict[str, Any] = {field.key: field.value for field in entry.fields}
    wanted = {field: key.lower() for field, key in overrides.items()}

    def take(field: str, *keys: str) -> Any:
        for key in (wanted[field],) if field in wanted else keys:
            if key in fields:
                return fields.pop(key)
        return None

    def decoded(name: str) -> str:
        # Authors were split before LaTeX decoding (braces guard an "and"),
        # which only decodes whole fields: each name is decoded here.
        return decoder._transform_python_value_string(name)[0]

    title = _text(take("title", "title"))
    authors = take("authors", "author")
    names = authors if isinstance(authors, list) else [authors] if authors else []
    record: dict[str, Any] = {
        "title": title,
        "abstract": _text(take("abstract", "abstract")),
        "authors": [one_line(decoded(str(name))) for name in names],
        "categories": _keywords(_text(take("categories", "keywords"))),
    }
    year = take("published", "year")
    record["published"] = parse_published(_text(fields.get("date")), _text(year))
    doi, other_dois = split_dois([_text(take("id", "doi")) or ""])
    # Without a DOI, biblatex's online identifier (arXiv's own exports put the arXiv id
    # there) is the paper's id: bibtex_entry writes a paper's id there when it is no DOI.
    record["id"] = doi or (_text(take("id", "eprint")) if "id" not in wanted else None)
    if other_dois:
        record["other_dois"] = other_dois
    urls = (_text(take("url", "url")) or "").split()
    record["url"] = urls[0] if urls else None
    if urls[1:]:
        record["other_urls"] = urls[1:]
    if "pdf_url" in wanted:
        record["pdf_url"] = _text(take("pdf_url"))
    record["entry_type"] = entry.entry_type
    record["citation_key"] = entry.key
    for key, value in fields.items():
        # A field named like a Paper field it did not fill ("id", "categories")
        # is kept under another name, and written back under its own.
        record[_PREFIX + key if key in record or key in PAPER_FIELDS else key] = _value(value)
    return paper_from_record(record, line, record_reporter(report, number, title, kind="entry"))


def _keywords(text: str | None) -> list[str]:
    return [word for word in (one_line(p) for p in re.split(r"[,;]", text or "")) if word]


def _value(value: Any) -> Any:
    return [str(v) for v in value] if isinstance(value, list) else str(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return one_line(" and ".join(str(v) for v in value))
    return one_line(str(value))


def _flat(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _key(text: str) -> str:
    return _KEY_CHARS.sub("", text)


def bibtex_entry(paper: Paper, key: str, *, note: str | None = None) -> Any:
    """``paper`` as a ``bibtexparser`` Entry under citation ``key``; ``note`` leads ``note``."""
    from bibtexparser.model import Entry, Field

    extras = paper.extra_fields
    kind = _key(str(extras.pop("entry_type", "") or "")) or "article"
    extras.pop("citation_key", None)
    values: dict[str, str] = {"title": paper.title}
    if paper.published is not None:
        values["year"] = str(paper.published.year)
        if "date" not in extras and paper.published.timetuple()[1:3] != (1, 1):
            values["date"] = paper.published.isoformat()  # biblatex's full date
    values["abstract"] = paper.abstract
    dois = [str(d) for d in extras.pop("other_dois", None) or []]
    if paper.id and split_dois([paper.id])[0]:
        dois.insert(0, paper.id)
    elif paper.id:
        values["eprint"] = paper.id  # biblatex's field for an online identifier (arXiv)
    if dois:
        values["doi"] = " ".join(dois)
    urls = [paper.url] if paper.url else []
    urls += [str(u) for u in extras.pop("other_urls", None) or []]
    web, as_notes = split_links("url", urls)
    if web:
        values["url"] = " ".join(web)
    if paper.categories:
        values["keywords"] = ", ".join(paper.categories)
    if paper.pdf_url and "file" not in extras:
        pdf, not_web = split_links("pdf_url", [paper.pdf_url])
        if pdf:
            values["file"] = pdf[0]
        as_notes += not_web
    own_note = extras.pop("note", None)
    for name, value in extras.items():
        field = _key(name.removeprefix(_PREFIX)).lower()
        if value in (None, "", [], {}):
            continue
        taken = field in values or field == "note" or (field == "author" and paper.authors)
        if field == "url" and not taken:  # a link as the paper's own URLs are: http(s) only
            web, not_web = split_links(name, _flat(value).split())
            if web:
                values["url"] = " ".join(web)
            as_notes += not_web
        elif field and not taken:
            values[field] = _flat(value)
        else:  # a name BibTeX cannot hold, or one taken ("Title" beside title): a note
            as_notes.append(f"{name}: {_flat(value)}")
    notes = [note] if note else []
    if own_note not in (None, "") and not is_note(own_note):
        notes.append(_flat(own_note))
    elif isinstance(own_note, str) and "\n\n" in own_note:  # an older run's note leads it
        notes.append(own_note.partition("\n\n")[2])
    notes += as_notes
    if notes:
        values["note"] = "\n\n".join(notes)
    # One line each (the note keeps its paragraphs): exports hold no line breaks either.
    # No control character either: a NUL byte marks a damaged file.
    fields = [
        Field(k, replace_control(v if k == "note" else one_line(v))) for k, v in values.items()
    ]
    entry = Entry(kind, key, fields)
    if paper.authors:
        names = [replace_control(one_line(name)) for name in paper.authors]
        entry.set_field(Field(_AUTHORS, names))
    return entry


class _Keys:
    """Citation keys, unique within a file: the paper's own, else first author and year."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._next: dict[str, int] = {}  # key -> the suffix to try next (no rescans)

    def __call__(self, paper: Paper) -> str:
        own = _key(str(paper.extra_fields.get("citation_key") or ""))
        if not own:
            surname = re.split(r"[,\s]", paper.authors[0])[0] if paper.authors else "paper"
            year = str(paper.published.year) if paper.published else ""
            own = _key(surname.lower() + year) or "paper"
        key = own
        while key.lower() in self._used:
            n = self._next.get(own.lower(), 2)
            self._next[own.lower()] = n + 1
            key = f"{own}-{n}"
        self._used.add(key.lower())
        return key


def _bibtex(entry: Any) -> str:
    from bibtexparser.entrypoint import write_string
    from bibtexparser.library import Library
    from bibtexparser.middlewares import default_unparse_stack
    from bibtexparser.model import Field

    # Authors are encoded name by name and joined with "and" afterwards: a
    # name holding "and" ("Simon and Schuster") is braced, and the braces
    # must stay braces, not become the escaped \{ of text.
    authors = entry.pop(_AUTHORS)
    for field in entry.fields:
        field.value = verbatim(field.value) if field.key in VERBATIM_FIELDS else latex(field.value)
    if authors is not None:
        names = [latex(name) for name in authors.value]
        braced = [f"{{{n}}}" if re.search(r"\sand\s", n, re.IGNORECASE) else n for n in names]
        entry.set_field(Field("author", " and ".join(braced)))
    # In place: the default copies every entry first, the slowest part of writing.
    text: str = write_string(
        Library([entry]), unparse_stack=default_unparse_stack(allow_inplace_modification=True)
    )
    return text.strip() + "\n\n"


class BibtexWriter:
    """Scored papers as BibTeX entries, results leading each entry's ``note``."""

    def __init__(self, stream: TextIO, rubric: Rubric) -> None:
        self._stream = stream
        self._rubric = rubric
        self._keys = _Keys()
        self.renamed: set[str] = set()  # results live in the note: no column is renamed

    def write(self, result: ScoredPaper) -> None:
        note = format_note(result, self._rubric)
        entry = bibtex_entry(result.paper, self._keys(result.paper), note=note)
        self._stream.write(_bibtex(entry))
        self._stream.flush()


def write_bibtex_papers(papers: Iterable[Paper], stream: TextIO) -> int:
    """Write ``papers`` as BibTeX entries (``scorer fetch -o papers.bib``); return how many."""
    keys = _Keys()
    count = 0
    for paper in papers:
        stream.write(_bibtex(bibtex_entry(paper, keys(paper))))
        stream.flush()
        count += 1
    return count
