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
import re
from typing import Any

from scorer._models import Paper
from scorer._trusted import trusted

__all__ = ["plain_paper"]

_SURROGATE = re.compile("[\ud800-\udfff]")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIELDS = frozenset(Paper.model_fields)


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
    title, abstract = get("title"), get("abstract")
    if not title or not abstract or title[0].isspace() or title[-1].isspace():
        return None
    if abstract[0].isspace() or abstract[-1].isspace():
        return None
    published: dt.date | None = None
    day = get("published")
    if day is not None and day.strip():
        published = _day(day)
        if published is None:
            return None
    authors, categories = get("authors"), get("categories")
    # As Paper's validators: text stripped, blank (or missing) is None.
    ident, url, pdf_url = get("id"), get("url"), get("pdf_url")
    return trusted(
        Paper,
        {
            "title": title,
            "abstract": abstract,
            "id": (ident and ident.strip()) or None,
            "authors": _split_list(authors) if authors else [],
            "published": published,
            "url": (url and url.strip()) or None,
            "pdf_url": (pdf_url and pdf_url.strip()) or None,
            "categories": _split_list(categories) if categories else [],
        },
        set(record),  # validation counts extra keys as set too
        {key: value for key, value in record.items() if key not in _FIELDS},
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
