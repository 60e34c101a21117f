"""What a delivery says: the digest as e-mail-safe HTML or Markdown, and the "nothing new" notice.

The HTML is the digest page cut down to what mail clients render: no script,
no ``<style>`` block (many clients drop it), every style inline, a plain
single-column layout. Every field is escaped with :func:`html.escape` and
only http(s) URLs become links (:func:`~scorer.digest._text.http_url`), as
in the other digests. Links show their URL as their text, so the plain-text
part a mail library derives from the HTML still carries them. The Markdown
for chat names no one (:func:`no_mentions`): a title of ``@everyone`` does
not notify a whole Discord server.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from html import escape

from scorer._models import ScoredPaper
from scorer._rubric import Rubric
from scorer._whitespace import one_line
from scorer.digest._markdown import (
    ABSTRACT_CHARS,
    DEMO_NOTE,
    MAX_AUTHORS,
    Digest,
    below_heading,
    count_papers,
    failures_sentence,
    render_markdown,
)
from scorer.digest._text import http_url

__all__ = ["Message", "digest_message", "no_mentions", "nothing_new_message", "render_email_html"]

_FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_BODY = f"margin:0;padding:16px;background:#f6f7f9;color:#1d2430;{_FONT};line-height:1.5"
_CARD = (
    "background:#ffffff;border:1px solid #dde1e7;border-radius:8px;"
    "padding:12px 16px;margin:0 0 12px"
)
_MUTED = "color:#5b6472"
_LINK = "color:#1f5fbf"
_MENTION = re.compile(r"(?<!\w)@(?=\w)")
_QUOTE = "margin:8px 0 0;padding:0 0 0 10px;border-left:3px solid #dde1e7;color:#3b4452"


@dataclass(frozen=True)
class Message:
    """One delivery: a subject, the body as HTML (for e-mail) and as Markdown (for chat)."""

    title: str
    html: str
    markdown: str


def digest_message(digest: Digest, day: dt.date) -> Message:
    """The message carrying ``digest``: subject with the count and the day, HTML and Markdown."""
    listed, below = len(digest.listed), len(digest.below_threshold)
    count = count_papers(listed) if listed or not below else f"the best {below} below threshold"
    title = f"{one_line(digest.rubric.title)}: {count} ({day.isoformat()})"
    return Message(title, render_email_html(digest), no_mentions(render_markdown(digest)))


def no_mentions(text: str) -> str:
    """``text`` with a zero-width space after each ``@`` that starts a word.

    Chat services notify whoever a message's text names: ``@everyone``
    (Discord), ``@channel`` (Slack), ``@room`` (Matrix), ``@all``, ``@name``.
    A paper's title must not, and it reads the same. (An e-mail address's
    ``@`` follows a letter and stays as it is.)

    >>> no_mentions("@everyone, mail x@example.org")
    '@\u200beveryone, mail x@example.org'
    """
    return _MENTION.sub("@\u200b", text)


def nothing_new_message(digest: Digest, day: dt.date) -> Message:
    """The short notice for a day with no new paper at or above the threshold."""
    rubric_title = one_line(digest.rubric.title)
    text = (
        f"Nothing new today: no new paper reached the threshold ({digest.threshold}/100) "
        f"out of {count_papers(digest.scanned)} scanned."
    )
    html = _page(rubric_title, [f'<p style="margin:0">{escape(text)}</p>'])
    return Message(f"{rubric_title}: nothing new ({day.isoformat()})", html, text + "\n")


def render_email_html(digest: Digest) -> str:
    """``digest`` as one e-mail-safe HTML document (inline styles, no script, escaped fields)."""
    rubric = digest.rubric
    listed = digest.listed
    noun = "paper" if len(listed) == 1 else "papers"
    parts = [
        f'<p style="margin:0 0 12px;{_MUTED}">Automatically discovered papers scored for '
        f"relevance to: {escape(one_line(rubric.description))}</p>"
    ]
    if digest.demo:
        parts.append(f'<p style="margin:0 0 12px;{_MUTED}"><em>{escape(DEMO_NOTE)}</em></p>')
    parts.append(
        f'<p style="margin:0 0 16px"><strong>{len(listed)}</strong> {noun} above threshold '
        f"({digest.threshold}/100) out of <strong>{digest.scanned}</strong> total scanned.</p>"
    )
    failures = failures_sentence(digest)
    if failures:
        parts.append(f'<p style="margin:0 0 16px;{_MUTED}">{escape(failures)}</p>')
    parts += [_paper(result, rubric, below=False) for result in listed]
    below = digest.below_threshold
    if below:
        heading = escape(below_heading(digest, len(below)))
        parts.append(f'<h2 style="font-size:18px;margin:20px 0 10px">{heading}</h2>')
        parts += [_paper(result, rubric, below=True) for result in below]
    return _page(one_line(rubric.title), parts)


def _page(title: str, parts: list[str]) -> str:
    heading = f'<h1 style="font-size:22px;line-height:1.3;margin:0 0 8px">{escape(title)}</h1>'
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title></head>",
            f'<body style="{_BODY}"><div style="max-width:720px;margin:0 auto">',
            heading,
            *parts,
            "</div></body></html>",
            "",
        ]
    )


def _paper(result: ScoredPaper, rubric: Rubric, *, below: bool) -> str:
    paper = result.paper
    link = http_url(paper.url)
    title = escape(one_line(paper.title))
    if link:
        title = f'<a href="{escape(link)}" style="{_LINK};text-decoration:none">{title}</a>'
    scores = " | ".join(
        f"{escape(d.display)}: {result.scores.get(d.name, '?')}/100" for d in rubric.dimensions
    )
    if below:
        scores += " (below threshold)"
    justification = escape(one_line(result.justification))
    lines = [
        f'<div style="{_CARD}">',
        f'<h3 style="font-size:17px;line-height:1.35;margin:0 0 6px">{title}</h3>',
        f'<p style="margin:0 0 6px"><strong>{scores}</strong>'
        + (f" — {justification}" if justification else "")
        + "</p>",
    ]
    meta = []
    if paper.authors:
        names = ", ".join(escape(one_line(a)) for a in paper.authors[:MAX_AUTHORS])
        meta.append(f"Authors: {names}{' et al.' if len(paper.authors) > MAX_AUTHORS else ''}")
    if paper.published:
        meta.append(f"Published: {paper.published.isoformat()}")
    if meta:
        lines.append(f'<p style="margin:0 0 4px;font-size:14px;{_MUTED}">{" · ".join(meta)}</p>')
    links = [
        f'{label}: <a href="{escape(url)}" style="{_LINK}">{escape(url)}</a>'
        for label, url in (("arXiv", link), ("PDF", http_url(paper.pdf_url)))
        if url
    ]
    if links:
        lines.append(f'<p style="margin:0 0 4px;font-size:14px">{" | ".join(links)}</p>')
    lines += [f'<blockquote style="{_QUOTE}">{escape(_excerpt(paper.abstract))}</blockquote>']
    lines.append("</div>")
    return "\n".join(lines)


def _excerpt(abstract: str) -> str:
    text = one_line(abstract)
    return text if len(text) <= ABSTRACT_CHARS else text[:ABSTRACT_CHARS] + "..."
