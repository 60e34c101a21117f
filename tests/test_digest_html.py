"""The HTML digest: the Markdown digest's papers, safe to open, and working in a real browser."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from scorer import Dimension, Paper, ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer._settings import EMBEDDED_MODEL
from scorer.cli import cli
from scorer.digest._html import render_html
from scorer.digest._markdown import Digest, render_markdown
from scorer.io._scored import read_scored

if TYPE_CHECKING:  # types only: every test worker imports this file to collect it
    from playwright.sync_api import Browser, Dialog, Route
    from playwright.sync_api import Page as BrowserPage

SEED_SCORED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_digest_scored.jsonl"
HOSTILE = (
    '<script>alert("x")</script><img src=x onerror="alert(1)"> **bold** [md](javascript:alert(2))'
)


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric("llm-inference")


@pytest.fixture(scope="module")
def seed(rubric: Rubric) -> Digest:
    return Digest.of(read_scored(SEED_SCORED, rubric), rubric)


def scored(
    rubric: Rubric,
    title: str = "A paper",
    *,
    relevance: int = 80,
    hype: int = 50,
    url: str | None = "https://arxiv.org/abs/x",
    pdf_url: str | None = "https://arxiv.org/pdf/x",
    justification: str = "Why.",
    **fields: object,
) -> ScoredPaper:
    paper = {"title": title, "abstract": "An abstract.", "published": "2026-02-24"} | fields
    return ScoredPaper(
        paper=Paper.model_validate(paper | {"url": url, "pdf_url": pdf_url}),
        rubric=rubric.name,
        rubric_fingerprint=rubric.fingerprint,
        model="test",
        scores={"relevance": relevance, "hype": hype},
        justification=justification,
    )


def hostile_digest(rubric: Rubric) -> Digest:
    """Every text field a user or a model can fill holds HTML and Markdown."""
    evil_rubric = rubric.model_copy(
        update={
            "title": HOSTILE,
            "description": HOSTILE,
            "dimensions": (
                Dimension(name="relevance", label=HOSTILE, description="d"),
                Dimension(name="hype", description="d"),
            ),
        }
    )
    papers = [
        scored(
            evil_rubric,
            HOSTILE,
            abstract=HOSTILE,
            authors=[HOSTILE, "B"],
            justification=HOSTILE,
            url="javascript:alert(3)",
            pdf_url=" JaVaScRiPt:alert(4)",
        ),
        scored(
            evil_rubric,
            "Quote breaker",
            url='https://a.org/"onmouseover="alert(5)',
            pdf_url="https://a.org/x' onmouseover='alert(6)",
        ),
    ]
    return Digest.of(papers, evil_rubric)


class Page(HTMLParser):
    """What a browser would see: tags with attributes, text, and script bodies."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in: list[str] = []
        self._titles: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)
        if tag == "article":
            self._titles.append("")

    def handle_endtag(self, tag: str) -> None:
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script":
            self.scripts.append(data)
        else:
            self.text.append(data)
        if "h2" in self._in and "article" in self._in:
            self._titles[-1] += data

    @property
    def titles(self) -> list[str]:
        return self._titles

    def hrefs(self) -> list[str]:
        return [a["href"] or "" for tag, a in self.tags if "href" in a]

    def all_text(self) -> str:
        return "".join(self.text)


def md_titles(markdown: str) -> list[str]:
    return [line[4:] for line in markdown.splitlines() if line.startswith("### ")]


# The same digest as the Markdown one.


def test_same_papers_order_and_counts_as_markdown(seed: Digest) -> None:
    markdown = render_markdown(seed)
    page = Page(render_html(seed))
    assert len(page.titles) == 31
    assert page.titles == md_titles(markdown)
    summary = markdown.splitlines()[4].replace("**", "")
    assert summary in " ".join(page.all_text().split())


