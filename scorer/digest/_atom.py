"""The Atom feed digest: one entry per listed paper, with its scores and justification.

A feed reader keeps what it has shown by entry id, so an entry's ``<id>`` is
made from the paper's identity alone (:func:`entry_id`): the same paper in
tomorrow's feed, from another arXiv version or with new scores, is the same
entry and is not shown twice. Its ``<updated>`` is the paper's date, not the
time of the run, for the same reason.

Written with the standard library's :mod:`xml.etree.ElementTree`, which
escapes text and attribute values itself; no feed library is needed for one
element per field, and a dependency would only add another way to escape.
What ElementTree does not do is drop the characters XML 1.0 forbids
(``\\x00``-``\\x08``, ``\\x0b``, ``\\x0c``, ``\\x0e``-``\\x1f``, lone surrogates):
:func:`xml_text` removes them from every field, since one of them in an
abstract would make the whole feed unreadable. Links are written only for
plain http(s) URLs (:func:`~scorer.digest._text.http_url`) that hold none of
them (a link without its character would lead elsewhere, so it is left out).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ElementTree
from urllib.parse import quote

from scorer import __version__
from scorer._models import ScoredPaper
from scorer._rubric import Rubric
from scorer.digest._markdown import DEMO_NOTE, Digest
from scorer.digest._text import http_url, one_line
from scorer.engine._identity import paper_identity

__all__ = ["entry_id", "feed_id", "render_atom", "xml_text"]

ATOM_NS = "http://www.w3.org/2005/Atom"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str) -> str:
    """``text`` without the characters an XML 1.0 document cannot hold.

    >>> xml_text("a\\x00b\\x1bc")
    'abc'
    """
    return _NOT_XML.sub("", text)


def entry_id(result: ScoredPaper, rubric: Rubric) -> str:
    """The entry's stable id: a URN of the rubric's name and the paper's identity.

    >>> from scorer._models import Paper
    >>> from scorer._rubric import load_rubric
    >>> paper = Paper(title="t", abstract="a", id="arXiv:2602.21548v2")
    >>> result = ScoredPaper(paper=paper, rubric="r", rubric_fingerprint="f", model="m")
    >>> entry_id(result, load_rubric("llm-inference"))
    'urn:scorer:llm-inference:arxiv:2602.21548'
    """
    identity = quote(paper_identity(result.paper), safe=":/.-_")
    return f"urn:scorer:{quote(rubric.name, safe='.-_')}:{identity}"


def feed_id(rubric: Rubric) -> str:
    """The feed's id: one per rubric, whatever the day."""
    return f"urn:scorer:{quote(rubric.name, safe='.-_')}"


def render_atom(digest: Digest, *, now: dt.datetime | None = None) -> str:
    """The digest as an Atom 1.0 feed; ``now`` (default: the current UTC time) is its ``<updated>``.

    Entries are the digest's listed papers, best first, then the best below
    the threshold when the digest shows them (marked so in their summary).

    >>> from scorer._rubric import load_rubric
    >>> feed = render_atom(Digest(load_rubric("llm-inference")), now=dt.datetime(2026, 2, 27))
    >>> feed.splitlines()[1].startswith('<feed xmlns="http://www.w3.org/2005/Atom">')
    True
    """
    stamp = _timestamp(now or dt.datetime.now(dt.UTC))
    rubric = digest.rubric
    feed = ElementTree.Element("feed", xmlns=ATOM_NS)
    _text(feed, "id", feed_id(rubric))
    _text(feed, "title", rubric.title)
    subtitle = f"Papers scored for relevance to: {rubric.description}"
    if digest.demo:
        subtitle += f" {DEMO_NOTE}"
    _text(feed, "subtitle", subtitle)
    _text(feed, "updated", stamp)
    # Atom wants an author for every entry; the feed's stands in for papers without one.
    author = ElementTree.SubElement(feed, "author")
    _text(author, "name", "scorer")
    _text(feed, "generator", "scorer", version=__version__)
    for result in digest.listed:
        _entry(feed, result, rubric, fallback=stamp, below=False)
    for result in digest.below_threshold:
        _entry(feed, result, rubric, fallback=stamp, below=True)
    ElementTree.indent(feed)
    body = ElementTree.tostring(feed, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def _entry(
    feed: ElementTree.Element, result: ScoredPaper, rubric: Rubric, *, fallback: str, below: bool
) -> None:
    paper = result.paper
    entry = ElementTree.SubElement(feed, "entry")
    _text(entry, "id", entry_id(result, rubric))
    _text(entry, "title", one_line(paper.title))
    # The paper's date, not the run's: a reader must not take tomorrow's feed as an edit.
    updated = _timestamp(paper.published) if paper.published else fallback
    _text(entry, "updated", updated)
    if paper.published:
        _text(entry, "published", updated)
    for name in paper.authors:
        author = ElementTree.SubElement(entry, "author")
        _text(author, "name", one_line(name))
    link = _link(paper.url)
    if link:
        ElementTree.SubElement(entry, "link", rel="alternate", type="text/html", href=link)
    pdf = _link(paper.pdf_url)
    if pdf:
        ElementTree.SubElement(
            entry, "link", rel="related", type="application/pdf", title="PDF", href=pdf
        )
    for dimension in rubric.dimensions:
        score = result.scores.get(dimension.name)
        if score is not None:
            ElementTree.SubElement(
                entry,
                "category",
                term=f"{dimension.name}:{score}",
                label=xml_text(f"{dimension.display}: {score}/100"),
            )
    _text(entry, "summary", _summary(result, rubric, below=below))
    _text(entry, "content", one_line(paper.abstract))


def _link(url: str | None) -> str | None:
    # A link is left out rather than changed: without its U+FFFF it would lead elsewhere.
    link = http_url(url)
    return None if link is None or _NOT_XML.search(link) else link


def _summary(result: ScoredPaper, rubric: Rubric, *, below: bool) -> str:
    scores = " | ".join(
        f"{d.display}: {result.scores.get(d.name, '?')}/100" for d in rubric.dimensions
    )
    marked = f"{scores} (below threshold)" if below else scores
    justification = one_line(result.justification)
    return f"{marked} — {justification}" if justification else marked


def _text(parent: ElementTree.Element, tag: str, text: str, **attrib: str) -> None:
    element = ElementTree.SubElement(parent, tag, attrib)
    element.text = xml_text(text)
    if tag in {"title", "subtitle", "summary", "content"}:
        element.set("type", "text")


def _timestamp(moment: dt.date | dt.datetime) -> str:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(), tzinfo=dt.UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
