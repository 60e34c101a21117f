"""What a panel did on a labelled set: the reviewers' agreement, or the cascade's trade.

- Two reviewers: Cohen's kappa about the threshold and the papers they
  disagree on (``needs_human``), the least certain first.
- A cascade: its recall at the threshold, ROC-AUC and USD next to the strong
  model's alone on the same papers. The strong model is asked about every
  paper for this (the papers the cascade escalated come from the cache), and
  both prices are list prices: what every answer cost when it was paid for,
  so a second eval from the cache compares the same numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from scorer._errors import BackendError, FatalBackendError
from scorer._models import Score, ScoredPaper, Usage
from scorer._rubric import Rubric
from scorer.engine._panel import Panel
from scorer.eval._agreement import Agreement
from scorer.eval._metrics import LabelledScore, evaluate
from scorer.eval._prices import estimate_cost

__all__ = [
    "CascadeComparison",
    "CascadeSide",
    "ReviewerAgreement",
    "compare_cascade",
    "panel_cost",
    "reviewer_agreement",
]

Prices = Mapping[str, tuple[float, float]] | None
MAX_LISTED = 10  # disputed papers named in the report


class ReviewerAgreement(BaseModel):
    """How two reviewers agree about the threshold on the labelled papers both scored."""

    model_config = ConfigDict(frozen=True)

    models: tuple[str, ...]
    threshold: float
    papers: int
    kappa: float | None
    needs_human: int
    disputed: list[str]  # titles of the papers they disagree on, least certain first


class CascadeSide(BaseModel):
    """One way of scoring the labelled papers, as the comparison shows it."""

    model_config = ConfigDict(frozen=True)

    recall: float | None
    auc: float | None
    usd: float | None


class CascadeComparison(BaseModel):
    """The cascade against its strong model alone, at the same threshold."""

    model_config = ConfigDict(frozen=True)

    models: tuple[str, ...]
    margin: int
    threshold: float
    papers: int
    escalated: int
    cascade: CascadeSide
    strong_alone: CascadeSide


def reviewer_agreement(
    panel: Panel, results: Iterable[ScoredPaper], threshold: float
) -> ReviewerAgreement:
    """Kappa and disputed papers over ``results`` (one per labelled paper)."""
    table = Agreement()
    disputed: list[ScoredPaper] = []
    for result in results:
        if result.error is None and len(result.reviews) == 2:
            table.add(result.reviews[0].passed, result.reviews[1].passed)
            if result.needs_human:
                disputed.append(result)
    disputed.sort(key=lambda r: (r.certainty is None, r.certainty or 0.0))
    return ReviewerAgreement(
        models=panel.spec.models,
        threshold=threshold,
        papers=table.papers,
        kappa=table.kappa,
        needs_human=len(disputed),
        disputed=[r.paper.title for r in disputed[:MAX_LISTED]],
    )


def panel_cost(results: Iterable[ScoredPaper], prices: Prices, *, list_price: bool) -> float | None:
    """USD of the reviews in ``results`` at each one's model's price; None if one is unknown.

    ``list_price``: what every answer cost when it was paid for; else only
    what was paid now (answers from the cache are free).
    """
    total = 0.0
    for result in results:
        for review in result.reviews:
            if review.cached and not list_price:
                continue
            cost = _usd(review.model, review.usage, prices)
            if cost is None:
                return None
            total += cost
    return total


async def compare_cascade(
    panel: Panel,
    rubric: Rubric,
    answers: Mapping[int, ScoredPaper],
    labels: Sequence[float],
    dropped: Iterable[int],
    *,
    concurrency: int,
    prices: Prices,
) -> CascadeComparison:
    """The cascade's ``answers`` (labelled position -> result) against its strong model alone.

    ``dropped`` are positions a prefilter kept from the model: they count as
    scored 0 on both sides, as in the main report.
    """
    strong = panel.stages[-1]
    unique = {id(result): result for result in answers.values()}
    gate = asyncio.Semaphore(concurrency)

    async def ask(result: ScoredPaper) -> tuple[int, Score | None]:
        async with gate:
            try:
                score, _ = await strong.aanswer(result.paper, rubric)
            except FatalBackendError:
                raise
            except BackendError:
                return id(result), None
            return id(result), score

    asked = dict(await asyncio.gather(*(ask(r) for r in unique.values())))
    primary = rubric.primary.name
    left_out = set(dropped)
    cascade_scores = {i: r.scores[primary] for i, r in answers.items() if r.error is None}
    strong_scores: dict[int, int] = {}
    for i, result in answers.items():
        answer = asked.get(id(result))
        if answer is not None:
            strong_scores[i] = answer.scores[primary]
    # Compared on the same papers: those both sides scored, and those a prefilter dropped.
    both = (set(cascade_scores) & set(strong_scores)) | left_out
    strong_usd: float | None = 0.0
    for answer in asked.values():
        cost = None if answer is None else _usd(answer.model, answer.usage, prices)
        strong_usd = None if strong_usd is None or cost is None else strong_usd + cost
    cascade_usd = panel_cost(unique.values(), prices, list_price=True)
    return CascadeComparison(
        models=panel.spec.models,
        margin=panel.spec.margin,
        threshold=rubric.threshold,
        papers=len(both),
        escalated=sum(len(r.reviews) > 1 for r in unique.values()),
        cascade=_side(cascade_scores, labels, both, rubric.threshold, cascade_usd),
        strong_alone=_side(strong_scores, labels, both, rubric.threshold, strong_usd),
    )


def _side(
    scores: Mapping[int, int],
    labels: Sequence[float],
    positions: set[int],
    threshold: float,
    usd: float | None,
) -> CascadeSide:
    points = [LabelledScore(scores.get(i, 0), labels[i]) for i in sorted(positions)]
    report = evaluate(points, threshold=threshold)
    return CascadeSide(recall=report.recall_at_threshold, auc=report.auc, usd=usd)


def _usd(model: str, usage: Usage, prices: Prices) -> float | None:
    return estimate_cost(model, usage.prompt_tokens, usage.completion_tokens, prices)
