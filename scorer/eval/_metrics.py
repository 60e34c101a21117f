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
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from scorer._errors import InputError

__all__ = [
    "TARGET_RECALL_PERCENT",
    "CalibrationBin",
    "EvalReport",
    "LabelledScore",
    "bucket_edges",
    "evaluate",
    "parse_label",
    "ratio",
]

BUCKETS = 10  # score buckets 0-9, 10-19, ..., 90-100
TARGET_RECALL_PERCENT = 95

_YES = frozenset({"yes", "y", "true", "include", "included"})
_NO = frozenset({"no", "n", "false", "exclude", "excluded"})
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


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
    tokens_cached_prompt: int = 0  # the part of tokens_prompt the provider's prompt cache served
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
    # scikit-learn takes seconds to import; reading labelled input (parse_label) does not need it.
    from sklearn.metrics import average_precision_score, roc_auc_score

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
    recall = ratio(tp, positives)
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
        precision=ratio(tp, tp + fp),
        recall=recall,
        # 2tp / (2tp + fp + fn): 0 when nothing relevant is found, None with nothing to find
        f1=ratio(2 * tp, 2 * tp + fp + fn),
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


def ratio(part: int, whole: int) -> float | None:
    """``part / whole``, or None when ``whole`` is 0 (a metric with nothing to measure)."""
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
    from scipy.stats import spearmanr  # seconds to import; see evaluate

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
