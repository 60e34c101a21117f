"""The eval report as one self-contained HTML page: metrics, confusion table, two charts.

Like the HTML digest, the page makes no request of its own: the CSS is inline,
the charts are inline SVG, there is no script at all, and a Content-Security-Policy
allows only this module's own stylesheet (by hash).

Over 300 lines: two hand-drawn SVG charts (axes, markers, legend) and the
inline stylesheet.
"""

from __future__ import annotations

import math
from html import escape

from scorer.digest._page import content_security_policy, page_head
from scorer.eval._metrics import BUCKETS, TARGET_RECALL_PERCENT, EvalReport, bucket_edges
from scorer.eval._text import format_score, metric_rows, recall_sentence

__all__ = ["render_eval_html"]

_CSS = """
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1d2430;--muted:#5b6472;
--line:#dde1e7;--grid:#eceff3;--pos:#1b7f4b;--neg:#9aa6b8;--accent:#2f6fdf;--cut:#b3261e}
@media (prefers-color-scheme:dark){:root{--bg:#12151a;--card:#1b2028;--fg:#e4e8ee;
--muted:#9aa4b2;--line:#2c3440;--grid:#242a33;--pos:#4cc38a;--neg:#5d6878;--accent:#6ea2ff;
--cut:#ff8a80}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:64rem;margin:0 auto;padding:2rem 1rem 4rem}
h1{font-size:1.7rem;line-height:1.25;margin:0 0 .4rem}
h2{font-size:1.1rem;margin:0 0 .6rem}
.lede{color:var(--muted);margin:0 0 1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.2rem}
.headline{margin:0 0 1rem;font-size:1.1rem}
.keys{display:grid;grid-template-columns:repeat(auto-fit,minmax(11rem,1fr));gap:.8rem;
margin:0 0 1rem}
.key{margin:0}.key dt{color:var(--muted);font-size:.85rem}
.key dd{margin:0;font-size:1.6rem;font-weight:600;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem;
margin:0 0 1rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
.metrics th{font-weight:500;color:var(--muted);white-space:nowrap}
.confusion td,.confusion thead th{text-align:right}.confusion thead th{white-space:nowrap}
.confusion td b{font-size:1.3rem}.confusion small{color:var(--muted);margin-left:.3rem}
.confusion .good{background:color-mix(in srgb,var(--pos) 14%,transparent)}
.note{color:var(--muted);font-size:.9rem;margin:.6rem 0 0}
figure{margin:0}figcaption{color:var(--muted);font-size:.85rem;margin-top:.4rem}
svg{display:block;width:100%;height:auto;font-size:11px;fill:var(--muted)}
svg .axis{stroke:var(--muted);stroke-width:1}svg .gridline{stroke:var(--grid);stroke-width:1}
svg .pos{fill:var(--pos)}svg .neg{fill:var(--neg)}
svg .curve{fill:none;stroke:var(--accent);stroke-width:2}svg .dot{fill:var(--accent)}
svg .cut{stroke:var(--cut);stroke-width:1.5}svg .cut95{stroke:var(--fg);stroke-width:1.2;
stroke-dasharray:4 3}svg .cut-label{fill:var(--cut)}svg .cut95-label{fill:var(--fg)}
svg .label{fill:var(--fg)}svg .count{font-size:10px}
svg .count,svg .cut-label,svg .cut95-label{paint-order:stroke;stroke:var(--card);stroke-width:3px}
.stack{display:grid;gap:1rem;align-content:start}
.glossary{margin:0;font-size:.9rem}.glossary dt{font-weight:600}
.glossary dd{margin:0 0 .5rem;color:var(--muted)}
@media print{.card{break-inside:avoid}}
"""

_CSP = content_security_policy(style=_CSS)

