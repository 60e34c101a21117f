"""The Markdown digest rendered by a real CommonMark renderer: hostile fields stay text.

The renderer is markdown-it-py with raw HTML on (CommonMark's default), GFM
tables and strikethrough on, and its own link filter off, so that the digest
is tested as the least careful renderer would show it, not as markdown-it's
safety net would.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from scorer import Paper, ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer.digest._markdown import Digest, render_markdown
from scorer.digest._text import one_line

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# One entry per trick; each is used as a title, an author, an abstract and a justification.
HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<!-- hide the rest",
    "<div>block html</div>",
    "[click](javascript:alert(1))",
    "Title](javascript:alert(1)) [x",
    "![pixel](https://evil.example/p.png)",
    "<https://evil.example/autolink>",
    "`code` and ``` fence ```",
    "```",
    "~~~",
    "# heading",
    "## a C # title ##",
    "#",
    "* star * and **bold** and _under_ and __more__",
    "** — closes the bold",
    "> quote",
    "- list item",
    "+ list item",
    "1. ordered",
    "2) ordered",
    "---",
    "***",
    "===",
    "| a | b |\n|---|---|\n| c | d |",
    "line one\n\n# line two\n- three\n\n> four",
    "    indented code",
    "&lt;script&gt; &amp; &#60;",
    "trailing backslash \\",
    "\\*escaped\\* \\",
    "~~struck~~",
    "[ref]: https://evil.example",
    "[ref]",
]


class Html(HTMLParser):
    """Elements of rendered HTML: tag, attributes, text inside, and nesting depth."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None], list[str], int]] = []
        self._open: list[list[str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text: list[str] = []
        self.elements.append((tag, dict(attrs), text, len(self._open)))
        if tag not in {"hr", "img", "br", "input"}:
            self._open.append(text)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs), [], len(self._open)))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for text in self._open:
            text.append(data)

    def texts(self, tag: str) -> list[str]:
        return ["".join(text) for t, _, text, _ in self.elements if t == tag]

    def tags(self) -> set[str]:
        return {tag for tag, *_ in self.elements}

    def top_level(self) -> list[str]:
        return [tag for tag, _, _, depth in self.elements if depth == 0]

    def hrefs(self) -> list[str]:
        return [attrs.get("href") or "" for tag, attrs, *_ in self.elements if tag == "a"]


def render(markdown: str) -> Html:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    md.validateLink = lambda url: True  # show what the digest links to, unfiltered
    return Html(md.render(markdown))


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric("llm-inference")


def scored(
    rubric: Rubric,
    *,
    title: str = "A paper",
    authors: list[str] | None = None,
    abstract: str = "An abstract.",
    justification: str = "Why.",
    url: str | None = "https://arxiv.org/abs/2602.00001v1",
    pdf_url: str | None = "https://arxiv.org/pdf/2602.00001v1",
    relevance: int = 90,
    model: str = "gpt-test",
) -> ScoredPaper:
    return ScoredPaper(
        paper=Paper(
            title=title,
            authors=authors if authors is not None else ["A. Author"],
            abstract=abstract,
            published="2026-02-24",
            url=url,
            pdf_url=pdf_url,
        ),
        rubric=rubric.name,
        rubric_fingerprint=rubric.fingerprint,
        model=model,
        scores={"relevance": relevance, "hype": 40},
        justification=justification,
    )


# The text a CommonMark renderer shows for a paper's fields.


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_field_is_shown_as_text_in_its_place(rubric: Rubric, text: str) -> None:
    evil = scored(rubric, title=text, authors=[text, "B"], abstract=text, justification=text)
    page = render(render_markdown(Digest.of([evil], rubric)))
    plain = render(render_markdown(Digest.of([scored(rubric, authors=["A", "B"])], rubric)))

    # Only the elements the digest itself makes, in the same order.
    assert page.tags() <= {"h1", "h3", "p", "strong", "em", "a", "blockquote", "hr"}
    assert page.top_level() == plain.top_level()
    assert page.hrefs() == plain.hrefs()
    # Each field, whitespace collapsed, is the text where the layout puts it.
    shown = one_line(text)
    assert page.texts("h3") == [shown]
    assert page.texts("strong")[2:] == ["Relevance: 90/100 | Hype: 40/100"]
    paragraph = page.texts("p")[2]
    assert paragraph.startswith(f"Relevance: 90/100 | Hype: 40/100 — {shown}\n")
    assert page.texts("em") == [f"Authors: {shown}, B", "Published: 2026-02-24"]
    assert page.texts("blockquote") == [f"\n{shown}\n"]


