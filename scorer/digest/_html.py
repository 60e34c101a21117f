"""The HTML digest: the Markdown digest's papers as one self-contained page.

The page makes no request of its own: CSS and JS are inline, the histogram is
inline SVG, and a Content-Security-Policy allows only this module's own script
and style (by hash), so even a field that escaped escaping could not run.

Papers carry their scores and date as ``data-*`` attributes, which a small
script reads to filter and sort; no paper data is ever written into the script,
so nothing can break out of it. Without JS the page is the digest, in order.

Over 300 lines: the page's inline CSS and script live here, beside the
Content-Security-Policy hashes that must be of these exact strings.
"""

from __future__ import annotations

from html import escape

from scorer._models import ScoredPaper
from scorer._rubric import Rubric
from scorer._whitespace import one_line
from scorer.digest._markdown import (
    DEMO_NOTE,
    MAX_AUTHORS,
    NEEDS_HUMAN_HEADING,
    Digest,
    below_heading,
    count_papers,
    failures_sentence,
    needs_human_sentence,
)
from scorer.digest._page import content_security_policy, page_head
from scorer.digest._text import http_url

__all__ = ["render_html"]

BUCKETS = 10  # histogram bars: 0-9, 10-19, ..., 90-100
# A bar holding one paper beside one holding hundreds would be a fraction of a
# pixel high; every non-empty bar gets at least this height (drawing units).
MIN_BAR_HEIGHT = 3

_CSS = """
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1d2430;--muted:#5b6472;
--line:#dde1e7;--link:#1f5fbf;--accent:#2f6fdf;--bar:#b7c3d6;--hi:#1b7f4b;--mid:#8a6100;--lo:#6b7280}
@media (prefers-color-scheme:dark){:root{--bg:#12151a;--card:#1b2028;--fg:#e4e8ee;
--muted:#9aa4b2;--line:#2c3440;--link:#8cb8ff;--accent:#6ea2ff;--bar:#3a4658;--hi:#4cc38a;
--mid:#e0b050;--lo:#9aa4b2}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--fg);line-height:1.5;
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:52rem;margin:0 auto;padding:2rem 1rem 4rem}
h1{font-size:1.7rem;line-height:1.25;margin:0 0 .4rem}
a{color:var(--link)}
.lede,.meta,.shown{color:var(--muted)}
.lede{margin:0 0 .8rem}.summary{margin:0 0 1rem;font-size:1.05rem}
.overview{display:flex;flex-wrap:wrap;gap:1rem 2rem;align-items:flex-end;
background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem;
margin:0 0 1.2rem}
.hist-box{margin:0;flex:1 1 18rem;max-width:28rem}
.hist-box figcaption{font-size:.85rem;color:var(--muted)}
.hist{display:block;width:100%;height:auto;font-size:10px;fill:var(--muted)}
.hist .bar{fill:var(--bar)}.hist .bar.in{fill:var(--accent)}
.hist .cut{stroke:var(--fg);stroke-width:1.5;stroke-dasharray:4 3}.hist .cut-label{fill:var(--fg)}
.controls{display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;align-items:center}
.controls label{display:flex;gap:.5rem;align-items:center;font-size:.95rem}
.controls input[type=range]{width:9rem;accent-color:var(--accent)}
.controls output{font-variant-numeric:tabular-nums;min-width:2ch;font-weight:600}
select{font:inherit;padding:.2rem .4rem;border-radius:6px;border:1px solid var(--line);
background:var(--card);color:var(--fg)}
.shown{width:100%;margin:0;font-size:.9rem}
.paper{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:1rem 1.2rem;margin:0 0 1rem}
.paper h2{font-size:1.12rem;line-height:1.35;margin:0 0 .5rem}
.paper h2 a{text-decoration:none}.paper h2 a:hover{text-decoration:underline}
.scores{display:flex;flex-wrap:wrap;gap:.4rem;margin:0 0 .5rem}
.badge{border:1px solid currentColor;border-radius:999px;padding:0 .6rem;font-size:.85rem;
white-space:nowrap}
.badge b{font-variant-numeric:tabular-nums}
.hi{color:var(--hi)}.mid{color:var(--mid)}.lo{color:var(--lo)}
.why{margin:0 0 .5rem}.meta{margin:0 0 .4rem;font-size:.9rem}
.meta a{margin-right:.6rem}
details summary{cursor:pointer;color:var(--muted);font-size:.9rem}
details p{margin:.4rem 0 0}
.demo{margin:0 0 .8rem;font-style:italic}.failures{margin:0 0 1rem;color:var(--mid)}
#below>h2,#needs-human>h2{font-size:1.2rem;margin:1.8rem 0 .8rem}
.paper.below{border-style:dashed}.reviews{margin:0 0 .5rem;padding-left:1.2rem}
.empty{background:var(--card);border:1px dashed var(--line);border-radius:10px;padding:2rem;
text-align:center;color:var(--muted)}
@media (max-width:34rem){main{padding:1rem .7rem 3rem}h1{font-size:1.35rem}.paper{padding:.8rem}}
@media print{.controls{display:none}.paper{break-inside:avoid}}
"""

