"""The one path from input records to results that every face takes.

records ──► identity (each paper once) ──► :meth:`Scorer.ascore_tagged` ──► outcomes
                                                                         + a BatchSummary

``run_batch``, the service's batch stream, ``score_frame``, ``run_eval`` and
``score_many`` all consume :func:`score_stream`, so they merge duplicates,
count and join results to their inputs the same way.

Memory stays bounded for long inputs: records are read lazily, at most
``2 * concurrency`` papers are in flight, and what grows is one identity key
(with its first position) per unique paper.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass

from pydantic import BaseModel, Field

from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.engine._identity import paper_identity
from scorer.engine._scorer import PaperLike, Scorer, to_paper

__all__ = ["BatchSummary", "Outcome", "Scored", "Unreadable", "Unscored", "score_stream"]


class BatchSummary(BaseModel):
    """What a run did, counted as it goes. ``scanned`` counts every record read."""

    scanned: int = Field(default=0, description="Records read, invalid ones included.")
    unique: int = Field(default=0, description="Papers left after merging duplicates.")
    duplicates: int = 0
    scored: int = Field(default=0, description="Papers scored by the model now.")
    cached: int = Field(default=0, description="Papers answered from the cache.")
    failed: int = Field(default=0, description="Papers that could not be scored (an error each).")
    invalid: int = Field(
        default=0, description="Records that were not papers (an error line each, not scored)."
    )
    above_threshold: int = 0
    tokens: int = 0
    wall_s: float = 0.0
    errors: list[str] = Field(default_factory=list, exclude=True)

    def line(self) -> str:
        """The one-line summary ``scorer batch`` prints at the end."""
        return (
            f"scanned {self.scanned}, unique {self.unique}, scored {self.scored}, "
            f"cached {self.cached}, failed {self.failed}, above threshold "
            f"{self.above_threshold}, tokens {self.tokens}, {self.wall_s:.2f} s"
        )


@dataclass(frozen=True)
class Unreadable:
    """An input record that is not a paper: counted as ``invalid`` and never scored."""

    message: str


@dataclass(frozen=True)
class Scored:
    """A result and the input positions (0-based, input order) it answers.

    ``positions`` are the paper's first record and the duplicates of it read
    while it was being scored.
    """

    positions: tuple[int, ...]
    result: ScoredPaper


@dataclass(frozen=True)
class Unscored:
    """A record that was not sent (reported only with ``every_position``).

    Either a duplicate read after its paper's result was handed out
    (``duplicate_of`` is the position of the paper's first record) or a
    record that is not a paper (``problem`` says why).
    """

    position: int
    duplicate_of: int | None = None
    problem: str | None = None


Outcome = Scored | Unscored


async def score_stream(
    records: Iterable[PaperLike | Unreadable] | AsyncIterable[PaperLike | Unreadable],
    rubric: Rubric,
    scorer: Scorer,
    *,
    summary: BatchSummary | None = None,
    concurrency: int = 8,
    threshold: int | None = None,
    every_position: bool = False,
) -> AsyncIterator[Outcome]:
    """Score each paper of ``records`` once (duplicates by identity merged), yielding as each ends.

    ``summary`` (a fresh one if None) is updated before each outcome is
    yielded, ``above_threshold`` against ``threshold`` (default the
    rubric's). Order is completion order. A record that is not a valid paper
    raises :class:`~scorer._errors.InputError`; pass :class:`Unreadable` for
    records the caller has already found bad.
    """
    counts = summary if summary is not None else BatchSummary()
    gate = rubric.threshold if threshold is None else threshold
    primary = rubric.primary.name
    first: dict[str, int] = {}  # identity -> position of the paper's first record
    waiting: dict[str, list[int]] = {}  # identity -> positions its running request answers
    notes: deque[Unscored] = deque()  # late duplicates and bad records, for every_position

    def admitted(position: int, record: PaperLike | Unreadable) -> tuple[str, Paper] | None:
        """``(identity, paper)`` for the first record of a paper; None for anything else."""
        counts.scanned += 1
        if isinstance(record, Unreadable):
            counts.invalid += 1
            if every_position:
                notes.append(Unscored(position, problem=record.message))
            return None
        paper = to_paper(record)
        key = paper_identity(paper)
        seen = first.get(key)
        if seen is None:
            first[key] = position
            waiting[key] = [position]
            counts.unique += 1
            return key, paper
        counts.duplicates += 1
        running = waiting.get(key)
        if running is not None:
            running.append(position)
        elif every_position:
            notes.append(Unscored(position, duplicate_of=seen))
        return None

    # A plain iterable stays one (the engine reads it many records at a time, and
    # answers the cached ones with one look-up); an async one is read as it comes.
    unique: Iterable[tuple[str, Paper]] | AsyncIterable[tuple[str, Paper]]
    if isinstance(records, AsyncIterable):

        async def unique_async() -> AsyncIterator[tuple[str, Paper]]:
            position = -1
            async for record in records:
                position += 1
                paper = admitted(position, record)
                if paper is not None:
                    yield paper

        unique = unique_async()
    else:
        unique = filter(None, itertools.starmap(admitted, enumerate(records)))

    started = time.perf_counter()
    scored = scorer.ascore_tagged(unique, rubric, concurrency=concurrency)
    try:
        # Closed with this generator: a consumer that stops early stops the requests.
        async with aclosing(scored):
            async for key, result in scored:
                if result.error is not None:
                    counts.failed += 1
                    error = f"{result.paper.id or result.paper.title}: {result.error}"
                    counts.errors.append(error)
                elif result.cached:
                    counts.cached += 1
                else:
                    counts.scored += 1
                if result.ok and result.scores[primary] >= gate:
                    counts.above_threshold += 1
                counts.tokens += result.usage.total_tokens
                while notes:
                    yield notes.popleft()
                yield Scored(tuple(waiting.pop(key)), result)
        while notes:
            yield notes.popleft()
    finally:
        counts.wall_s = time.perf_counter() - started
