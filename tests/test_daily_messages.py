"""The e-mail HTML and the notice: fields escaped, links only http(s), no script or style."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

from scorer import Paper, ScoredPaper, load_rubric
from scorer.daily import render_email_html
from scorer.daily._messages import digest_message, nothing_new_message
from scorer.digest import Digest, render_markdown

RUBRIC = load_rubric("llm-inference")
DAY = dt.date(2026, 2, 27)


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.handlers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "href":
                self.hrefs.append(value or "")
            if name.startswith("on"):
                self.handlers.append(name)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def hostile() -> ScoredPaper:
    paper = Paper(
        title='<script>alert("t")</script><img src=x onerror=alert(1)>',
        abstract="<style>body{display:none}</style> & an abstract " + "x" * 300,
        authors=["<b>Mallory</b>", "Eve", "Trent", "Zed"],
        published="2026-02-25",
        url="javascript:alert(1)",
        pdf_url="https://arxiv.org/pdf/2602.00001v1",
        id="2602.00001",
    )
    return ScoredPaper(
        paper=paper,
        rubric=RUBRIC.name,
        rubric_fingerprint="f",
        model="m",
        scores={"relevance": 95, "hype": 10},
        justification='"><a href="http://evil">click</a>',
    )


def test_paper_fields_are_text_and_only_http_links_remain() -> None:
    html = render_email_html(Digest.of([hostile()], RUBRIC))
    parsed = Elements()
    parsed.feed(html)
    assert not {"script", "style", "img", "b", "iframe"} & set(parsed.tags)
    assert parsed.handlers == []
    assert parsed.hrefs == ["https://arxiv.org/pdf/2602.00001v1"]
    text = "".join(parsed.text)
    assert '<script>alert("t")</script>' in text  # shown as text, not run
    assert "Authors: <b>Mallory</b>, Eve, Trent et al." in text
    assert '— "><a href="http://evil">click</a>' in text
    assert "x" * 150 + "..." in text and "x" * 300 not in text


def test_the_digest_message_says_how_many_and_when() -> None:
    message = digest_message(Digest.of([hostile()], RUBRIC), DAY)
    assert message.title == "LLM inference systems and I/O: 1 paper (2026-02-27)"
    assert message.markdown.startswith("# LLM inference systems and I/O\n")


def test_a_digest_of_only_the_best_below_the_threshold_says_so() -> None:
    low = hostile().model_copy(update={"scores": {"relevance": 20, "hype": 10}})
    message = digest_message(Digest.of([low], RUBRIC, top_n=3), DAY)
    assert message.title == "LLM inference systems and I/O: the best 1 below threshold (2026-02-27)"
    assert "(below threshold)" in message.html


def test_the_notice_is_short() -> None:
    message = nothing_new_message(Digest(RUBRIC), DAY)
    assert message.title == "LLM inference systems and I/O: nothing new (2026-02-27)"
    assert message.markdown == (
        "Nothing new today: no new paper reached the threshold (70/100) out of 0 papers scanned.\n"
    )
    assert len(message.html) < 1000


def test_a_paper_cannot_mention_a_whole_chat_room() -> None:
    # Chat services read "@everyone" (Discord), "@channel" (Slack), "@room"
    # (Matrix) and "@all" in a message's text and notify every member.
    pinging = Paper(
        title="@everyone read this, @here",
        abstract="Ping @room and @channel; mail x@example.org.",
        authors=["@all"],
        id="2602.00002",
    )
    result = hostile().model_copy(update={"paper": pinging})
    digest = Digest.of([result], RUBRIC)

    message = digest_message(digest, DAY)

    assert not re.search(r"(?<!\w)@\w", message.markdown)
    assert "### @\u200beveryone read this, @\u200bhere" in message.markdown
    assert "x@example.org" in message.markdown
    assert "### @everyone read this, @here" in render_markdown(digest)  # the file: as written
