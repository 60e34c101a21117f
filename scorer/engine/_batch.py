"""A batch run: papers in, results out to every sink as each finishes, a summary at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.engine._pipeline import BatchSummary, Scored, score_stream
from scorer.engine._scorer import Scorer
from scorer.io._writers import ResultWriter

__all__ = ["BatchSummary", "run_batch"]


async def run_batch(
    papers: Iterable[Paper],
    rubric: Rubric,
    scorer: Scorer,
    *,
    sinks: Iterable[ResultWriter] = (),
    concurrency: int = 8,
    threshold: int | None = None,
    on_result: Callable[[ScoredPaper, BatchSummary], None] | None = None,
) -> BatchSummary:
    """Score ``papers`` once each (duplicates by identity are dropped), writing as they finish."""
    summary = BatchSummary()
    sinks = list(sinks)
    async for outcome in score_stream(
        papers, rubric, scorer, summary=summary, concurrency=concurrency, threshold=threshold
    ):
        if not isinstance(outcome, Scored):
            continue  # not asked for (every_position): duplicates are only counted
        for sink in sinks:
            sink.write(outcome.result)
        if on_result is not None:
            on_result(outcome.result, summary)
    return summary
