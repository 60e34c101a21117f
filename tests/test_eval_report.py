"""The eval report page: the numbers, two charts, safe to open, and fine in a real browser."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from scorer.eval._metrics import EvalReport, LabelledScore, evaluate
from scorer.eval._report import render_eval_html

if TYPE_CHECKING:  # types only: every test worker imports this file to collect it
    from playwright.sync_api import Browser, ConsoleMessage, Route

HOSTILE = "<script>alert(1)</script>"


def sample() -> EvalReport:
    """20 relevant papers scored 5, 10, ..., 100 and 5 others; see test_evaluation."""
    relevant = [LabelledScore(5.0 * k, 1.0) for k in range(1, 21)]
    others = [LabelledScore(s, 0.0) for s in (0, 3, 8, 12, 50)]
    return evaluate(relevant + others, threshold=50).model_copy(
        update={"model": "gpt-4o-mini", "method": "generate", "rubric": "kitchenham", "failed": 2}
    )


class Page(HTMLParser):
    """Tags with attributes and the text a browser would show."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def test_page_shows_the_metrics_and_the_confusion_table() -> None:
    report = sample()
    text = Page(render_eval_html(report, title="Kitchenham 2010")).all_text()
    assert f"ROC AUC {report.auc:.3f}" in text
    assert f"average precision {report.average_precision:.3f}" in text
    assert "Score >= 10 finds at least 95% of the relevant papers" in text
    assert "a human still reads 84.0% of all papers (21 of 25)" in text
    assert "relevant 11 TP 9 FN not relevant 1 FP 4 TN" in text
    assert "rubric kitchenham · model gpt-4o-mini · method generate" in text
    assert "could not be scored 2" in text


def test_charts_describe_the_buckets_and_mark_both_thresholds() -> None:
    html = render_eval_html(sample(), title="t")
    assert html.count("<svg") == 2
    desc = re.search(r'<desc id="dist-d">(.*?)</desc>', html)
    assert desc is not None
    relevant = [int(n) for n in re.findall(r"(\d+) relevant", desc.group(1))]
    others = [int(n) for n in re.findall(r"(\d+) not", desc.group(1))]
    assert relevant == [1, 2, 2, 2, 2, 2, 2, 2, 2, 3]  # 5, 10 15, ..., 90 95 100
    assert others == [3, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert ">threshold 50</text>" in html and ">95% recall 10</text>" in html
    # Calibration: one point per bucket with papers, none for the empty ones.
    report = evaluate([LabelledScore(5, 0), LabelledScore(95, 1)], threshold=50)
    html = render_eval_html(report, title="t")
    assert html.count('<circle class="dot"') == 2
    assert "0-9: 0.00 (n=1); 90-100: 1.00 (n=1)" in html


def test_graded_calibration_spans_the_label_range() -> None:
    report = evaluate([LabelledScore(s, g) for s, g in ((10, 0), (50, 1), (90, 3))], threshold=50)
    html = render_eval_html(report, title="t")
    ticks = re.findall(r'text-anchor="end">([\d.%]+)</text>', html.split('id="cal-t"')[1])
    assert ticks == ["0", "0.75", "1.5", "2.25", "3"]
    assert "mean human label" in html


def test_empty_report_renders() -> None:
    html = render_eval_html(evaluate([], threshold=50), title="nothing yet")
    assert html.count("<svg") == 2 and ">no papers</text>" in html
    assert "No relevant papers, so no threshold for 95% recall." in html


def test_hostile_text_comes_out_as_text() -> None:
    report = sample().model_copy(update={"rubric": HOSTILE, "model": HOSTILE, "method": HOSTILE})
    html = render_eval_html(report, title=HOSTILE)
    page = Page(html)
    assert "<script" not in html
    assert [tag for tag, _ in page.tags if tag in {"script", "img", "iframe", "object"}] == []
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert page.all_text().count(HOSTILE) >= 5  # <title>, <h1> and the three fields


def test_page_is_self_contained() -> None:
    html = render_eval_html(sample(), title="t")
    assert not re.search(r"https?:", html, re.IGNORECASE)
    assert "//" not in html and "url(" not in html and "@import" not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None and "default-src 'none'" in csp.group(1)


# In a real browser (the `browser` fixture, tests/conftest.py).


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_browser_draws_both_charts_without_errors_or_requests(
    browser: Browser, tmp_path: Path, scheme: Literal["light", "dark"]
) -> None:
    path = tmp_path / "eval.html"
    path.write_text(render_eval_html(sample(), title=HOSTILE), encoding="utf-8")
    ctx = browser.new_context(color_scheme=scheme)
    requests: list[str] = []
    problems: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            problems.append(message.text)

    ctx.route("**/*", guard)
    page = ctx.new_page()
    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(dialog.message))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    svgs = page.locator("svg")
    assert svgs.count() == 2
    for i in range(2):
        box = svgs.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
    # The stylesheet ran (the CSP let it through): cards have their border radius.
    radius = page.locator(".card").first.evaluate("e => getComputedStyle(e).borderRadius")
    assert radius == "10px"
    assert page.locator("h1").inner_text() == HOSTILE
    assert problems == [] and requests == []
    shot = tmp_path / "eval.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    ctx.close()