def test_paper_shows_scores_authors_date_links_and_full_abstract(rubric: Rubric) -> None:
    abstract = "word " * 100
    paper = scored(rubric, relevance=91, hype=12, authors=["A", "B", "C", "D"], abstract=abstract)
    html = render_html(Digest.of([paper], rubric))
    text = " ".join(Page(html).all_text().split())
    assert "Relevance 91/100" in text and "Hype 12/100" in text
    assert "A, B, C et al." in text and "Published 2026-02-24" in text
    assert abstract.strip() in text  # whole, not cut at 200 characters
    assert '<a href="https://arxiv.org/abs/x">A paper</a>' in html
    assert '<a href="https://arxiv.org/pdf/x">PDF</a>' in html
    assert 'data-s0="91" data-s1="12"' in html


def test_histogram_counts_every_scored_paper_and_marks_the_threshold(seed: Digest) -> None:
    html = render_html(seed)
    desc = re.search(r'<desc id="hist-desc">(.*?)</desc>', html)
    assert desc is not None
    counts = [int(n) for n in re.findall(r"\d+-\d+: (\d+)", desc.group(1))]
    assert len(counts) == 10 and sum(counts) == sum(seed.score_counts.values()) == seed.scanned
    assert "Threshold: 70." in desc.group(1)
    assert 'class="cut"' in html and ">threshold 70</text>" in html


def test_empty_digest_says_so(rubric: Rubric) -> None:
    page = Page(render_html(Digest.of([], rubric)))
    text = " ".join(page.all_text().split())
    assert "0 papers above threshold (70/100) out of 0 total scanned." in text
    assert "No papers above threshold (70/100)" in text
    assert page.titles == []


def test_nothing_above_threshold_still_shows_the_histogram(rubric: Rubric) -> None:
    html = render_html(Digest.of([scored(rubric, relevance=20)], rubric))
    assert "No papers above threshold" in html and "<svg" in html
    assert "out of <strong>1</strong> total scanned" in html


# Safe to open.


def test_hostile_text_comes_out_as_text(rubric: Rubric) -> None:
    html = render_html(hostile_digest(rubric))
    page = Page(html)
    assert [tag for tag, _ in page.tags if tag in {"img", "iframe", "object", "embed"}] == []
    assert [tag for tag, _ in page.tags].count("script") == 1
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert "alert" not in "".join(page.scripts)
    assert "<script>alert" not in html
    text = page.all_text()
    # title, description, dimension label, paper title, justification, abstract, author
    assert text.count(HOSTILE) >= 7
    assert page.titles[0] == HOSTILE


def test_only_http_urls_become_links(rubric: Rubric) -> None:
    page = Page(render_html(hostile_digest(rubric)))
    assert page.hrefs() == []  # javascript: URLs and a URL breaking out of its quotes
    assert page.titles == [HOSTILE, "Quote breaker"]  # still shown, as plain text

    fine = scored(rubric, url="HTTPS://arxiv.org/abs/1?a=1&b=2", pdf_url="http://x.org/p.pdf")
    page = Page(render_html(Digest.of([fine], rubric)))
    assert page.hrefs() == ["HTTPS://arxiv.org/abs/1?a=1&b=2"] * 2 + ["http://x.org/p.pdf"]


def test_page_is_self_contained(seed: Digest) -> None:
    html = render_html(seed)
    page = Page(html)
    paper_links = {
        str(getattr(r.paper, field)) for r in seed.listed for field in ("url", "pdf_url")
    }
    for tag, attrs in page.tags:
        assert tag != "link", attrs
        assert not (tag == "script" and "src" in attrs)
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name) or ""
            if re.match(r"\s*(https?:)?//", value):
                assert name == "href" and tag == "a" and value in paper_links, (tag, attrs)
    assert "@import" not in html and "url(" not in html


# In a real browser (the `browser` fixture, tests/conftest.py).


