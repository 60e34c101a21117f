"""How well LLM scores (0-100) agree with human screening labels.

``evaluate`` turns (score, label) pairs into an ``EvalReport``: ranking quality
(ROC AUC, average precision, Spearman for graded labels), the confusion table at
a score threshold, the threshold that still finds 95% of the relevant papers, and
per-bucket calibration and score histograms. A label above 0 counts as relevant.

>>> report = evaluate([LabelledScore(90, 1), LabelledScore(20, 0)], threshold=50)
>>> report.auc, report.tp, report.tn
(1.0, 1, 1)
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

from scorer.errors import InputError

__all__ = [
    "PRICES",
    "TARGET_RECALL_PERCENT",
    "CalibrationBin",
    "EvalReport",
    "LabelledScore",
    "bucket_edges",
    "estimate_cost",
    "evaluate",
    "format_score",
    "format_table",
    "metric_rows",
    "parse_label",
    "parse_price",
    "recall_sentence",
]

BUCKETS = 10  # score buckets 0-9, 10-19, ..., 90-100
TARGET_RECALL_PERCENT = 95

PRICES: dict[str, tuple[float, float]] = {
    # USD per million (input, output) tokens.
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    # The embedded offline model runs on this machine.
    "smollm2-135m-instruct": (0.0, 0.0),
    "smollm2-135m-instruct-q4_1": (0.0, 0.0),
}

_YES = {"yes", "y", "true", "include", "included"}
_NO = {"no", "n", "false", "exclude", "excluded"}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18


@dataclass(frozen=True)
class LabelledScore:
    """One paper's model score next to its human label."""

    score: float  # 0-100
    label: float  # 1.0 positive / 0.0 negative, or a graded value


class CalibrationBin(BaseModel):
    """The papers whose score falls in ``low``-``high`` and their mean human label."""

    model_config = ConfigDict(frozen=True)

    low: int
    high: int
    count: int
    mean_label: float | None  # None when the bucket is empty


class EvalReport(BaseModel):
    """Agreement of model scores with human labels; see ``evaluate``.

    Fractions (precision, recall, screened) are 0-1. Fields from ``tokens_prompt``
    on are not computed by ``evaluate``: the caller fills them with ``model_copy``.
    """

    model_config = ConfigDict(frozen=True)

    n: int
    positives: int
    threshold: float
    graded: bool = False  # more than two distinct label values
    label_range: tuple[float, float] = (0.0, 1.0)  # lowest and highest label seen
    auc: float | None
    average_precision: float | None
    spearman: float | None
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    f1: float | None
    recall_at_threshold: float | None
    threshold_for_95_recall: float | None
    screened_at_95_recall: float | None
    missed_at_threshold: int
    calibration: list[CalibrationBin]
    histogram_positive: list[int]
    histogram_negative: list[int]
    tokens_prompt: int = 0
    tokens_completion: int = 0
    cost_usd: float | None = None
    method: str = ""
    model: str = ""
    rubric: str = ""
    failed: int = 0  # papers that could not be scored (not in any metric)


def evaluate(points: Sequence[LabelledScore], *, threshold: float) -> EvalReport:
    """Score-versus-label metrics; a paper with ``score >= threshold`` is predicted relevant.

    Metrics that are undefined for the input (AUC with one class only, precision
    with nothing predicted relevant) are None; an empty input gives zeros and Nones.
    """
    scores = [float(p.score) for p in points]
    labels = [float(p.label) for p in points]
    if not all(map(math.isfinite, scores + labels)):
        raise InputError("scores and labels must be finite numbers (found NaN or infinity)")
    relevant = [label > 0 for label in labels]
    n, positives = len(points), sum(relevant)
    both_classes, graded = 0 < positives < n, len(set(labels)) > 2
    tp = sum(s >= threshold and r for s, r in zip(scores, relevant, strict=True))
    fp = sum(s >= threshold for s in scores) - tp
    fn = positives - tp
    recall = _ratio(tp, positives)
    cut = _threshold_for_recall([s for s, r in zip(scores, relevant, strict=True) if r])
    in_bucket: list[list[float]] = [[] for _ in range(BUCKETS)]
    histograms = {True: [0] * BUCKETS, False: [0] * BUCKETS}
    for score, label, r in zip(scores, labels, relevant, strict=True):
        in_bucket[_bucket(score)].append(label)
        histograms[r][_bucket(score)] += 1
    return EvalReport(
        n=n,
        positives=positives,
        threshold=threshold,
        graded=graded,
        label_range=(min(labels), max(labels)) if labels else (0.0, 1.0),
        auc=float(roc_auc_score(relevant, scores)) if both_classes else None,
        average_precision=(
            float(average_precision_score(relevant, scores)) if both_classes else None
        ),
        spearman=_spearman(scores, labels) if graded else None,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=n - tp - fp - fn,
        precision=_ratio(tp, tp + fp),
        recall=recall,
        # 2tp / (2tp + fp + fn): 0 when nothing relevant is found, None with nothing to find
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        recall_at_threshold=recall,
        threshold_for_95_recall=cut,
        screened_at_95_recall=None if cut is None else sum(s >= cut for s in scores) / n,
        missed_at_threshold=fn,
        calibration=[_calibration_bin(i, labels) for i, labels in enumerate(in_bucket)],
        histogram_positive=histograms[True],
        histogram_negative=histograms[False],
    )


