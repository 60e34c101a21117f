"""The Atom feed digest (``-o digest.atom``), read back by feedparser as a feed reader would."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import feedparser
from in_process import run_scorer

from scorer import Paper, ScoredPaper, load_rubric
from scorer.digest import DIGEST_RENDERERS, Digest, render_atom
from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = load_rubric("llm-inference")
NOW = dt.datetime(2026, 2, 27, 6, 0, tzinfo=dt.UTC)


def result(
    paper: Paper, relevance: int = 90, hype: int = 40, why: str = "On KV caches."
) -> ScoredPaper:
    return ScoredPaper(
        paper=paper,
        rubric=RUBRIC.name,
        rubric_fingerprint="f",
        model="m",
        scores={"relevance": relevance, "hype": hype},
        justification=why,
    )


def paper(**fields: object) -> Paper:
    base: dict[str, object] = {
        "title": "Paged KV caches",
        "abstract": "We page the KV cache.",
        "id": "2602.21548v1",
        "authors": ["Ada Lovelace", "Alan Turing"],
        "published": "2026-02-24",
        "url": "https://arxiv.org/abs/2602.21548v1",
        "pdf_url": "https://arxiv.org/pdf/2602.21548v1",
    }
    return Paper.model_validate({**base, **fields})


def test_batch_writes_a_feed_with_the_digests_papers(tmp_path: Path, fake: FakeOpenAI) -> None:
    atom, markdown = tmp_path / "digest.atom", tmp_path / "digest.md"
    result = run_scorer(
        [
            "batch",
            str(ROOT / "fixtures" / "seed_papers.csv"),
            "-r",
            "llm-inference",
            "--threshold",
            "40",
            "--base-url",
            fake.base_url,
            "--model",
            "fake-model",
            "-o",
            str(atom),
            "-o",
            str(markdown),
        ],
        env={"OPENAI_API_KEY": "sk-test-0123456789abcdef"},
    )
    assert result.returncode == 0, result.stderr
    feed = feedparser.parse(atom.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "LLM inference systems and I/O"
    titles = re.findall(r"^### (.+)$", markdown.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert titles, "no paper above the threshold: the test proves nothing"
    assert [e.title for e in feed.entries] == [t.replace("\\", "") for t in titles]
    for entry in feed.entries:
        assert re.fullmatch(r"urn:scorer:llm-inference:arxiv:\d{4}\.\d{5}", entry.id)
        assert re.match(r"Relevance: \d+/100 \| Hype: \d+/100 — \S", entry.summary)
        assert entry.link.startswith("https://arxiv.org/abs/")
    assert len({e.id for e in feed.entries}) == len(feed.entries)


def test_entry_ids_and_dates_do_not_change_from_run_to_run() -> None:
    today = render_atom(Digest.of([result(paper())], RUBRIC), now=NOW)
    # Tomorrow: a new version of the paper, scored again differently, in a later feed.
    tomorrow = render_atom(
        Digest.of([result(paper(id="arXiv:2602.21548v2"), relevance=80)], RUBRIC),
        now=NOW + dt.timedelta(days=1),
    )
    first, second = feedparser.parse(today).entries[0], feedparser.parse(tomorrow).entries[0]
    assert first.id == second.id == "urn:scorer:llm-inference:arxiv:2602.21548"
    assert first.updated == second.updated == "2026-02-24T00:00:00Z"
    assert feedparser.parse(today).feed.id == feedparser.parse(tomorrow).feed.id
    assert feedparser.parse(today).feed.updated == "2026-02-27T06:00:00Z"


def test_a_paper_without_an_id_gets_a_stable_id_from_its_title() -> None:
    untitled = paper(id=None, url=None, pdf_url=None, title="Speculative   Decoding: a Survey")
    feed = feedparser.parse(render_atom(Digest.of([result(untitled)], RUBRIC), now=NOW))
    assert not feed.bozo
    entry_id = feed.entries[0].id
    assert entry_id.startswith("urn:scorer:llm-inference:") and " " not in entry_id
    again = paper(id=None, url=None, pdf_url=None, title="speculative decoding: a survey")
    assert feedparser.parse(render_atom(Digest.of([result(again)], RUBRIC))).entries[0].id == (
        entry_id
    )


def test_hostile_fields_stay_text_and_the_feed_stays_valid() -> None:
    hostile = paper(
        title="<script>alert(1)</script> & ]]> \x00\x1bBreak",
        abstract="An abstract with \x0b control \ufffe characters & <b>tags</b>.",
        authors=["Eve <eve@example.com>", "]]>"],
        url="javascript:alert(1)",
        pdf_url="https://example.org/p.pdf?a=1&b=2",
    )
    text = render_atom(Digest.of([result(hostile, why='"quoted" & <i>why</i>')], RUBRIC), now=NOW)
    assert "<script>" not in text and "<b>" not in text
    feed = feedparser.parse(text)
    assert not feed.bozo, feed.get("bozo_exception")
    entry = feed.entries[0]
    assert entry.title == "<script>alert(1)</script> & ]]> Break"
    assert entry.content[0].value == "An abstract with control  characters & <b>tags</b>."
    assert entry.content[0].type == "text/plain"
    assert [a.name for a in entry.authors] == ["Eve <eve@example.com>", "]]>"]
    assert [link.href for link in entry.links] == ["https://example.org/p.pdf?a=1&b=2"]
    assert entry.summary.endswith('— "quoted" & <i>why</i>')


def test_a_link_holding_a_character_xml_forbids_is_left_out_and_the_feed_stays_valid() -> None:
    # Text fields were cleaned of such characters, but links were not: one
    # U+FFFF in a paper's URL made the whole feed unreadable to every reader.
    hostile = paper(url="https://example.org/abs/\uffff", pdf_url="https://example.org/\ufffe.pdf")
    fine = paper(id="2602.00001", title="Fine", url="https://example.org/abs/fine")
    text = render_atom(Digest.of([result(hostile), result(fine)], RUBRIC), now=NOW)
    feed = feedparser.parse(text)
    assert not feed.bozo, feed.get("bozo_exception")
    assert len(feed.entries) == 2
    assert [[link.href for link in e.get("links", [])] for e in feed.entries] == [
        [],
        ["https://example.org/abs/fine", "https://arxiv.org/pdf/2602.21548v1"],
    ]


def test_a_rubric_label_xml_forbids_leaves_the_feed_valid() -> None:
    # Dimension labels go into attributes (category labels), which were not cleaned.
    first, *rest = RUBRIC.dimensions
    label = first.model_copy(update={"label": "Rel\x01evance\uffff"})
    rubric = RUBRIC.model_copy(update={"dimensions": [label, *rest]})
    text = render_atom(Digest.of([result(paper())], rubric), now=NOW)
    feed = feedparser.parse(text)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.entries[0].tags[0].label == "Relevance: 90/100"


def test_an_empty_digest_is_a_valid_feed_with_no_entries() -> None:
    feed = feedparser.parse(DIGEST_RENDERERS[".atom"](Digest(RUBRIC)))
    assert not feed.bozo and feed.entries == []
    assert feed.feed.subtitle.startswith("Papers scored for relevance to: Serving, optimizing")