def test_many_hostile_papers_keep_one_heading_each(rubric: Rubric) -> None:
    papers = [
        scored(
            rubric,
            title=t,
            authors=[t],
            abstract=t,
            justification=t,
            relevance=99 - i // 2,
            url=f"https://arxiv.org/abs/2602.{i:05d}",
            pdf_url=None,
        )
        for i, t in enumerate(HOSTILE)
    ]
    page = render(render_markdown(Digest.of(papers, rubric)))
    assert page.texts("h3") == [one_line(t) for t in HOSTILE]
    assert len(page.texts("blockquote")) == len(HOSTILE)
    assert page.tags() <= {"h1", "h3", "p", "strong", "em", "a", "blockquote", "hr"}
    assert page.hrefs() == [f"https://arxiv.org/abs/2602.{i:05d}" for i in range(len(HOSTILE))]


def test_hostile_rubric_text_stays_in_the_header(rubric: Rubric) -> None:
    text = "<script>alert(1)</script> # [x](javascript:1) *"
    evil = rubric.model_copy(update={"title": text, "description": text})
    page = render(render_markdown(Digest.of([scored(evil)], evil)))
    assert page.texts("h1") == [text]
    assert page.texts("p")[0] == f"Automatically discovered papers scored for relevance to: {text}"
    assert "script" not in page.tags()


def test_long_hostile_abstract_is_cut_as_text(rubric: Rubric) -> None:
    abstract = "- " + "<b>x</b> " * 40
    page = render(render_markdown(Digest.of([scored(rubric, abstract=abstract)], rubric)))
    assert page.texts("blockquote") == [f"\n{one_line(abstract)[:200]}...\n"]
    assert "b" not in page.tags()


# Links: http(s) only, and never broken by the URL's own characters.


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
        "vbscript:msgbox(1)",
        "/relative/path",
        "relative/path",
        "//evil.example/protocol-relative",
        "http:///no-host",
        "https://",
        "https://x.org/a b",
        "https://x.org/<script>",
        "https://x.org/a>b",
        'https://x.org/"onmouseover="alert(1)',
        "https://x.org/a\\b",
        "https://x.org/`code`",
    ],
)
def test_only_http_urls_become_links(rubric: Rubric, url: str) -> None:
    markdown = render_markdown(Digest.of([scored(rubric, url=url, pdf_url=url)], rubric))
    page = render(markdown)
    assert page.hrefs() == []
    assert "[arXiv]" not in markdown and "[PDF]" not in markdown
    assert page.texts("h3") == ["A paper"]
    assert page.texts("blockquote") == ["\nAn abstract.\n"]


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://arxiv.org/abs/2602.21548v1", "https://arxiv.org/abs/2602.21548v1"),
        ("HTTP://X.org/a?b=1&c=2#f", "HTTP://X.org/a?b=1&c=2#f"),
        (
            "https://en.wikipedia.org/wiki/Bias_(statistics)",
            "https://en.wikipedia.org/wiki/Bias_%28statistics%29",
        ),
        (
            "https://x.org/a)](javascript:alert(1))",
            "https://x.org/a%29%5D%28javascript:alert%281%29%29",
        ),
        ("https://x.org/*a*_b_~c~", "https://x.org/*a*_b_~c~"),
    ],
)
def test_http_urls_with_markdown_characters_stay_one_link(
    rubric: Rubric, url: str, href: str
) -> None:
    page = render(render_markdown(Digest.of([scored(rubric, url=url, pdf_url=url)], rubric)))
    assert page.hrefs() == [href, href]
    assert page.texts("a") == ["arXiv", "PDF"]


# The seed digest through the same renderer.


def test_seed_digest_renders_one_heading_per_paper(rubric: Rubric) -> None:
    rows = [
        json.loads(line)
        for line in (FIXTURES / "seed_digest_scored.jsonl").read_text("utf-8").splitlines()
    ]
    results = []
    for row in rows:
        scores = {"relevance": row.pop("relevance"), "hype": row.pop("hype")}
        justification = row.pop("justification")
        results.append(
            ScoredPaper(
                paper=Paper.model_validate(row),
                rubric=rubric.name,
                rubric_fingerprint=rubric.fingerprint,
                model="seed-digest",
                scores=scores,
                justification=justification,
            )
        )
    digest = Digest.of(results, rubric)
    page = render(render_markdown(digest))
    assert page.texts("h3") == [r.paper.title for r in digest.listed]
    assert len(page.texts("h3")) == 31 == len(page.texts("blockquote"))
    assert all(h.startswith("https://arxiv.org/") for h in page.hrefs())
    assert len(page.hrefs()) == 62
