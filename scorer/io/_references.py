"""What RIS and BibTeX records share: DOIs, dates, one-line text, and scorer's note.

Reference managers (Zotero, EndNote, Rayyan, ASReview) exchange RIS and
BibTeX. Their exports hold several DOIs in one field, dates as ``2021///`` or
``2021/03/15/``, and text split over lines; :func:`split_dois`,
:func:`parse_published` and :func:`one_line` turn those into a ``Paper``'s fields.

A scored record carries scorer's result columns in one note (RIS ``N1``,
BibTeX ``note``), the first one so that sorting on the field sorts by the
first dimension (scores are written with three digits)::

    scorer: relevance 085/100; hype 040/100; passed yes; status scored; model m;
    tokens 12; justification: ...

(on one line).

The note is built from the writers' result columns (:func:`result_names`), so a
column added there reaches it too; :func:`parse_note` reads it back for
``scorer digest``.

>>> split_dois(["https://doi.org/10.1000/ABC 10.1000/def", "n/a"])
('10.1000/ABC', ['10.1000/def', 'n/a'])
>>> parse_published("2021/03/15/"), parse_published("2019///")
(datetime.date(2021, 3, 15), datetime.date(2019, 1, 1))
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from scorer._models import ScoredPaper
from scorer._rubric import Rubric
from scorer.io._readers import ProblemHandler, RowProblem
from scorer.io._writers import result_name, result_names, result_values

__all__ = [
    "NOTE_PREFIX",
    "format_note",
    "is_arxiv_id",
    "is_note",
    "note_columns",
    "one_line",
    "parse_note",
    "parse_published",
    "record_reporter",
    "replace_control",
    "split_dois",
    "split_links",
]

NOTE_PREFIX = "scorer: "

# A DOI: "10.", a registrant code, "/", a suffix without spaces (Crossref's advice).
_DOI = re.compile(r"10\.\d{4,9}/\S+")
# Between DOIs: white space, or ";" and "," before the next DOI only (Wiley's
# older DOIs hold ";": 10.1002/(SICI)1097-4636(199711)37:2<129::AID-JBM1>3.0.CO;2-M).
_DOI_SEPARATOR = re.compile(r"\s+|[;,]\s*(?=(?:https?://(?:dx\.)?doi\.org/|doi:\s*)?10\.)", re.I)
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_DATE = re.compile(r"^\s*(\d{4})(?:[/-](\d{1,2})?)?(?:[/-](\d{1,2})?)?")
# An arXiv id as a whole field: new style or old (hep-th/9901001), with a version, an
# "arXiv:" prefix or as its abstract page's address.
_ARXIV_ID = re.compile(
    r"(?:arxiv:\s*|https?://(?:www\.|export\.)?arxiv\.org/abs/)?"
    r"(?:\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7})(?:v\d+)?",
    re.IGNORECASE,
)
# Every way text can break a line, for formats where a line break starts a new field.
_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
# What no line of text holds (a NUL byte marks a damaged file; tools stop at it).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f]")


def one_line(text: str) -> str:
    """``text`` with line breaks and runs of spaces made single spaces (RIS is line-based).

    >>> one_line("Split\\r\\n   over lines")
    'Split over lines'
    """
    return " ".join(_BREAKS.sub(" ", text).split())


def is_arxiv_id(text: str) -> bool:
    """Whether ``text`` is an arXiv id and nothing else (what the writers put in RIS ``ID``).

    >>> is_arxiv_id("2602.21548v2"), is_arxiv_id("arXiv:hep-th/9901001"), is_arxiv_id("1234")
    (True, True, False)
    """
    return _ARXIV_ID.fullmatch(text.strip()) is not None


def replace_control(text: str) -> str:
    """``text`` with control characters (line breaks and tabs aside) made U+FFFD.

    >>> replace_control("NUL\\x00 and \\x1b[31m")
    'NUL\\ufffd and \\ufffd[31m'
    """
    return _CONTROL.sub("\ufffd", text)


def split_dois(values: Iterable[str]) -> tuple[str | None, list[str]]:
    """The first valid DOI among ``values`` (a field may hold several), and all the others.

    A ``https://doi.org/`` or ``doi:`` prefix is dropped from the one chosen;
    the others are kept as written, so they can be written back.
    """
    parts = [
        doi
        for value in values
        for part in _DOI_SEPARATOR.split(value)
        if (doi := part.rstrip(";,"))
    ]
    for i, part in enumerate(parts):
        bare = _DOI_PREFIX.sub("", part)
        if _DOI.fullmatch(bare):
            return bare, parts[:i] + parts[i + 1 :]
    return None, parts


def split_links(name: str, urls: Iterable[str]) -> tuple[list[str], list[str]]:
    """``urls`` fit for a link field (plain http(s)), and the others as notes ``name: url``.

    A reference manager opens a link field's URL, or attaches the local file
    it names; a CSV column's ``javascript:`` or ``file:///`` must stay text.

    >>> split_links("url", ["https://arxiv.org/abs/1", "javascript:alert(1)"])
    (['https://arxiv.org/abs/1'], ['url: javascript:alert(1)'])
    """
    from scorer.digest._text import http_url

    links, notes = [], []
    for url in urls:
        if http_url(url) is not None:
            links.append(url)
        else:
            notes.append(f"{name}: {url}")
    return links, notes


def parse_published(*values: str | None) -> dt.date | None:
    """The first of ``values`` that holds a date (``2021/03/15/``, ``2021-03``, ``2021///``).

    A month or day that is not one falls back to the year alone.
    """
    for value in values:
        found = _DATE.match(value or "")
        if found is None:
            continue
        year, month, day = (int(part) if part else None for part in found.groups())
        assert year is not None  # the pattern requires it
        if year < dt.MINYEAR:
            continue
        try:
            return dt.date(year, month or 1, day or 1)
        except ValueError:
            return dt.date(year, 1, 1)
    return None


def record_reporter(
    report: ProblemHandler, number: int, title: str | None, *, kind: str = "record"
) -> ProblemHandler:
    """``report``, with each problem's message naming ``kind`` ``number`` (and its title)."""
    label = f"{kind} {number}"
    if title:
        shown = title if len(title) <= 60 else title[:57] + "..."
        label += f" ({shown!r})"

    def tell(problem: RowProblem) -> None:
        report(RowProblem(problem.line, f"{label}: {problem.message}", problem.skipped))

    return tell


def _note_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else one_line(str(value))


def format_note(result: ScoredPaper, rubric: Rubric) -> str:
    """scorer's result columns as one line of text (see the module docstring)."""
    values = result_values(result, rubric)
    dimensions = {dim.name for dim in rubric.dimensions}
    parts = []
    for name, value in values.items():
        if name == "justification":
            continue
        if name in dimensions and isinstance(value, int):
            parts.append(f"{name} {value:03d}/100")
        elif (text := _note_value(value)) != "":
            parts.append(f"{name} {text}")
    justification = _note_value(values.get("justification"))
    if justification:
        parts.append(f"justification: {justification}")
    return NOTE_PREFIX + "; ".join(parts)


def is_note(text: object) -> bool:
    """Whether ``text`` is a note :func:`format_note` wrote."""
    return isinstance(text, str) and text.startswith(NOTE_PREFIX)


def parse_note(text: str, rubric: Rubric) -> dict[str, str]:
    """The result columns in a note :func:`format_note` wrote (name -> value as text).

    >>> from scorer import load_rubric
    >>> note = "scorer: relevance 085/100; status scored; justification: a; b"
    >>> parse_note(note, load_rubric("llm-inference"))
    {'relevance': '85', 'status': 'scored', 'justification': 'a; b'}
    """
    body = text.removeprefix(NOTE_PREFIX)
    body, _, justification = body.partition("justification: ")
    names = [name for name in result_names(rubric) if name != "justification"]
    # Known names only: an error message may itself hold "; ".
    pattern = re.compile(rf"(?:^|; )({'|'.join(map(re.escape, names))}) ")
    # The note names its columns in this order, so a name out of order is inside a
    # value (an endpoint's error text holding "; relevance 100/100"), not a column.
    rank = {name: i for i, name in enumerate(names)}
    found, last = [], -1
    for match in pattern.finditer(body):
        if rank[match.group(1)] > last:
            found.append(match)
            last = rank[match.group(1)]
    columns: dict[str, str] = {}
    for match, after in zip(found, [*found[1:], None], strict=True):
        value = body[match.end() : after.start() if after else len(body)]
        value = value.removesuffix("; ").strip()
        if re.fullmatch(r"\d{1,3}/100", value):
            value = str(int(value.partition("/")[0]))
        columns[match.group(1)] = value
    if justification:
        columns["justification"] = justification.strip()
    return columns


def note_columns(record: Mapping[str, Any], notes_key: str, rubric: Rubric) -> dict[str, Any]:
    """``record`` with scorer's note taken out of ``notes_key`` and spread into result columns.

    A column whose name the record already has (an input field called
    ``status``) is added as ``scorer_<name>``, as the writers do.
    """
    out = dict(record)
    notes = out.get(notes_key)
    if isinstance(notes, list):
        ours = next((n for n in notes if is_note(n)), None)
        rest: Any = [n for n in notes if not is_note(n)]
    elif isinstance(notes, str) and is_note(notes):
        ours, _, rest = notes.partition("\n\n")
    else:
        return out
    if ours is None:
        return out
    if rest:
        out[notes_key] = rest
    else:
        out.pop(notes_key)
    taken = set(out)
    for name, value in parse_note(ours, rubric).items():
        out[result_name(name, taken)] = value
    return out