# Chart drawing units: each SVG's viewBox and the plot area inside it. Above the
# plot: a legend row, then one row per vertical marker, so labels never sit on bars.
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 440, 286, 48, 430, 58, 240
_GLOSSARY = (
    (
        "ROC AUC",
        "the chance that a random relevant paper scores higher than a random "
        "irrelevant one: 0.5 is a coin flip, 1.0 a perfect ranking.",
    ),
    (
        "Average precision",
        "precision averaged over the ranks of the relevant papers; "
        "a random ranking gets the share of relevant papers.",
    ),
    (
        f"Threshold for {TARGET_RECALL_PERCENT}% recall",
        "the highest score threshold that "
        f"still finds {TARGET_RECALL_PERCENT}% of the relevant papers; screened is the share "
        "of all papers scoring at or above it, what a human would still read.",
    ),
)


def render_eval_html(report: EvalReport, *, title: str) -> str:
    """Render ``report`` as one HTML page with no external resources.

    >>> from scorer.eval._metrics import LabelledScore, evaluate
    >>> page = render_eval_html(evaluate([LabelledScore(80, 1)], threshold=50), title="<x>")
    >>> "&lt;x&gt;" in page and page.count("<svg") == 2
    True
    """
    name = _text(title)
    named = {"rubric": report.rubric, "model": report.model, "method": report.method}
    about = " · ".join(_text(f"{k} {v}") for k, v in named.items() if v)
    rows = "".join(
        f'<tr><th scope="row">{_text(k)}</th><td>{_text(v)}</td></tr>'
        for k, v in metric_rows(report)
    )
    glossary = "".join(f"<dt>{_text(k)}</dt><dd>{_text(v)}</dd>" for k, v in _GLOSSARY)
    parts = [
        *page_head(name, style=_CSS, policy=_CSP),
        f"<body><main><header><h1>{name}</h1>",
        '<p class="lede">LLM scores compared with human screening labels'
        f"{': ' + about if about else ''}.</p></header>",
        f'<p class="card headline">{_text(recall_sentence(report))}</p>',
        _key_figures(report),
        '<div class="grid"><section class="card"><h2>Metrics</h2>',
        f'<table class="metrics">{rows}</table></section><div class="stack">',
        _confusion(report),
        f'<section class="card"><h2>How to read this</h2><dl class="glossary">{glossary}</dl>',
        "</section></div></div>",
        '<div class="grid"><section class="card"><h2>Score distributions</h2>',
        f'{_distributions(report)}</section><section class="card"><h2>Calibration</h2>',
        f"{_calibration(report)}</section></div></main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _key_figures(report: EvalReport) -> str:
    def fig(x: float | None, percent: bool = False) -> str:
        return "n/a" if x is None else f"{x:.1%}" if percent else f"{x:.3f}"

    keys = [
        ("ROC AUC", fig(report.auc)),
        ("average precision", fig(report.average_precision)),
        (f"recall at score >= {format_score(report.threshold)}", fig(report.recall, True)),
        (f"read for {TARGET_RECALL_PERCENT}% recall", fig(report.screened_at_95_recall, True)),
    ]
    items = "".join(f'<div class="key"><dt>{_text(k)}</dt><dd>{v}</dd></div>' for k, v in keys)
    return f'<dl class="card keys">{items}</dl>'


def _confusion(report: EvalReport) -> str:
    cut = _text(format_score(report.threshold))
    missed = report.missed_at_threshold

    def cell(n: int, code: str, good: bool) -> str:
        return f"<td{' class=good' if good else ''}><b>{n:,}</b><small>{code}</small></td>"

    return (
        '<section class="card"><h2>Confusion table</h2><table class="confusion">'
        f'<thead><tr><th></th><th scope="col">score &gt;= {cut}</th>'
        f'<th scope="col">score &lt; {cut}</th></tr></thead><tbody>'
        f'<tr><th scope="row">relevant</th>{cell(report.tp, "TP", True)}'
        f"{cell(report.fn, 'FN', False)}</tr>"
        f'<tr><th scope="row">not relevant</th>{cell(report.fp, "FP", False)}'
        f"{cell(report.tn, 'TN', True)}</tr></tbody></table>"
        '<p class="note">Rows: the human label. Columns: the model score against the '
        f"threshold {cut}. {missed:,} relevant {'paper scores' if missed == 1 else 'papers score'}"
        " below it.</p></section>"
    )


def _x(score: float) -> float:
    return _LEFT + (_RIGHT - _LEFT) * min(max(score, 0.0), 100.0) / 100


def _y(value: float, low: float, high: float) -> float:
    return _BOTTOM - (_BOTTOM - _TOP) * (value - low) / (high - low)


def _axes(ticks: list[tuple[float, str]], low: float, high: float, y_label: str) -> str:
    """Both axes, horizontal grid lines, tick labels, and the axis titles."""
    parts = [
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_BOTTOM}"/>',
        f'<line class="axis" x1="{_LEFT}" x2="{_RIGHT}" y1="{_BOTTOM}" y2="{_BOTTOM}"/>',
    ]
    for value, text in ticks:
        y = _y(value, low, high)
        parts.append(
            f'<line class="gridline" x1="{_LEFT + 1}" x2="{_RIGHT}" y1="{y:g}" y2="{y:g}"/>'
            f'<text x="{_LEFT - 5}" y="{y + 4:g}" text-anchor="end">{text}</text>'
        )
    parts += [
        f'<text x="{_x(v):g}" y="{_BOTTOM + 14}" text-anchor="middle">{v}</text>'
        for v in range(0, 101, 10)
    ]
    mid = (_TOP + _BOTTOM) / 2
    parts.append(
        f'<text class="label" x="{(_LEFT + _RIGHT) / 2:g}" y="{_H - 6}" text-anchor="middle">'
        f'model score</text><text class="label" x="12" y="{mid:g}" text-anchor="middle" '
        f'transform="rotate(-90 12 {mid:g})">{y_label}</text>'
    )
    return "".join(parts)