_JS = """
(function () {
  var form = document.getElementById("controls");
  var list = document.getElementById("papers");
  if (!form || !list) return;
  var min = form.elements.namedItem("min"), sort = form.elements.namedItem("sort");
  var minOut = document.getElementById("min-value"), shown = document.getElementById("shown");
  var papers = Array.prototype.slice.call(list.querySelectorAll("article.paper"));
  function num(el, name) {
    var v = el.getAttribute(name);
    return v === null || v === "" ? -1 : Number(v);
  }
  function compare(key) {
    return function (a, b) {
      if (key === "date") {
        var da = a.getAttribute("data-date"), db = b.getAttribute("data-date");
        if (da !== db) return da < db ? 1 : -1;
      } else if (key !== "rank") {
        var d = num(b, "data-" + key) - num(a, "data-" + key);
        if (d) return d;
      }
      return num(a, "data-rank") - num(b, "data-rank");
    };
  }
  function update() {
    var floor = Number(min.value), visible = 0;
    minOut.textContent = min.value;
    papers.slice().sort(compare(sort.value)).forEach(function (p) {
      p.hidden = num(p, "data-s0") < floor;
      if (!p.hidden) visible++;
      list.appendChild(p);
    });
    shown.textContent = "Showing " + visible + " of " + papers.length +
      (papers.length === 1 ? " paper." : " papers.");
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.hidden = false;
  update();
})();
"""


_CSP = content_security_policy(style=_CSS, script=_JS)


def render_html(digest: Digest) -> str:
    """Render the digest as one HTML page with no external resources.

    >>> from scorer._rubric import load_rubric
    >>> page = render_html(Digest(load_rubric("llm-inference")))
    >>> "No papers above threshold" in page and "<script src" not in page
    True
    """
    rubric = digest.rubric
    listed = digest.listed
    title = _text(rubric.title)
    noun = "paper" if len(listed) == 1 else "papers"
    summary = (
        f"<strong>{len(listed)}</strong> {noun} above threshold ({digest.threshold}/100) "
        f"out of <strong>{digest.scanned}</strong> total scanned."
    )
    failures = failures_sentence(digest)
    flagged = needs_human_sentence(digest)
    parts = [
        *page_head(title, style=_CSS, policy=_CSP),
        f"<body><main><header><h1>{title}</h1>",
        '<p class="lede">Automatically discovered papers scored for relevance to: '
        f"{_text(rubric.description)}</p>",
        f'<p class="demo">{DEMO_NOTE}</p>' if digest.demo else "",
        f'<p class="summary">{summary}</p>',
        f'<p class="failures">{_text(failures)}</p>' if failures else "",
        f'<p class="failures">{_text(flagged)}</p>' if flagged else "",
        "</header>",
    ]
    overview = [_histogram(digest)] if digest.score_counts else []
    if listed:
        overview.append(_controls(rubric, digest.threshold))
    if overview:
        parts.append(f'<section class="overview">{"".join(overview)}</section>')
    if listed:
        parts.append('<section id="papers" aria-label="Papers">')
        parts += [_paper(rank, result, rubric) for rank, result in enumerate(listed)]
        parts.append("</section>")
    else:
        parts.append(
            f'<p class="empty">No papers above threshold ({digest.threshold}/100) this time.</p>'
        )
    below = digest.below_threshold
    if below:
        # Outside #papers: the script's filter starts at the threshold and would hide them.
        parts.append(
            f'<section id="below" class="below" aria-labelledby="below-title">'
            f'<h2 id="below-title">{_text(below_heading(digest, len(below)))}</h2>'
        )
        parts += [
            _paper(len(listed) + rank, result, rubric, below=True)
            for rank, result in enumerate(below)
        ]
        parts.append("</section>")
    disputed = digest.needs_human
    if disputed:
        # Outside #papers too: these are listed for a decision, not filtered by score.
        parts.append(
            '<section id="needs-human" aria-labelledby="needs-human-title">'
            f'<h2 id="needs-human-title">{_text(NEEDS_HUMAN_HEADING)}</h2>'
        )
        parts += [_disputed(result, rubric) for result in disputed]
        parts.append("</section>")
    parts.append(f"</main><script>{_JS}</script></body></html>")
    return "\n".join(part for part in parts if part) + "\n"


