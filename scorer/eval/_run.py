"""Score labelled papers through the engine and measure agreement with the labels.

The scoring goes through :func:`scorer.engine._pipeline.score_stream` (the same dedup,
cache and concurrency as a batch; a duplicate shares its paper's score); the
metrics come from :mod:`scorer.eval._metrics`. A
TF-IDF similarity baseline (:mod:`scorer.eval._baseline`) is evaluated on the same
papers, so every number has something to beat; with ``prefilter`` only the
papers the baseline ranks in its top fraction reach the model, and the rest
count as scored 0 (their missed positives show in the recall). With a panel
(``--reviewers``, ``--cascade``) the run also reports what it did
(:mod:`scorer.eval._panels`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from scorer._models import Paper, ScoredPaper, Usage
from scorer._rubric import Rubric
from scorer.engine._pipeline import Scored, score_stream
from scorer.engine._scorer import Scorer
from scorer.eval._baseline import similarity_scores, top_positions
from scorer.eval._metrics import EvalReport, LabelledScore, evaluate
from scorer.eval._panels import (
    CascadeComparison,
    ReviewerAgreement,
    compare_cascade,
    panel_cost,
    reviewer_agreement,
)
from scorer.eval._prices import price_usage

__all__ = ["EvalRun", "LabelledPaper", "run_eval"]


@dataclass(frozen=True)
class LabelledPaper:
    paper: Paper
    label: float


@dataclass(frozen=True)
class EvalRun:
    """The model's report, the baseline's, and what the run did."""

    report: EvalReport
    baseline: EvalReport
    cached: int
    sent_to_model: int
    prefiltered_out: int
    positives_prefiltered_out: int
    wall_s: float
    reviewers: ReviewerAgreement | None = None
    cascade: CascadeComparison | None = None

    def to_json(self) -> dict[str, object]:
        panel: dict[str, object] = {}
        if self.reviewers is not None:
            panel["reviewers"] = self.reviewers.model_dump(mode="json")
        if self.cascade is not None:
            panel["cascade"] = self.cascade.model_dump(mode="json")
        return {
            **panel,
            "model": self.report.model_dump(mode="json"),
            "baseline": self.baseline.model_dump(mode="json"),
            "cached": self.cached,
            "sent_to_model": self.sent_to_model,
            "prefiltered_out": self.prefiltered_out,
            "positives_prefiltered_out": self.positives_prefiltered_out,
            "wall_s": round(self.wall_s, 2),
        }


async def run_eval(
    items: Sequence[LabelledPaper],
    rubric: Rubric,
    scorer: Scorer,
    *,
    threshold: float | None = None,
    concurrency: int = 8,
    prefilter: float | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
) -> EvalRun:
    """Score ``items`` and evaluate the scores (and the baseline's) against their labels."""
    started = time.perf_counter()
    cut = rubric.threshold if threshold is None else threshold
    if cut != rubric.threshold:  # a panel's disagreements and escalations are about the cut
        rubric = rubric.model_copy(update={"threshold": cut})
    papers = [item.paper for item in items]
    similarity = similarity_scores(papers, rubric) if papers else []
    baseline = evaluate(
        [LabelledScore(s, item.label) for s, item in zip(similarity, items, strict=True)],
        threshold=_baseline_threshold(similarity, [i.label for i in items]),
    )
    baseline = baseline.model_copy(update={"method": "tf-idf baseline", "rubric": rubric.name})

    send: list[int] = list(range(len(items)))
    if prefilter is not None and papers:
        send = top_positions(papers, rubric, prefilter)
    # Joined by position in ``send``: a duplicate shares its paper's result.
    answers: dict[int, ScoredPaper] = {}
    usage = Usage()
    async for outcome in score_stream(
        (papers[i] for i in send), rubric, scorer, concurrency=concurrency, every_position=True
    ):
        if isinstance(outcome, Scored):
            usage = usage + outcome.result.usage
            answers.update((send[position], outcome.result) for position in outcome.positions)
        elif outcome.duplicate_of is not None:
            answers[send[outcome.position]] = answers[send[outcome.duplicate_of]]
    # Counted per labelled item, as the report's points are.
    scores = {i: r.scores[rubric.primary.name] for i, r in answers.items() if r.error is None}
    cached = sum(r.cached for r in answers.values() if r.error is None)
    failed = len(answers) - len(scores)
    dropped = set(range(len(items))) - set(send)
    points = [
        LabelledScore(scores.get(i, 0.0), item.label)
        for i, item in enumerate(items)
        if i in scores or i in dropped
    ]
    panel = scorer.panel(rubric)
    unique = list({id(r): r for r in answers.values()}.values())
    report = evaluate(points, threshold=cut).model_copy(
        update={
            "tokens_prompt": usage.prompt_tokens,
            "tokens_completion": usage.completion_tokens,
            "tokens_cached_prompt": usage.cached_prompt_tokens,
            "cost_usd": _cost(scorer.model_id, usage, prices)
            if panel is None
            else panel_cost(unique, prices, list_price=False),
            "method": str(scorer.method(rubric).spec),
            "model": scorer.model_id if panel is None else str(panel.spec),
            "rubric": rubric.name,
            "failed": failed,
        }
    )
    agreement = cascade = None
    if panel is not None and panel.spec.policy == "reviewers":
        agreement = reviewer_agreement(panel, answers.values(), cut)
    elif panel is not None:
        labels = [item.label for item in items]
        cascade = await compare_cascade(
            panel,
            rubric,
            answers,
            labels,
            dropped,
            concurrency=concurrency,
            prices=prices,
        )
    return EvalRun(
        reviewers=agreement,
        cascade=cascade,
        report=report,
        baseline=baseline,
        cached=cached,
        sent_to_model=len(send),
        prefiltered_out=len(dropped),
        positives_prefiltered_out=sum(items[i].label > 0 for i in dropped),
        wall_s=time.perf_counter() - started,
    )


def _cost(model: str, usage: Usage, prices: dict[str, tuple[float, float]] | None) -> float | None:
    """USD at the given prices (a model they do not name is unpriced), else genai-prices'."""
    if prices is None:
        return price_usage(model, usage)
    price = prices.get(model)
    return None if price is None else price_usage(model, usage, price=price)


def _baseline_threshold(similarity: Sequence[float], labels: Sequence[float]) -> float:
    """The baseline has no natural threshold: use the score that keeps as many
    papers as there are positives (so its precision equals its recall)."""
    positives = sum(label > 0 for label in labels)
    if not similarity or positives == 0:
        return 100.0
    ranked = sorted(similarity, reverse=True)
    return ranked[min(positives, len(ranked)) - 1]
