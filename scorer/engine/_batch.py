"""A batch run: papers in, results out to every sink as each finishes, a summary at the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.engine._identity import paper_identity
from scorer.engine._scorer import Scorer
from scorer.io._writers import ResultWriter

__all__ = ["BatchSummary", "run_batch"]


@dataclass
class BatchSummary:
    """What a run did. ``scanned`` counts input records that parsed."""

    scanned: int = 0
    duplicates: int = 0
    scored: int = 0
    cached: int = 0
    failed: int = 0
    above_threshold: int = 0
    tokens: int = 0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def unique(self) -> int:
        return self.scanned - self.duplicates

    def line(self) -> str:
        return (
            f"scanned {self.scanned}, unique {self.unique}, scored {self.scored}, "
            f"cached {self.cached}, failed {self.failed}, above threshold "
            f"{self.above_threshold}, tokens {self.tokens}, {self.wall_s:.2f} s"
        )


def _unique(papers: Iterable[Paper], summary: BatchSummary) -> Iterator[Paper]:
    seen: set[str] = set()
    for paper in papers:
        summary.scanned += 1
        key = paper_identity(paper)
        if key in seen:
            summary.duplicates += 1
            continue
        seen.add(key)
        yield paper


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
    gate = rubric.threshold if threshold is None else threshold
    started = time.perf_counter()
    sinks = list(sinks)
    try:
        async for result in scorer.ascore_many(
            _unique(papers, summary), rubric, concurrency=concurrency
        ):
            if result.error is not None:
                summary.failed += 1
                summary.errors.append(f"{result.paper.id or result.paper.title}: {result.error}")
            elif result.cached:
                summary.cached += 1
            else:
                summary.scored += 1
            if result.ok and result.scores[rubric.primary.name] >= gate:
                summary.above_threshold += 1
            summary.tokens += result.usage.total_tokens
            for sink in sinks:
                sink.write(result)
            if on_result is not None:
                on_result(result, summary)
    finally:
        summary.wall_s = time.perf_counter() - started
    return summary