def open_page(
    browser: Browser, html: str, tmp_path: Path, *, javascript: bool = True
) -> tuple[BrowserPage, list[str], list[str]]:
    """Open ``html`` from a file: URL; any other request is recorded and aborted.

    Returns the page, the requests that left file:, and the dialogs that opened.
    """
    path = tmp_path / "digest.html"
    path.write_text(html, encoding="utf-8")
    ctx = browser.new_context(java_script_enabled=javascript)
    requests: list[str] = []
    dialogs: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    # The route may not see every request (e.g. one the page never finishes), this does.
    page.on("request", lambda r: None if r.url.startswith("file:") else requests.append(r.url))
    page.on("dialog", dismiss)
    page.goto(path.as_uri())
    return page, requests, dialogs


def visible_titles(page: BrowserPage) -> list[str]:
    return page.locator("article.paper:visible h2").all_inner_texts()


def test_browser_filters_and_sorts_without_any_request(
    browser: Browser, seed: Digest, tmp_path: Path
) -> None:
    page, requests, dialogs = open_page(browser, render_html(seed), tmp_path)
    listed = seed.listed
    assert visible_titles(page) == [r.paper.title for r in listed]
    assert page.locator("#shown").inner_text() == "Showing 31 of 31 papers."

    page.locator("input[name=min]").fill("90")
    at_least_90 = [r.paper.title for r in listed if r.scores["relevance"] >= 90]
    assert 0 < len(at_least_90) < len(listed)
    assert visible_titles(page) == at_least_90
    assert page.locator("#min-value").inner_text() == "90"
    page.locator("input[name=min]").fill("70")
    assert len(visible_titles(page)) == len(listed)

    page.locator("select[name=sort]").select_option("date")
    by_date = visible_titles(page)
    assert by_date != [r.paper.title for r in listed]
    dates = page.locator("article.paper").evaluate_all("ps => ps.map(p => p.dataset.date)")
    assert dates == sorted(dates, reverse=True)
    page.locator("select[name=sort]").select_option("s1")
    hype = page.locator("article.paper").evaluate_all("ps => ps.map(p => +p.dataset.s1)")
    assert hype == sorted(hype, reverse=True) and visible_titles(page) != by_date
    page.locator("select[name=sort]").select_option("rank")
    assert visible_titles(page) == [r.paper.title for r in listed]

    shot = tmp_path / "digest.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert requests == [] and dialogs == []


def test_browser_runs_no_hostile_script(browser: Browser, rubric: Rubric, tmp_path: Path) -> None:
    page, requests, dialogs = open_page(browser, render_html(hostile_digest(rubric)), tmp_path)
    page.locator("article.paper details summary").first.click()  # show the hostile abstract
    page.locator("article.paper h2").first.hover()
    page.locator("article.paper h2").last.hover()
    page.wait_for_timeout(200)
    assert dialogs == [] and requests == []
    assert page.locator("article.paper h2").first.inner_text() == HOSTILE
    assert page.locator("a[href^='javascript' i], img, iframe").count() == 0
    assert page.locator("#shown").inner_text() == "Showing 2 of 2 papers."  # own script ran


def test_browser_without_javascript_shows_every_paper(
    browser: Browser, seed: Digest, tmp_path: Path
) -> None:
    page, requests, _ = open_page(browser, render_html(seed), tmp_path, javascript=False)
    assert visible_titles(page) == [r.paper.title for r in seed.listed]
    assert page.locator("#controls").is_hidden()  # controls that would do nothing stay hidden
    assert requests == []


# Through the CLI.


