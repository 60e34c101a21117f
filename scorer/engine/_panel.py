"""Two models per paper: a second reviewer, or a cascade that saves money.

A panel is a sequence of stages, each a one-model :class:`Scorer` (its own
model, so its own cache keys and single-flight; the cache folder is shared),
and a policy that combines their answers into one :class:`ScoredPaper`
(see :mod:`scorer.engine._panel_spec` for the policies). Every face gets it,
because :meth:`Scorer.ascore` hands a paper to its panel when there is one.

The result's ``scores`` are the first reviewer's (``reviewers``) or the
winning stage's (``cascade``), so code that reads one score keeps working;
``reviews`` holds every answer in stage order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from scorer._errors import BackendError, ConfigError, FatalBackendError
from scorer._models import Paper, Review, ScoredPaper, Usage
from scorer._rubric import Rubric
from scorer.engine._panel_spec import PanelSpec

if TYPE_CHECKING:
    from scorer.engine._scorer import Scorer

__all__ = ["Panel", "needs_human"]


class Panel:
    """The stages of ``spec`` (one scorer per model, made by ``stage``) and its policy."""

    def __init__(self, spec: PanelSpec, stage: Callable[[str], Scorer]) -> None:
        self.spec = spec
        self.stages = [stage(model) for model in spec.models]
        ids = [s.model_id for s in self.stages]
        if len(set(ids)) < len(ids):
            raise ConfigError(
                f"{spec.policy} {','.join(spec.models)}: both run as the model {ids[0]!r}; "
                "name two models of an endpoint (OPENAI_BASE_URL or OPENAI_API_KEY) or two "
                ".gguf files"
            )

    async def aclose(self) -> None:
        for stage in self.stages:
            await stage.aclose()

    async def ascore(self, paper: Paper, rubric: Rubric) -> ScoredPaper:
        """``paper`` scored by the panel's policy; a model's failure stays with the paper."""
        started = time.perf_counter()
        if self.spec.policy == "reviewers":
            reviews = await _all([_review(s, paper, rubric) for s in self.stages])
            result = _combined(paper, rubric, reviews, reviews[0], _least_certain(reviews), started)
            flagged = result.ok and needs_human(reviews)
            return result.model_copy(update={"needs_human": True}) if flagged else result
        cheap = await _review(self.stages[0], paper, rubric)
        if not self.escalates(cheap, rubric):
            return _combined(paper, rubric, [cheap], cheap, cheap.certainty, started)
        strong = await _review(self.stages[1], paper, rubric)
        return _combined(paper, rubric, [cheap, strong], strong, strong.certainty, started)

    def escalates(self, cheap: Review, rubric: Rubric) -> bool:
        """Whether a cascade asks the strong model: the cheap one failed or is near the cut."""
        if not cheap.ok:
            return True
        return abs(cheap.scores[rubric.primary.name] - rubric.threshold) <= self.spec.margin


def needs_human(reviews: Sequence[Review]) -> bool:
    """Whether two successful reviews disagree about the threshold."""
    return len(reviews) > 1 and all(r.ok for r in reviews) and len({r.passed for r in reviews}) > 1


async def _review(stage: Scorer, paper: Paper, rubric: Rubric) -> Review:
    try:
        score, cached = await stage.aanswer(paper, rubric)
    except FatalBackendError:
        raise
    except BackendError as exc:
        return Review(model=stage.model_id, usage=exc.usage or Usage(), error=str(exc))
    return Review(
        model=score.model,
        scores=score.scores,
        justification=score.justification,
        certainty=score.certainty,
        passed=score.scores[rubric.primary.name] >= rubric.threshold,
        cached=cached,
        usage=score.usage,
    )


def _combined(
    paper: Paper,
    rubric: Rubric,
    reviews: list[Review],
    chosen: Review,
    certainty: float | None,
    started: float,
) -> ScoredPaper:
    usage = Usage()
    for review in reviews:
        if not review.cached:
            usage = usage + review.usage
    failed = [r for r in reviews if not r.ok]
    # A cascade whose strong model answered has its paper scored, whatever the cheap one did.
    if failed and not (chosen.ok and chosen is not reviews[0]):
        error = "; ".join(f"{r.model}: {r.error}" for r in failed)
        return ScoredPaper(
            paper=paper,
            rubric=rubric.name,
            rubric_fingerprint=rubric.fingerprint,
            model=chosen.model,
            usage=usage,
            latency_s=round(time.perf_counter() - started, 4),
            error=error,
            reviews=tuple(reviews),
        )
    return ScoredPaper(
        paper=paper,
        rubric=rubric.name,
        rubric_fingerprint=rubric.fingerprint,
        model=chosen.model,
        scores=chosen.scores,
        justification=chosen.justification,
        passed=chosen.passed,
        cached=all(r.cached for r in reviews),
        usage=usage,
        latency_s=round(time.perf_counter() - started, 4),
        certainty=certainty,
        reviews=tuple(reviews),
    )


def _least_certain(reviews: Sequence[Review]) -> float | None:
    known = [r.certainty for r in reviews if r.ok and r.certainty is not None]
    return min(known) if known else None


async def _all(requests: list[Coroutine[Any, Any, Review]]) -> list[Review]:
    """Run ``requests`` at once; if one raises (a fatal error), cancel the others and re-raise.

    Not a TaskGroup: it would wrap a :class:`FatalBackendError` in an
    ExceptionGroup, which the batch's handlers would not recognise.
    """
    tasks = [asyncio.ensure_future(request) for request in requests]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
