"""An ``EvalReport`` for people: metric rows, the terminal table, the 95%-recall sentence.

Shared by ``scorer eval``'s text output and the HTML report.
"""

from __future__ import annotations

import math

from scorer.eval._metrics import TARGET_RECALL_PERCENT, EvalReport, ratio

__all__ = ["format_score", "format_table", "metric_rows", "recall_sentence"]


def metric_rows(report: EvalReport) -> list[tuple[str, str]]:
    """The report as (metric, value) rows, formatted for people; shared by text and HTML."""
    cut = format_score(report.threshold)
    predicted = report.tp + report.fp
    named = {"rubric": report.rubric, "model": report.model, "method": report.method}
    rows = [(name, value) for name, value in named.items() if value]
    share = _pct(ratio(report.positives, report.n))
    rows += [
        ("papers scored", f"{report.n:,}"),
        (
            "relevant (label > 0)" if report.graded else "relevant (human label)",
            f"{report.positives:,} ({share})",
        ),
    ]
    if report.failed:
        rows.append(("could not be scored", f"{report.failed:,} (left out of every metric)"))
    rows += [
        ("ROC AUC", _num3(report.auc, "needs relevant and irrelevant papers")),
        (
            "average precision",
            _num3(report.average_precision, "needs relevant and irrelevant papers"),
        ),
    ]
    if report.graded:
        rows.append(("Spearman (graded)", _num3(report.spearman, "every score is the same")))
    rows += [
        ("threshold", f"score >= {cut}"),
        (
            "precision",
            f"{_pct(report.precision)} ({report.tp:,} of {predicted:,} at or above {cut})"
            if report.precision is not None
            else f"n/a (no paper scores >= {cut})",
        ),
        (
            "recall",
            f"{_pct(report.recall)} ({report.tp:,} of {report.positives:,} relevant)"
            if report.recall is not None
            else "n/a (no relevant papers)",
        ),
        ("F1", _num3(report.f1, "no relevant papers, none predicted")),
        (
            "missed at threshold",
            f"{report.missed_at_threshold:,} relevant {_papers(report.missed_at_threshold)} "
            f"scored below {cut}",
        ),
    ]
    if report.threshold_for_95_recall is not None:
        rows += [
            (
                f"threshold for {TARGET_RECALL_PERCENT}% recall",
                format_score(report.threshold_for_95_recall),
            ),
            (f"screened at {TARGET_RECALL_PERCENT}% recall", _pct(report.screened_at_95_recall)),
        ]
    if report.tokens_prompt or report.tokens_completion:
        rows.append(
            ("tokens", f"{report.tokens_prompt:,} prompt + {report.tokens_completion:,} completion")
        )
        if report.tokens_cached_prompt:
            rows.append(("cached prompt tokens", f"{report.tokens_cached_prompt:,}"))
        rows.append(
            ("cost", "unknown price" if report.cost_usd is None else f"${report.cost_usd:,.4f}")
        )
    return rows


def recall_sentence(report: EvalReport) -> str:
    """What the 95%-recall threshold means for a screener, in words."""
    cut, screened = report.threshold_for_95_recall, report.screened_at_95_recall
    if cut is None or screened is None:
        return "No relevant papers, so no threshold for 95% recall."
    read = round(screened * report.n)
    return (
        f"Score >= {format_score(cut)} finds at least {TARGET_RECALL_PERCENT}% of the relevant "
        f"papers; a human still reads {_pct(screened)} of all papers ({read:,} of {report.n:,})."
    )


def format_table(report: EvalReport) -> str:
    """The report as aligned plain text for a terminal: metrics, confusion table, and
    what the 95%-recall threshold means."""
    rows = metric_rows(report)
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    cut = format_score(report.threshold)
    grid = [
        ("", f"score >= {cut}", f"score < {cut}"),
        ("relevant", f"{report.tp:,} TP", f"{report.fn:,} FN"),
        ("not relevant", f"{report.fp:,} FP", f"{report.tn:,} TN"),
    ]
    col = [max(len(row[i]) for row in grid) for i in range(3)]
    lines.append("")
    lines += [f"{a:<{col[0]}}  {b:>{col[1]}}  {c:>{col[2]}}".rstrip() for a, b, c in grid]
    lines += ["", recall_sentence(report)]
    return "\n".join(lines) + "\n"


def format_score(score: float) -> str:
    """A score threshold for people: at most one decimal, rounded down so that
    ``score >= format_score(t)`` still selects every paper ``score >= t`` does.

    >>> format_score(35.0), format_score(6.2379)
    ('35', '6.2')
    """
    return f"{math.floor(round(score * 10, 6)) / 10:g}"  # 2.3 * 10 is 22.999...


def _num3(x: float | None, why: str) -> str:
    return f"n/a ({why})" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _papers(n: int) -> str:
    return "paper" if n == 1 else "papers"