def _markers(report: EvalReport) -> str:
    """The threshold (solid) and the 95%-recall threshold (dashed) as vertical lines."""
    lines = [("cut", report.threshold, f"threshold {format_score(report.threshold)}")]
    if report.threshold_for_95_recall is not None:
        cut95 = report.threshold_for_95_recall
        label = f"{TARGET_RECALL_PERCENT}% recall {format_score(cut95)}"
        lines.append(("cut95", cut95, label))
    parts = []
    for row, (cls, score, label) in enumerate(lines):
        x, y = _x(score), 32 + 14 * row
        anchor, dx = ("start", 4) if x < _RIGHT - 100 else ("end", -4)
        parts.append(
            f'<line class="{cls}" x1="{x:g}" x2="{x:g}" y1="{y - 10}" y2="{_BOTTOM}"/>'
            f'<text class="{cls}-label" x="{x + dx:g}" y="{y}" text-anchor="{anchor}">'
            f"{_text(label)}</text>"
        )
    return "".join(parts)


def _legend(items: list[tuple[str, str]]) -> str:
    """A row of swatches with labels; an item without a class is a plain note."""
    parts, x = [], _LEFT
    for cls, label in items:
        if cls:
            parts.append(f'<rect class="{cls}" x="{x}" y="6" width="10" height="10" rx="2"/>')
            x += 14
        parts.append(f'<text x="{x}" y="15">{_text(label)}</text>')
        x += 24 + 6 * len(label)
    return "".join(parts)


def _svg(chart_id: str, title: str, desc: str, body: str) -> str:
    return (
        f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{_text(title)}</title>'
        f'<desc id="{chart_id}-d">{_text(desc)}</desc>{body}</svg>'
    )


