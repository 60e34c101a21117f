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
from typing import NamedTuple

from pydantic import BaseModel, Field, PrivateAttr

from scorer._models import Paper, ScoredPaper, Usage
from scorer._rubric import Rubric
from scorer.engine._identity import paper_identity
from scorer.engine._panel_spec import PanelSpec, panel_spec_for
from scorer.engine._scorer import NOTHING_SPENT, PaperLike, Scorer, to_paper
from scorer.eval._agreement import Agreement

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
    # For the summary line; left out of dumps, so the service's batch totals keep their shape.
    usage: Usage = Field(default_factory=Usage, exclude=True)
    cost_usd: float | None = Field(default=None, exclude=True)  # set by a caller that prices it
    wall_s: float = 0.0
    errors: list[str] = Field(default_factory=list, exclude=True)
    panel: str | None = Field(
        default=None, description="The two models and how they combine (--reviewers, --cascade)."
    )
    needs_human: int = Field(
        default=0, description="Papers the two reviewers disagree on about the threshold."
    )
    kappa: float | None = Field(
        default=None,
        description="The reviewers' agreement about the threshold (Cohen's kappa; "
        "None when undefined).",
    )
    escalated: int = Field(default=0, description="Papers a cascade sent to its strong model.")
    _agreement: Agreement = PrivateAttr(default_factory=Agreement)
    _policy: str | None = PrivateAttr(default=None)

    def use_panel(self, spec: PanelSpec | None) -> None:
        """Say which panel (if any) scores this run's papers."""
        self.panel = None if spec is None else str(spec)
        self._policy = None if spec is None else spec.policy

    def line(self) -> str:
        """The one-line summary ``scorer batch`` prints at the end."""
        panel = ""
        if self._policy == "cascade":
            panel = f", escalated {self.escalated}"
        elif self._policy == "reviewers":
            kappa = "n/a" if self.kappa is None else f"{self.kappa:.2f}"
            panel = f", reviewers kappa {kappa}, needs human {self.needs_human}"
        usage = self.usage
        detail = ""
        if usage.prompt_tokens or usage.completion_tokens:
            detail = (
                f" (input {usage.prompt_tokens}, cached input {usage.cached_prompt_tokens}, "
                f"output {usage.completion_tokens})"
            )
        cost = "" if self.cost_usd is None else f", ${self.cost_usd:.4f}"
        return (
            f"scanned {self.scanned}, unique {self.unique}, scored {self.scored}, "
            f"cached {self.cached}, failed {self.failed}, above threshold "
            f"{self.above_threshold}{panel}, tokens {self.tokens}{detail}{cost}, "
            f"{self.wall_s:.2f} s"
        )

    def count_panel(self, result: ScoredPaper) -> None:
        """Count what a panel did for ``result``: agreement, needs_human, escalation."""
        reviews = result.reviews
        # reviews first: a private attribute is read through pydantic's __getattr__,
        # and a run of one model (a cached re-run: 100,000 results) has none.
        if not reviews or self._policy is None:
            return
        if self._policy == "cascade":
            self.escalated += len(reviews) > 1
            return
        if len(reviews) == 2 and all(r.ok for r in reviews):
            self._agreement.add(reviews[0].passed, reviews[1].passed)
            self.kappa = self._agreement.kappa
        self.needs_human += result.needs_human


@dataclass(frozen=True)
class Unreadable:
    """An input record that is not a paper: counted as ``invalid`` and never scored."""

    message: str


class Scored(NamedTuple):
    """A result and the input positions (0-based, input order) it answers.

    ``positions`` are the paper's first record and the duplicates of it read
    while it was being scored. A named tuple, not a frozen dataclass: one is
    made per result (100,000 in a cached re-run), and a dataclass's
    ``__init__`` costs two ``object.__setattr__`` calls.
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
    if gate != rubric.threshold:
        # A threshold of the run's own moves what the results say passed (and what
        # a panel calls a disagreement); the fingerprint, and so the cache, ignore it.
        rubric = rubric.model_copy(update={"threshold": gate})
    counts.use_panel(panel_spec_for(scorer.settings, rubric))
    primary = rubric.primary.name
    first: dict[str, int] = {}  # identity -> position of the paper's first record
    # identity -> (position,) of a paper whose request is running: the tuple a Scored
    # takes, so the common paper (no duplicate) makes no list to copy; the duplicates
    # read meanwhile go to `later`, appended in O(1) (a file may repeat one paper often).
    waiting: dict[str, tuple[int]] = {}
    later: dict[str, list[int]] = {}
    notes: deque[Unscored] = deque()  # late duplicates and bad records, for every_position
    # The per-paper counts go straight into the summary's fields (and its fields set, as
    # pydantic's __setattr__ does): three __setattr__ calls a paper are a cached re-run's
    # biggest item after the model's own work. BatchSummary validates no assignment.
    tally = counts.__dict__
    marked = counts.__pydantic_fields_set__

    def admitted(position: int, record: PaperLike | Unreadable) -> tuple[str, Paper] | None:
        """``(identity, paper)`` for the first record of a paper; None for anything else."""
        tally["scanned"] += 1
        marked.add("scanned")
        if isinstance(record, Unreadable):
            tally["invalid"] += 1
            marked.add("invalid")
            if every_position:
                notes.append(Unscored(position, problem=record.message))
            return None
        paper = to_paper(record)
        key = paper_identity(paper)
        seen = first.get(key)
        if seen is None:
            first[key] = position
            waiting[key] = (position,)
            tally["unique"] += 1
            marked.add("unique")
            return key, paper
        tally["duplicates"] += 1
        marked.add("duplicates")
        if key in waiting:
            later.setdefault(key, []).append(position)
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
    # Results in lists: a run of cache hits is one step of the engine's generator.
    scored = scorer.ascore_tagged_batches(unique, rubric, concurrency=concurrency)
    try:
        # Closed with this generator: a consumer that stops early stops the requests.
        async with aclosing(scored):
            async for batch in scored:
                for key, result in batch:
                    # The fields from the model's __dict__: a pydantic model's attributes are
                    # read through its __getattr__ hook, a few times a dict look-up's cost.
                    field = result.__dict__
                    if field["error"] is not None:
                        counts.failed += 1
                        error = f"{result.paper.id or result.paper.title}: {result.error}"
                        counts.errors.append(error)
                    else:
                        if field["cached"]:
                            tally["cached"] += 1
                            marked.add("cached")
                        else:
                            counts.scored += 1
                        if field["scores"][primary] >= gate:
                            tally["above_threshold"] += 1
                            marked.add("above_threshold")
                    # Cache hits spent nothing: no pydantic __setattr__ and no new object for them.
                    usage = field["usage"]
                    if usage is not NOTHING_SPENT:  # every cache hit's, one object: no reads
                        tokens = usage.total_tokens
                        if tokens:
                            counts.tokens += tokens
                        if usage.requests:
                            counts.usage = counts.usage + usage
                    if field["reviews"]:  # only a panel's results have any (see count_panel)
                        counts.count_panel(result)
                    while notes:
                        yield notes.popleft()
                    positions: tuple[int, ...] = waiting.pop(key)
                    if later and key in later:
                        positions += tuple(later.pop(key))
                    yield Scored(positions, result)
        while notes:
            yield notes.popleft()
    finally:
        counts.wall_s = time.perf_counter() - started
