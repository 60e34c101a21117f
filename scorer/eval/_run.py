"""Score labelled papers through the engine and measure agreement with the labels.

The scoring goes through :meth:`Scorer.ascore_many` (same dedup, cache and
concurrency as a batch); the metrics come from :mod:`scorer.eval._metrics`. A
TF-IDF similarity baseline (:mod:`scorer.eval._baseline`) is evaluated on the same
papers, so every number has something to beat; with ``prefilter`` only the
papers the baseline ranks in its top fraction reach the model, and the rest
count as scored 0 (their missed positives show in the recall).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from scorer._models import Paper, Usage
from scorer._rubric import Rubric
from scorer.engine._scorer import Scorer
from scorer.eval._baseline import prefilter_top, similarity_scores
from scorer.eval._metrics import EvalReport, LabelledScore, evaluate
from scorer.eval._prices import estimate_cost

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

    def to_json(self) -> dict[str, object]:
        return {
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
    papers = [item.paper for item in items]
    similarity = similarity_scores(papers, rubric) if papers else []
    baseline = evaluate(
        [LabelledScore(s, item.label) for s, item in zip(similarity, items, strict=True)],
        threshold=_baseline_threshold(similarity, [i.label for i in items]),
    )
    baseline = baseline.model_copy(update={"method": "tf-idf baseline", "rubric": rubric.name})

    send: list[int] = list(range(len(items)))
    if prefilter is not None and papers:
        kept, _ = prefilter_top(papers, rubric, prefilter)
        kept_ids = {id(p) for p in kept}
        send = [i for i, p in enumerate(papers) if id(p) in kept_ids]
    scores: dict[int, float] = {}
    index = {id(papers[i]): i for i in send}
    usage, cached, failed = Usage(), 0, 0
    to_send = [papers[i] for i in send]
    async for result in scorer.ascore_many(to_send, rubric, concurrency=concurrency):
        i = index[id(result.paper)]
        usage = usage + result.usage
        if result.error is not None:
            failed += 1
            continue
        cached += result.cached
        scores[i] = result.scores[rubric.primary.name]
    dropped = set(range(len(items))) - set(send)
    points = [
        LabelledScore(scores.get(i, 0.0), item.label)
        for i, item in enumerate(items)
        if i in scores or i in dropped
    ]
    report = evaluate(points, threshold=cut).model_copy(
        update={
            "tokens_prompt": usage.prompt_tokens,
            "tokens_completion": usage.completion_tokens,
            "cost_usd": estimate_cost(
                scorer.model_id, usage.prompt_tokens, usage.completion_tokens, prices
            ),
            "method": str(scorer.method(rubric).spec),
            "model": scorer.model_id,
            "rubric": rubric.name,
            "failed": failed,
        }
    )
    return EvalRun(
        report=report,
        baseline=baseline,
        cached=cached,
        sent_to_model=len(send),
        prefiltered_out=len(dropped),
        positives_prefiltered_out=sum(items[i].label > 0 for i in dropped),
        wall_s=time.perf_counter() - started,
    )


def _baseline_threshold(similarity: Sequence[float], labels: Sequence[float]) -> float:
    """The baseline has no natural threshold: use the score that keeps as many
    papers as there are positives (so its precision equals its recall)."""
    positives = sum(label > 0 for label in labels)
    if not similarity or positives == 0:
        return 100.0
    ranked = sorted(similarity, reverse=True)
    return ranked[min(positives, len(ranked)) - 1]
