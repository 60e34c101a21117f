"""The public calls: ``score``, ``ascore``, ``score_many``, ``ascore_many``."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from scorer._loop import iterate_sync, run_sync
from scorer._models import ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer._settings import Settings
from scorer.engine._pipeline import Scored, score_stream
from scorer.engine._scorer import PaperLike, Scorer

__all__ = ["ascore", "ascore_many", "score", "score_many", "scorer_for"]

RubricLike = Rubric | str | Path

_scorers: dict[Settings, Scorer] = {}
_scorers_lock = threading.Lock()


def scorer_for(settings: Settings | None = None, **options: Any) -> Scorer:
    """The shared :class:`Scorer` for these settings (clients and cache are reused).

    ``options`` are :class:`Settings` fields (``model``, ``base_url``,
    ``api_key``, ``cache_dir``, ``use_cache``, ``timeout``, ...) and win over
    the environment.
    """
    resolved = settings if settings is not None else Settings.resolve(**options)
    with _scorers_lock:
        scorer = _scorers.get(resolved)
        if scorer is None:
            scorer = _scorers[resolved] = Scorer(resolved)
        return scorer


async def ascore(
    paper: PaperLike, rubric: RubricLike, *, settings: Settings | None = None, **options: Any
) -> ScoredPaper:
    """Async :func:`score`."""
    return await scorer_for(settings, **options).ascore(paper, load_rubric(rubric))


def score(
    paper: PaperLike, rubric: RubricLike, *, settings: Settings | None = None, **options: Any
) -> ScoredPaper:
    """Score one paper against a rubric.

    ``paper`` is a :class:`Paper` or a mapping with at least ``title`` and
    ``abstract``; ``rubric`` is a :class:`Rubric`, a built-in name or a TOML
    path. Without ``OPENAI_BASE_URL``/``OPENAI_API_KEY`` (or ``base_url=``/
    ``api_key=``) it runs on the embedded offline model. Raises a
    :class:`ScorerError` subclass on failure.

    >>> result = score({"title": "...", "abstract": "..."}, "llm-inference")  # doctest: +SKIP
    >>> result.scores, result.passed  # doctest: +SKIP
    ({'relevance': 92, 'hype': 60}, True)
    """
    return run_sync(ascore(paper, rubric, settings=settings, **options))


async def ascore_many(
    papers: Iterable[PaperLike] | AsyncIterable[PaperLike],
    rubric: RubricLike,
    *,
    concurrency: int = 8,
    settings: Settings | None = None,
    **options: Any,
) -> AsyncIterator[ScoredPaper]:
    """Async :func:`score_many`."""
    scorer = scorer_for(settings, **options)
    async for outcome in score_stream(papers, load_rubric(rubric), scorer, concurrency=concurrency):
        if isinstance(outcome, Scored):
            yield outcome.result


def score_many(
    papers: Iterable[PaperLike],
    rubric: RubricLike,
    *,
    concurrency: int = 8,
    settings: Settings | None = None,
    **options: Any,
) -> Iterator[ScoredPaper]:
    """Score many papers concurrently, yielding each result as it finishes.

    Records of the same paper (arXiv versions, DOI variants, repeated titles)
    are scored and yielded once, for the first of them, as in ``scorer batch``.
    A paper that fails keeps its error in ``ScoredPaper.error`` and the rest go
    on; an error that would fail every paper (bad key, no quota, unknown
    model) raises :class:`FatalBackendError`.
    """
    rubric_obj = load_rubric(rubric)
    return iterate_sync(
        ascore_many(papers, rubric_obj, concurrency=concurrency, settings=settings, **options)
    )