def bucket_edges(index: int) -> tuple[int, int]:
    """The scores bucket ``index`` holds, inclusive: 0-9, 10-19, ..., 90-100."""
    low = index * 100 // BUCKETS
    return low, 100 if index == BUCKETS - 1 else low + 100 // BUCKETS - 1


def _bucket(score: float) -> int:
    return min(max(int(score * BUCKETS // 100), 0), BUCKETS - 1)


def _calibration_bin(index: int, labels: list[float]) -> CalibrationBin:
    low, high = bucket_edges(index)
    mean = sum(labels) / len(labels) if labels else None
    return CalibrationBin(low=low, high=high, count=len(labels), mean_label=mean)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _threshold_for_recall(positive_scores: list[float]) -> float | None:
    """The highest t with at least 95% of ``positive_scores`` >= t."""
    if not positive_scores:
        return None
    needed = -(-TARGET_RECALL_PERCENT * len(positive_scores) // 100)  # integer ceiling
    return sorted(positive_scores, reverse=True)[needed - 1]


def _spearman(scores: list[float], labels: list[float]) -> float | None:
    if len(set(scores)) < 2:
        return None  # undefined; spearmanr would warn and return NaN
    return float(spearmanr(scores, labels).statistic)


def parse_label(value: str, positive: Collection[str]) -> float | None:
    """A human label as a number: 1.0 relevant, 0.0 not, or a graded value.

    With ``positive`` values (case-insensitive), a label is 1.0 if it is one of
    them and 0.0 otherwise. Without, yes/no, true/false, y/n, include(d)/exclude(d)
    and plain numbers are understood. A blank label is None: the paper is unlabelled.

    >>> parse_label(" Included ", ()), parse_label("2", ()), parse_label("", ())
    (1.0, 2.0, None)
    >>> parse_label("I", {"i"}), parse_label("E", {"i"})
    (1.0, 0.0)
    """
    text = value.strip().casefold()
    if not text:
        return None
    if positive:
        return 1.0 if text in {p.strip().casefold() for p in positive} else 0.0
    if text in _YES:
        return 1.0
    if text in _NO:
        return 0.0
    if _NUMBER.fullmatch(text):
        return float(text)
    shown = repr(value.strip())
    raise InputError(
        f"cannot read the label {shown}: expected yes/no, true/false, include/exclude or a "
        "number. If your file uses other labels, name the ones that mean relevant with "
        f"--positive (e.g. --positive {shown} if {shown} means relevant); every other "
        "label then counts as not relevant."
    )


def estimate_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: Mapping[str, tuple[float, float]] | None = None,
) -> float | None:
    """USD for the tokens at ``prices`` (default ``PRICES``); None for an unknown model.

    Dated snapshots cost what their model does.

    >>> estimate_cost("gpt-4o-mini-2024-07-18", 2_000_000, 500_000)
    0.6
    """
    table = {
        name.casefold(): price for name, price in (PRICES if prices is None else prices).items()
    }
    name = model.strip().casefold()
    price = table.get(name) or table.get(_SNAPSHOT.sub("", name))
    if price is None:
        return None
    per_input, per_output = price
    return (prompt_tokens * per_input + completion_tokens * per_output) / 1e6


def parse_price(text: str) -> tuple[float, float]:
    """``"0.15,0.60"`` (USD per million input, output tokens) as ``(0.15, 0.6)``."""
    parts = text.split(",")
    try:
        numbers = tuple(float(part) for part in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 2 or not all(math.isfinite(x) and x >= 0 for x in numbers):
        raise InputError(
            f"cannot read the price {text!r}: give USD per million input and output "
            "tokens separated by a comma, e.g. 0.15,0.60"
        )
    return numbers[0], numbers[1]


def metric_rows(report: EvalReport) -> list[tuple[str, str]]:
    """The report as (metric, value) rows, formatted for people; shared by text and HTML."""
    cut = format_score(report.threshold)
    predicted = report.tp + report.fp
    named = {"rubric": report.rubric, "model": report.model, "method": report.method}
    rows = [(name, value) for name, value in named.items() if value]
    share = _pct(_ratio(report.positives, report.n))
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
