"""How much of a paper reaches the model: each field cut to a documented limit.

A 5 MB abstract or a million-character title is not sent whole to a paid
model. The engine cuts a copy of every paper before it builds the prompt and
the cache key (so the key names the text that was sent), keeps the paper
itself whole for the outputs, and logs one warning per cut paper, naming it
(logger ``scorer.prompt._paper_limits``; with logging unconfigured, as in the CLI,
Python prints it on stderr).

Limits, in characters (a cut text ends in ``…`` and is at most the limit long):

==========================  ========  ==========================================
field                       default   setting / environment variable
==========================  ========  ==========================================
title                       1,000     ``max_title_chars`` / SCORER_MAX_TITLE_CHARS
abstract                    20,000    ``max_abstract_chars`` / SCORER_MAX_ABSTRACT_CHARS
authors (how many names)    100       ``max_authors`` / SCORER_MAX_AUTHORS
each author                 200       ``max_author_chars`` / SCORER_MAX_AUTHOR_CHARS
categories                  20 x 100  fixed
any other field a prompt    1,000     fixed (each text; lists and objects keep
template uses (id, url,               their first 100 items)
an extra field)
==========================  ========  ==========================================

Only the fields a prompt template reads are cut and reported (see
``PromptTemplate.paper_fields``): a long column the prompt never shows costs
nothing and is not worth a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from scorer._models import Paper
from scorer._whitespace import one_line

__all__ = ["PaperLimits", "bounded_paper"]

_log = logging.getLogger(__name__)

_MARK = "…"


@dataclass(frozen=True)
class PaperLimits:
    """The most of each paper field that is sent to a model (see the module docstring)."""

    title: int = 1_000
    abstract: int = 20_000
    authors: int = 100
    author: int = 200
    categories: int = 20
    category: int = 100
    other: int = 1_000
    items: int = 100


def bounded_paper(
    paper: Paper, limits: PaperLimits, fields: Collection[str] | None = None
) -> Paper:
    """``paper`` with the ``fields`` a prompt reads cut to ``limits`` (all fields if None).

    Returns ``paper`` itself when nothing needed cutting; otherwise a copy,
    after logging one warning that names the paper and what was cut.

    >>> long = Paper(title="T" * 5000, abstract="A")
    >>> len(bounded_paper(long, PaperLimits(title=100)).title)
    100
    """
    data = {name: getattr(paper, name) for name in type(paper).model_fields}
    data.update(paper.extra_fields)
    wanted = data.keys() if fields is None else data.keys() & set(fields)
    update: dict[str, Any] = {}
    cuts: list[str] = []
    for name in sorted(wanted):
        value = data[name]
        if name in ("title", "abstract"):
            limit = limits.title if name == "title" else limits.abstract
            cut = _cut_text(value, limit)
            if cut is not value:
                cuts.append(f"{name} cut from {len(value):,} to {limit:,} characters")
        elif name in ("authors", "categories"):
            count, each = (
                (limits.authors, limits.author)
                if name == "authors"
                else (limits.categories, limits.category)
            )
            too_many = len(value) > count
            too_long = any(len(item) > each for item in value[:count])
            if too_many:
                cuts.append(f"{len(value):,} {name} cut to the first {count:,}")
            if too_long:
                cuts.append(f"{name} longer than {each:,} characters cut")
            cut = [_cut_text(i, each) for i in value[:count]] if too_many or too_long else value
        else:
            cut = _cut_value(value, limits)
            if cut is not value:
                cuts.append(f"{name} cut to {limits.other:,} characters")
        if cut is not value:
            update[name] = cut
    if not cuts:
        return paper
    _log.warning("paper %s: %s", _name_of(paper), "; ".join(cuts))
    return paper.model_copy(update=update)


def _cut_text(text: Any, limit: int) -> Any:
    """``text`` itself when it fits (or is no text), else its start and a ``…``."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    return text[: max(limit - len(_MARK), 0)] + _MARK


def _cut_value(value: Any, limits: PaperLimits) -> Any:
    """Any other field, bounded: each text, and the items of lists and objects.

    Returns ``value`` itself when nothing was cut. Depth is bounded already
    (``Paper`` refuses deep values), so recursion is safe.
    """
    if isinstance(value, str):
        return _cut_text(value, limits.other)
    if isinstance(value, list | tuple):
        items = [_cut_value(item, limits) for item in value[: limits.items]]
        changed = len(value) > limits.items or any(
            new is not old for new, old in zip(items, value, strict=False)
        )
        return items if changed else value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = len(value) > limits.items
        for key, item in list(value.items())[: limits.items]:
            new_key, new_item = _cut_text(key, limits.other), _cut_value(item, limits)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    return value


def _name_of(paper: Paper) -> str:
    """How a notice names a paper: its id, else the start of its title, on one line."""
    if paper.id:
        return one_line(paper.id[:80])
    start = one_line(paper.title[:60])
    return f"'{start}…'" if len(paper.title) > 60 else f"'{start}'"