def _distributions(report: EvalReport) -> str:
    pos, neg = report.histogram_positive, report.histogram_negative
    # Shares of each class, not counts: relevant papers are often a few percent of all.
    shares = [[n / max(sum(h), 1) for n in h] for h in (pos, neg)]
    step = 0.1 if max(*shares[0], *shares[1]) <= 0.5 else 0.2
    high = step * max(1, math.ceil(round(max(*shares[0], *shares[1]) / step, 6)))
    ticks = [(i * step, f"{i * step:.0%}") for i in range(round(high / step) + 1)]
    slot = (_RIGHT - _LEFT) / BUCKETS
    bars = []
    for i, (low_edge, high_edge) in enumerate(map(bucket_edges, range(BUCKETS))):
        for j, (cls, counts, who) in enumerate((("pos", pos, "relevant"), ("neg", neg, "not"))):
            x, y = _LEFT + i * slot + 3 + j * (slot - 6) / 2, _y(shares[j][i], 0, high)
            bars.append(
                f'<rect class="{cls}" x="{x:g}" y="{y:g}" width="{(slot - 6) / 2:g}" '
                f'height="{_BOTTOM - y:g}"><title>{who} relevant, score {low_edge}-{high_edge}: '
                f"{counts[i]:,} papers ({shares[j][i]:.0%})</title></rect>"
            )
    legend = _legend(
        [
            ("pos", f"relevant ({report.positives:,})"),
            ("neg", f"not relevant ({report.n - report.positives:,})"),
        ]
    )
    desc = "; ".join(
        f"{a}-{b}: {p:,} relevant, {n:,} not"
        for (a, b), p, n in zip(map(bucket_edges, range(BUCKETS)), pos, neg, strict=True)
    )
    svg = _svg(
        "dist",
        "Model scores of relevant and not relevant papers",
        f"Papers per score range: {desc}. Threshold {format_score(report.threshold)}.",
        _axes(ticks, 0, high, "share of the group") + "".join(bars) + _markers(report) + legend,
    )
    return (
        f"<figure>{svg}<figcaption>Each colour adds up to 100%: where the relevant papers "
        "(green) and the others (grey) fall on the score scale. Hover a bar for its count."
        "</figcaption></figure>"
    )


def _calibration(report: EvalReport) -> str:
    low, high = report.label_range if report.graded else (0.0, 1.0)
    high = high if high > low else low + 1
    values = [low + (high - low) * i / 4 for i in range(5)]
    ticks = [(v, f"{v:.3g}" if report.graded else f"{v:.0%}") for v in values]
    points = [
        (_x((b.low + b.high) / 2), _y(b.mean_label, low, high), b)
        for b in report.calibration
        if b.mean_label is not None
    ]
    what = "mean human label" if report.graded else "share relevant (human label)"
    short = "mean label" if report.graded else "share relevant"
    marks = []
    for x, y, b in points:
        above = y > _TOP + 16  # else the count goes below the point
        marks.append(
            f'<circle class="dot" cx="{x:g}" cy="{y:g}" r="4"><title>score {b.low}-{b.high}: '
            f"{what} {b.mean_label:.2f} over {b.count:,} papers</title></circle>"
            f'<text class="count" x="{x:g}" y="{y - 8 if above else y + 15:g}" '
            f'text-anchor="middle">{b.count:,}</text>'
        )
    line = " ".join(f"{x:g},{y:g}" for x, y, _ in points)
    body = (
        _axes(ticks, low, high, what)
        + _markers(report)
        + _legend([("dot", f"{short} per score range"), ("", "numbers: papers in the range")])
        + (f'<polyline class="curve" points="{line}"/>' if len(points) > 1 else "")
        + "".join(marks)
    )
    if not points:
        body += f'<text x="{_x(50):g}" y="{(_TOP + _BOTTOM) / 2:g}" text-anchor="middle">'
        body += "no papers</text>"
    desc = "; ".join(f"{b.low}-{b.high}: {b.mean_label:.2f} (n={b.count})" for *_, b in points)
    svg = _svg("cal", f"{what} per model score range", desc or "no papers", body)
    return (
        f"<figure>{svg}<figcaption>The {what} for each score range (0-9, 10-19, ..., 90-100) "
        "that has papers. It should rise from left to right; a flat or falling stretch "
        "means the scores there do not separate relevant from irrelevant papers."
        "</figcaption></figure>"
    )


def _text(text: str) -> str:
    return escape(text, quote=True)
