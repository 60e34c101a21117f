"""Which column of a table holds which Paper field: known header names, overrides, extras.

Header names vary between tools (``Title``, ``Document Title``, ``summary``,
``PDF Link``...). The file readers and :func:`scorer.pandas.score_frame` map
columns by the same rules, here: a caller's overrides first, then the
recognised names; every other column is carried through under its own name.

>>> resolve_columns(["Document Title", "Summary", "Notes"], {}, "papers.csv")
{'title': 0, 'abstract': 1}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scorer._errors import InputError

__all__ = [
    "PAPER_FIELDS",
    "REQUIRED_FIELDS",
    "check_overrides",
    "extra_columns",
    "missing_required",
    "resolve_columns",
]

# Paper field -> header names (compared case-insensitively), in order of preference.
# A header serves one field only: "PDF Link" is the url when the file has no
# url/link column, and the pdf_url otherwise.
_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "document title", "paper_title"),
    "abstract": ("abstract", "summary", "abs"),
    "authors": ("authors", "author"),
    "published": ("published", "date", "year", "publication_date"),
    "id": ("id", "arxiv_id", "doi", "paper_id"),
    "url": ("url", "link", "pdf link"),
    "pdf_url": ("pdf_url", "pdf", "pdf link"),
    "categories": ("categories",),
}

PAPER_FIELDS: tuple[str, ...] = tuple(_ALIASES)
"""The Paper fields a column can be mapped to."""

REQUIRED_FIELDS = ("title", "abstract")
"""The fields a table must have a column for."""


def check_overrides(overrides: Mapping[str, str], *, option: str) -> None:
    """Raise ``InputError`` if ``overrides`` names a field no column can fill.

    ``option`` is how the caller spelt the mapping (``--column``, ``columns``).
    """
    unknown = sorted(set(overrides) - set(PAPER_FIELDS))
    if unknown:
        raise InputError(
            f"unknown field in {option}: {', '.join(unknown)} (fields: {', '.join(PAPER_FIELDS)})"
        )


def resolve_columns(
    headers: Sequence[str],
    overrides: Mapping[str, str],
    name: str,
    *,
    require_overrides: bool = True,
) -> dict[str, int]:
    """Map Paper fields to header positions: overrides first, then recognised names.

    An override naming no header raises ``InputError`` (mentioning ``name``,
    the table) unless ``require_overrides`` is False.
    """
    keys = [h.strip().casefold() for h in headers]
    chosen: dict[str, int] = {}
    for field, header in overrides.items():
        wanted = header.strip().casefold()
        if wanted in keys:
            chosen[field] = keys.index(wanted)
        elif require_overrides:
            raise InputError(
                f"{name}: --column {field}={header}: no such column; "
                f"the file has: {', '.join(repr(h) for h in headers)}"
            )
    for field, aliases in _ALIASES.items():
        if field in chosen:
            continue
        taken = set(chosen.values())
        for alias in aliases:
            index = next((i for i, k in enumerate(keys) if k == alias and i not in taken), None)
            if index is not None:
                chosen[field] = index
                break
    return chosen


def missing_required(fields: Mapping[str, int]) -> list[str]:
    """The required fields that ``fields`` (from :func:`resolve_columns`) has no column for."""
    return [f for f in REQUIRED_FIELDS if f not in fields]


def extra_columns(headers: Sequence[str], fields: Mapping[str, int]) -> list[tuple[int, str]]:
    """Positions and keys of the columns carried through, under their own names."""
    used = set(fields.values())
    taken = set(PAPER_FIELDS)
    extras: list[tuple[int, str]] = []
    for i, header in enumerate(headers):
        if i in used:
            continue
        key = header if header.strip() else f"column {i + 1}"
        if key in taken:  # a duplicate header, or one named like a field it does not fill
            key = f"{key} (column {i + 1})"
        taken.add(key)
        extras.append((i, key))
    return extras
