"""plain_paper builds exactly the Paper that validation builds, and only for records that validate.

The CSV reader builds most rows with plain_paper (no pydantic validators per
row) and validates the rest; a difference here would change what a user's
rows become, or let a bad row through unreported.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import ValidationError

from scorer._models import Paper
from scorer._plain_paper import plain_paper, plain_rows
from scorer.io._columns import extra_columns

# Values that take every branch of Paper's validators: whitespace at either end
# (Python's and pydantic's idea of it differ for \x1c), separators, surrogates,
# dates that are not, years, datetimes, blanks.
_TEXTS = [
    "Plain text",
    " leading",
    "trailing ",
    "\x1cfile separator",
    "non-breaking\xa0",
    "\u200bzero width",
    "é accents",
    "half an emoji \ud83d",
    "a; b ;; c",
    "a, b",
    "",
    "   ",
    "=1+1",
]
_DAYS = [
    "2026-02-24",
    "2026-02-30",
    "0000-01-01",
    "0001-01-01",
    "2024",
    "0999",
    "0000",
    "99999",
    " 2024",
    "2026-02-24T10:00:00Z",
    "20260224",
    "2026-W08",
    "yesterday",
    "",
    " ",
    "\uff12\uff10\uff12\uff14",  # full-width digits,
]
_OPTIONAL = ["id", "authors", "published", "url", "pdf_url", "categories", "notes", "Year read"]


def _validated(record: dict[str, Any]) -> Paper | None:
    try:
        return Paper.model_validate(record)
    except ValidationError:
        return None


def _random_record(rng: random.Random) -> dict[str, Any]:
    record: dict[str, Any] = {
        "title": rng.choice(_TEXTS),
        "abstract": rng.choice(_TEXTS),
    }
    for key in rng.sample(_OPTIONAL, rng.randrange(len(_OPTIONAL) + 1)):
        record[key] = rng.choice(_DAYS if key == "published" else _TEXTS)
    if rng.random() < 0.05:
        record["id"] = 12  # not text: validation's own business
    return record


def assert_same(fast: Paper, slow: Paper) -> None:
    assert fast == slow
    assert list(fast.__dict__) == list(slow.__dict__)
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.extra_fields == slow.extra_fields
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_dump(exclude_unset=True) == slow.model_dump(exclude_unset=True)


def test_same_paper_as_validation_on_hostile_records() -> None:
    rng = random.Random(16)
    built = 0
    for _ in range(20000):
        record = _random_record(rng)
        fast = plain_paper(dict(record))
        slow = _validated(dict(record))
        if fast is None:
            continue
        built += 1
        assert slow is not None, f"a record that does not validate was built: {record!r}"
        assert_same(fast, slow)
    assert built > 1000  # the fast path was taken, not skipped every time


def test_a_plain_row_is_built_with_every_field() -> None:
    record = {
        "title": "KV cache offloading",
        "abstract": "We study, at scale.",
        "id": " 2602.21548v2 ",
        "authors": "A. Author; B. Author",
        "published": "2026-02-24",
        "url": "",
        "pdf_url": "https://arxiv.org/pdf/2602.21548",
        "categories": "cs.DC, cs.LG",
        "notes": "to read",
    }
    fast = plain_paper(dict(record))
    assert fast is not None
    assert_same(fast, Paper.model_validate(record))
    assert fast.id == "2602.21548v2" and fast.url is None
    assert fast.categories == ["cs.DC", "cs.LG"]
    assert fast.extra_fields == {"notes": "to read"}


def test_records_that_need_validation_are_left_to_it() -> None:
    for record in [
        {"title": "T ", "abstract": "A"},  # stripped by validation
        {"title": "T", "abstract": "A", "published": "2026-02-30"},  # an error to report
        {"title": "T", "abstract": "A", "published": "2026-02-24T10:00:00Z"},
        {"title": "T", "abstract": "A", "authors": ["X", "Y"]},  # JSON lists
        {"title": "T\ud83d", "abstract": "A"},  # a lone surrogate, replaced by validation
    ]:
        assert plain_paper(record) is None, record


def test_a_table_row_is_built_as_its_record_would_be() -> None:
    # The CSV reader builds a row's Paper with plain_rows, without making the record:
    # the same Paper as plain_paper (and so validation), or None where it says None,
    # whatever columns the table has (a field missing, extras, a field twice).
    rng = random.Random(1616)
    built = 0
    for _ in range(5000):
        optional = rng.sample(_OPTIONAL[:6], rng.randrange(7))
        headers = ["title", "abstract", *optional, *rng.sample(["notes", "Year read"], 2)]
        rng.shuffle(headers)
        fields = {name: headers.index(name) for name in headers if name not in _OPTIONAL[6:]}
        if rng.random() < 0.1:
            fields["abstract"] = fields["title"]  # --column title=X --column abstract=X
        extras = extra_columns(headers, fields)  # every other cell, as the reader has them
        row = [rng.choice(_DAYS if h == "published" else _TEXTS) for h in headers]
        record = {field: row[i] for field, i in fields.items()}
        record.update((key, row[i]) for i, key in extras)
        fast = plain_rows(fields, extras)(list(row))
        slow = plain_paper(record)
        if slow is None:
            assert fast is None, record
            continue
        built += 1
        assert fast is not None, record
        assert_same(fast, slow)
        validated = _validated(record)
        assert validated is not None
        assert_same(fast, validated)
    assert built > 500
