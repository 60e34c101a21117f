"""A ``Paper`` from a record of plain text without pydantic's validators, when none is needed.

A CSV row is all text, and most rows need none of the repairs ``Paper``'s
validators make (stripping, surrogates, years, datetimes). Building such a
row through ``Paper.model_validate`` costs six Python validators and a model
validator per row, and a cached re-run reads 100,000 rows.
:func:`plain_paper` builds the same ``Paper`` directly when the record is
plain, and says None for anything else, which the caller then validates as
before: every check and every error message stays ``Paper``'s own.

"The same" is pinned by ``tests/test_plain_paper.py``: equal fields, extras,
set fields and JSON to ``Paper.model_validate`` on hostile records, and None
for every record that does not validate.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from scorer._models import Paper
from scorer._trusted import trusted

__all__ = ["plain_paper", "plain_rows"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIELDS = frozenset(Paper.model_fields)
# The fields _built takes, in its order.
_ROW_FIELDS = ("title", "abstract", "id", "authors", "published", "url", "pdf_url", "categories")


def plain_paper(record: dict[str, Any]) -> Paper | None:
    """``Paper.model_validate(record)`` for a record of plain text; None when it needs more.

    Plain: every value is a ``str`` without lone surrogates; ``title`` and
    ``abstract`` are present and neither starts nor ends with whitespace;
    ``published``, if not blank, is ``YYYY-MM-DD`` or a four-digit year. The
    rest follows ``Paper``'s validators: ids and links stripped (blank is
    None), authors and categories split on ``;`` (or ``,``).

    >>> paper = plain_paper({"title": "T", "abstract": "A", "authors": "X; Y", "notes": "n"})
    >>> paper == Paper(title="T", abstract="A", authors=["X", "Y"], notes="n")
    True
    >>> plain_paper({"title": " T", "abstract": "A"}) is None  # stripped: Paper validates it
    True
    """
    for value in record.values():
        if type(value) is not str or not (value.isascii() or _SURROGATE.search(value) is None):
            return None
    get = record.get
    return _built(
        tuple(map(get, _ROW_FIELDS)),
        set(record),  # validation counts extra keys as set too
        {key: value for key, value in record.items() if key not in _FIELDS},
    )


def plain_rows(
    fields: Mapping[str, int], extras: Sequence[tuple[int, str]]
) -> Callable[[list[str]], Paper | None]:
    """:func:`plain_paper` for the rows of a table, as ``paper_of(cells)``.

    ``fields`` maps Paper fields to cell positions and ``extras`` names the
    other cells (what :func:`scorer.io._columns.resolve_columns` and
    ``extra_columns`` say of a header): ``paper_of(row)`` is
    ``plain_paper({field: row[i] ..., key: row[i] ...})``, without making that
    record (one a row of a 100,000-row CSV). Every cell is a field or an extra.

    >>> paper_of = plain_rows({"title": 0, "abstract": 1}, [(2, "notes")])
    >>> paper_of(["T", "A", "n"]) == plain_paper({"title": "T", "abstract": "A", "notes": "n"})
    True
    """
    where = [fields.get(name) for name in _ROW_FIELDS]
    if where[0] is None or where[1] is None:
        raise ValueError("a table needs title and abstract columns")
    named = frozenset([*fields, *(key for _, key in extras)])
    keys = [key for _, key in extras]
    places = [i for i, _ in extras]
    # A missing column reads as "" from a cell added at the end (index -1): _built makes
    # of "" what it makes of a record's missing key (None, [] or no date).
    missing = None in where
    pick = operator.itemgetter(*(-1 if i is None else i for i in where))

    def paper_of(row: list[str]) -> Paper | None:
        # Every value is a str already (a CSV cell): one scan of the row for surrogates.
        text = "".join(row)
        if not (text.isascii() or _SURROGATE.search(text) is None):
            return None
        # A literal {} when the table has no extra column: no comprehension to call.
        extra = {key: row[i] for key, i in zip(keys, places, strict=True)} if keys else {}
        return _built(pick([*row, ""] if missing else row), set(named), extra)

    return paper_of


def _built(values: tuple[Any, ...], fields_set: set[str], extra: dict[str, Any]) -> Paper | None:
    """The Paper of plain text ``values`` (see :func:`plain_paper`), or None if they need more.

    ``values`` are the ``_ROW_FIELDS``' in order, None (or "") where the record has none.
    """
    title, abstract, ident, authors, day, url, pdf_url, categories = values
    # str.strip returns the text itself when there is nothing to strip: one call tells
    # whether either end is whitespace (str.isspace's idea of it, as validation's).
    if not title or not abstract or title.strip() != title or abstract.strip() != abstract:
        return None
    published: dt.date | None = None
    if day:
        published = _day(day)
        if published is None and day.strip():  # a date Paper reads otherwise, or not at all
            return None
    # As Paper's validators: text stripped, blank (or missing) is None.
    return trusted(
        Paper,
        {
            "title": title,
            "abstract": abstract,
            "id": (ident.strip() or None) if ident else None,
            "authors": _split_list(authors) if authors else [],
            "published": published,
            "url": (url.strip() or None) if url else None,
            "pdf_url": (pdf_url.strip() or None) if pdf_url else None,
            "categories": _split_list(categories) if categories else [],
        },
        fields_set,
        extra,
    )


@functools.lru_cache(maxsize=4096)  # a file's rows share a few dates; a date is immutable
def _day(text: str) -> dt.date | None:
    """``YYYY-MM-DD`` or a year as Paper reads them; None for anything else."""
    try:
        if len(text) == 10 and _ISO_DAY.fullmatch(text):
            return dt.date.fromisoformat(text)
        if len(text) == 4 and text.isascii() and text.isdigit():
            return dt.date(int(text), 1, 1)
    except ValueError:  # 2026-02-30: Paper says what is wrong with it
        return None
    return None


def _split_list(value: str) -> list[str]:
    """As ``Paper._split_list`` for text: ``;``-separated (or ``,`` without any ``;``)."""
    sep = ";" if ";" in value else ","
    return [name for part in value.split(sep) if (name := part.strip())]
