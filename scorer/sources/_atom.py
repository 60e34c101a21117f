"""The arXiv API's Atom feed: the total a search found and its entries as Papers.

Parsed with the standard library's ElementTree, which neither fetches external
entities nor expands entities without bound (expat's own limits), so a hostile
feed cannot make the parser reach out or blow up.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from pydantic import ValidationError

from scorer._models import Paper
from scorer._whitespace import one_line

__all__ = ["Feed", "error_message", "parse_feed"]

_log = logging.getLogger(__name__)
_ATOM = "{http://www.w3.org/2005/Atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
_VERSION = re.compile(r"v\d+$")


@dataclass
class Feed:
    """One page of results: the search's total and this page's papers.

    ``entries`` counts the page's well-formed entries, papers or not: paging
    advances by it, as the API numbers them (an entry that is no Paper, e.g.
    without an abstract, is logged and skipped but still takes its place).
    """

    total: int = 0
    entries: int = 0
    papers: list[Paper] = field(default_factory=list)


def parse_feed(body: bytes) -> Feed:
    """The page in ``body``; a body that is not XML is an empty page (logged)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        _log.warning("arXiv sent a malformed feed (%s); read as an empty page", exc)
        return Feed()
    feed = Feed(total=_int(root.findtext(f"{_OPENSEARCH}totalResults")))
    for entry in root.iter(f"{_ATOM}entry"):
        entry_id = (entry.findtext(f"{_ATOM}id") or "").strip()
        published = _utc_day(entry.findtext(f"{_ATOM}published"))
        updated = _utc_day(entry.findtext(f"{_ATOM}updated"))
        if not entry_id or published is None or updated is None:
            _log.warning("skipping arXiv entry %r: no id, or no valid dates", entry_id)
            continue
        feed.entries += 1
        try:
            feed.papers.append(_paper(entry, entry_id, published))
        except ValidationError as exc:
            _log.warning("skipping arXiv entry %s: %s", entry_id, exc)
    return feed


def _paper(entry: ElementTree.Element, entry_id: str, published: dt.date) -> Paper:
    """A Paper: id without version, whitespace folded, url the version's abstract page."""
    links = entry.findall(f"{_ATOM}link")
    url = next(
        (x.get("href") for x in links if x.get("rel") == "alternate" and x.get("href")), None
    )
    return Paper(
        id=_VERSION.sub("", entry_id.split("arxiv.org/abs/")[-1]),
        title=one_line(entry.findtext(f"{_ATOM}title") or ""),
        abstract=one_line(entry.findtext(f"{_ATOM}summary") or ""),
        authors=[a.findtext(f"{_ATOM}name") or "" for a in entry.findall(f"{_ATOM}author")],
        published=published,
        url=url or entry_id,
        pdf_url=next((x.get("href") for x in links if x.get("title") == "pdf"), None),
        categories=list(dict.fromkeys(_terms(entry.findall(f"{_ATOM}category")))),
    )


def error_message(body: bytes) -> str:
    """The API's own words from an error feed (its entry's summary), else the body's start."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        text = body.decode("utf-8", errors="replace").strip()
        return one_line(text)[:200] or "no message"
    for entry in root.iter(f"{_ATOM}entry"):
        summary = entry.findtext(f"{_ATOM}summary")
        if summary and summary.strip():
            return one_line(summary)
    return "no message"


def _terms(categories: list[ElementTree.Element]) -> list[str]:
    return [term for c in categories if (term := c.get("term")) is not None]


def _utc_day(text: str | None) -> dt.date | None:
    """The UTC day of an Atom (RFC 3339) timestamp such as ``2016-05-26T17:59:46Z``."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).date()


def _int(text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        return 0