def _controls(rubric: Rubric, threshold: int) -> str:
    options = ['<option value="rank">Best first</option>']
    options += [
        f'<option value="s{i}">{_text(d.display)}, highest first</option>'
        for i, d in enumerate(rubric.dimensions)
    ]
    options.append('<option value="date">Newest first</option>')
    # Hidden until the script shows it: without JS the controls would do nothing.
    return (
        '<form id="controls" class="controls" hidden>'
        f"<label>Min {_text(rubric.primary.display)}"
        f'<input type="range" name="min" min="{threshold}" max="100" value="{threshold}">'
        f'<output id="min-value">{threshold}</output></label>'
        f'<label>Sort <select name="sort">{"".join(options)}</select></label>'
        '<p id="shown" class="shown" aria-live="polite"></p></form>'
    )


def _histogram(digest: Digest) -> str:
    counts = [0] * BUCKETS
    for score, n in digest.score_counts.items():
        counts[min(score * BUCKETS // 100, BUCKETS - 1)] += n
    step = 100 // BUCKETS
    labels = [
        f"{i * step}-{i * step + step - 1 if i < BUCKETS - 1 else 100}" for i in range(BUCKETS)
    ]
    name = _text(digest.rubric.primary.display)
    described = ", ".join(f"{label}: {n}" for label, n in zip(labels, counts, strict=True))
    width, height, top, bottom = 300, 124, 26, 110  # drawing units; bars sit on y=bottom
    scale = (bottom - top) / max(counts)
    bars = []
    for i, (label, n) in enumerate(zip(labels, counts, strict=True)):
        x, h = i * width / BUCKETS, max(n * scale, MIN_BAR_HEIGHT) if n else 0
        cls = "bar in" if (i + 1) * step > digest.threshold else "bar"
        bars.append(
            f'<rect class="{cls}" x="{x + 2:g}" y="{bottom - h:g}" width="{width / BUCKETS - 4:g}"'
            f' height="{h:g}"><title>{label}: {count_papers(n)}</title></rect>'
        )
        if n:
            bars.append(
                f'<text x="{x + width / BUCKETS / 2:g}" y="{bottom - h - 3:g}" '
                f'text-anchor="middle">{n}</text>'
            )
    cut = digest.threshold * width / 100
    # The label sits above the tallest count, on whichever side of the line it fits.
    label_x, anchor = (cut + 3, "start") if cut + 70 <= width else (cut - 3, "end")
    axis = "".join(
        f'<text x="{v * width / 100:g}" y="{bottom + 12}" text-anchor="{a}">{v}</text>'
        for v, a in ((0, "start"), (50, "middle"), (100, "end"))
    )
    return (
        '<figure class="hist-box">'
        f'<svg class="hist" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="hist-title hist-desc">'
        f'<title id="hist-title">{name} scores of the papers scanned</title>'
        f'<desc id="hist-desc">Papers per score range: {described}. '
        f"Threshold: {digest.threshold}.</desc>{''.join(bars)}{axis}"
        f'<line class="cut" x1="{cut:g}" x2="{cut:g}" y1="12" y2="{bottom}"/>'
        f'<text class="cut-label" x="{label_x:g}" y="9" text-anchor="{anchor}">'
        f"threshold {digest.threshold}</text></svg>"
        f"<figcaption>{name} scores of the {count_papers(sum(counts))} scored; "
        "highlighted bars reach the threshold.</figcaption></figure>"
    )


def _paper(rank: int, result: ScoredPaper, rubric: Rubric, *, below: bool = False) -> str:
    paper = result.paper
    scores = [result.scores.get(d.name) for d in rubric.dimensions]
    data = "".join(f' data-s{i}="{"" if s is None else s}"' for i, s in enumerate(scores))
    date = paper.published.isoformat() if paper.published else ""
    title = _text(paper.title)
    url = _href(paper.url)
    heading = f'<a href="{url}">{title}</a>' if url else title
    badges = "".join(
        f'<span class="badge {_tier(s)}">{_text(d.display)} <b>{"?" if s is None else s}</b>'
        "/100</span>"
        for d, s in zip(rubric.dimensions, scores, strict=True)
    )
    meta = []
    if paper.authors:
        names = ", ".join(_text(a) for a in paper.authors[:MAX_AUTHORS])
        meta.append(names + (" et al." if len(paper.authors) > MAX_AUTHORS else ""))
    if date:
        meta.append(f'Published <time datetime="{date}">{date}</time>')
    links = [
        f'<a href="{target}">{label}</a>'
        for label, target in (("arXiv", url), ("PDF", _href(paper.pdf_url)))
        if target
    ]
    if below:
        badges += '<span class="badge lo">below threshold</span>'
    justification = _text(result.justification)
    cls = "paper below" if below else "paper"
    return "".join(
        [
            f'<article class="{cls}" data-rank="{rank}" data-date="{date}"{data}>',
            f"<h2>{heading}</h2>",
            f'<p class="scores">{badges}</p>',
            f'<p class="why">{justification}</p>' if justification else "",
            f'<p class="meta">{" · ".join(meta)}</p>' if meta else "",
            f'<p class="meta links">{"".join(links)}</p>' if links else "",
            f"<details><summary>Abstract</summary><p>{_text(paper.abstract)}</p></details>",
            "</article>",
        ]
    )


def _disputed(result: ScoredPaper, rubric: Rubric) -> str:
    """A paper the reviewers disagree on: each one's scores and justification."""
    paper = result.paper
    url = _href(paper.url)
    title = _text(paper.title)
    heading = f'<a href="{url}">{title}</a>' if url else title
    items = []
    for review in result.reviews:
        scores = ", ".join(
            f"{_text(d.display)} {review.scores.get(d.name, '?')}/100" for d in rubric.dimensions
        )
        why = f" — {_text(review.justification)}" if review.justification else ""
        items.append(f"<li><b>{_text(review.model)}</b>: {scores}{why}</li>")
    sure = "" if result.certainty is None else f"Certainty {result.certainty:.2f}"
    return "".join(
        [
            '<article class="paper disputed">',
            f"<h2>{heading}</h2>",
            f'<ul class="reviews">{"".join(items)}</ul>',
            f'<p class="meta">{sure}</p>' if sure else "",
            f"<details><summary>Abstract</summary><p>{_text(paper.abstract)}</p></details>",
            "</article>",
        ]
    )


def _tier(score: int | None) -> str:
    if score is None:
        return "lo"
    return "hi" if score >= 85 else "mid" if score >= 70 else "lo"


def _href(url: str | None) -> str | None:
    """``url`` escaped for an href, or None unless it is a plain http(s) URL."""
    target = http_url(url)
    return None if target is None else escape(target, quote=True)


def _text(text: str) -> str:
    """Escape for HTML text or attributes; whitespace collapses as in the Markdown digest."""
    return escape(one_line(text), quote=True)