def test_cli_writes_html_next_to_markdown(tmp_path: Path) -> None:
    html, md = tmp_path / "out.html", tmp_path / "out.md"
    args = ["digest", str(SEED_SCORED), "-r", "llm-inference", "-o", str(html), "-o", str(md)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    page = Page(html.read_text(encoding="utf-8"))
    assert page.titles == md_titles(md.read_text(encoding="utf-8"))
    assert len(page.titles) == 31


def test_cli_unknown_format_lists_both(tmp_path: Path) -> None:
    args = ["digest", str(SEED_SCORED), "-r", "llm-inference", "-o", str(tmp_path / "x.pdf")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "unknown digest format (use .md, .html or .atom)" in result.stderr


# Links: the same http(s)-only rule as the Markdown digest.


@pytest.mark.parametrize(
    "url",
    [
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
        "/relative/path",
        "//evil.example/protocol-relative",
        "http:///no-host",
        "https://x.org/a b",
        "https://x.org/<b>",
        "java\nscript:alert(1)",
    ],
)
def test_no_link_but_http(rubric: Rubric, url: str) -> None:
    page = Page(render_html(Digest.of([scored(rubric, url=url, pdf_url=url)], rubric)))
    assert page.hrefs() == []
    assert page.titles == ["A paper"]


def test_link_with_parentheses_is_the_same_as_in_markdown(rubric: Rubric) -> None:
    url = "https://en.wikipedia.org/wiki/Bias_(statistics)"
    digest = Digest.of([scored(rubric, url=url, pdf_url=None)], rubric)
    assert (
        Page(render_html(digest)).hrefs()
        == ["https://en.wikipedia.org/wiki/Bias_%28statistics%29"] * 2
    )
    assert "[arXiv](https://en.wikipedia.org/wiki/Bias_%28statistics%29)" in render_markdown(digest)


# The demo model, papers below the threshold, failures and counts of one.


def demo_digest(rubric: Rubric, below: int) -> Digest:
    """One paper above the threshold, ``below`` papers at 15, one failure; demo model scores."""
    results = [scored(rubric, "Top paper", relevance=95, url="https://arxiv.org/abs/2602.00001")]
    results += [
        scored(rubric, f"Low {i}", relevance=15, url=f"https://arxiv.org/abs/2602.1{i:04d}")
        for i in range(below)
    ]
    results = [r.model_copy(update={"model": EMBEDDED_MODEL}) for r in results]
    failed = scored(rubric, "Failed", url="https://arxiv.org/abs/2602.99999")
    results.append(
        failed.model_copy(
            update={"scores": {}, "error": "gave up after 6 attempt(s): request timed out"}
        )
    )
    return Digest.of(results, rubric)


def test_demo_digest_names_the_model_fills_up_and_counts_failures(rubric: Rubric) -> None:
    html = render_html(demo_digest(rubric, below=300))
    page = Page(html)
    text = " ".join(page.all_text().split())
    assert "Scored offline by the embedded demo model (SmolLM2-135M)" in text
    assert "1 paper above threshold (70/100) out of 302 total scanned." in text
    assert "1 paper could not be scored (1 \N{MULTIPLICATION SIGN} request timed out)." in text
    assert "Below the threshold of 70: the next 9 by score" in text
    assert page.titles == ["Top paper", *(f"Low {i}" for i in range(9))]
    assert html.count("below threshold</span>") == 9
    assert "<title>90-100: 1 paper</title>" in html
    assert "scores of the 301 papers scored" in html


def test_histogram_bar_of_one_paper_has_a_visible_height(rubric: Rubric) -> None:
    html = render_html(demo_digest(rubric, below=300))
    heights = {
        label: float(height)
        for height, label in re.findall(r'height="([\d.]+)"><title>(\d+-\d+): ', html)
    }
    assert heights["10-19"] > 80
    assert heights["90-100"] >= 3  # 1/300 of the tallest bar would be 0.3 units
    assert heights["50-59"] == 0


def test_browser_shows_one_paper_bar_and_below_threshold_papers(
    browser: Browser, rubric: Rubric, tmp_path: Path
) -> None:
    page, requests, dialogs = open_page(browser, render_html(demo_digest(rubric, 300)), tmp_path)
    bar = page.locator("svg.hist rect").nth(9).bounding_box()
    assert bar is not None and bar["height"] >= 2  # pixels on the screen
    assert page.locator("#shown").inner_text() == "Showing 1 of 1 paper."
    below = page.locator("#below article.paper:visible h2")
    assert below.count() == 9
    page.locator("input[name=min]").fill("100")  # the filter is for papers above the threshold
    assert visible_titles(page)[:1] == ["Low 0"] and below.count() == 9
    assert requests == [] and dialogs == []
