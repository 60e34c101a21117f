"""The scoring engine: the one path every entry point takes.

cache hit -> done; miss -> prompt -> backend -> validated answer -> cache.
Identical requests in flight at once share one model call (single-flight).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from scorer.backends import Backend, backend_for
from scorer.cache import ResultCache, cache_key
from scorer.errors import BackendError, FatalBackendError, InputError, RetryExhausted
from scorer.method_spec import MethodSpec
from scorer.methods import ScoringMethod, method_for, method_spec_for
from scorer.models import Paper, Score, ScoredPaper, Usage
from scorer.prompt import PromptTemplate
from scorer.rubric import Rubric
from scorer.settings import Settings

__all__ = ["PaperLike", "Scorer", "to_paper"]

PaperLike = Paper | Mapping[str, Any]


class _RequestSlots:
    """The limit on model requests of one ``ascore_many()`` call.

    Only model calls take a slot, so cache hits never wait behind slow
    requests. After an error that will fail every request, a task that gets
    a slot raises it instead of sending another doomed request. An endpoint
    that cannot be connected to even after retries, before any request of
    this call got through, is such an error: without it, a batch of ten
    thousand papers would retry each one against a dead address for hours.
    """

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._fatal: FatalBackendError | None = None
        self._reached = False  # some request of this call got an answer

    async def ask(self, request: Coroutine[Any, Any, Score]) -> Score:
        try:
            async with self._slots:
                if self._fatal is not None:
                    raise self._fatal
                try:
                    score = await request
                except FatalBackendError as exc:
                    self._fatal = exc
                    raise
                except RetryExhausted as exc:
                    if not exc.unreachable or self._reached:
                        raise
                    self._fatal = FatalBackendError(
                        f"the model endpoint cannot be reached: {exc}",
                        attempts=exc.attempts,
                        usage=exc.usage,
                    )
                    raise self._fatal from exc
                self._reached = True
                return score
        finally:
            request.close()  # never started (cancelled while waiting, or fatal): no warning


# The slots of the ascore_many() call a task belongs to (None: no limit).
_REQUEST_SLOTS: contextvars.ContextVar[_RequestSlots | None] = contextvars.ContextVar(
    "scorer_request_slots", default=None
)


def to_paper(paper: PaperLike) -> Paper:
    """Accept a ``Paper`` or a plain mapping; raise ``InputError`` with the problem."""
    if isinstance(paper, Paper):
        return paper
    try:
        return Paper.model_validate(dict(paper))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'paper'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InputError(f"invalid paper: {problems}") from exc
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"invalid paper: {exc}") from exc


class Scorer:
    """Scores papers under fixed settings. Safe to share within one event loop.

    The backend is created on the first cache miss, so a run served entirely
    from the cache never starts (or contacts) a model.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend | None = None,
        cache: ResultCache | None = None,
        template: PromptTemplate | None = None,
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._cache = cache
        self._template = template
        self._methods: dict[MethodSpec, ScoringMethod] = {}
        self._inflight: dict[str, asyncio.Future[tuple[Score, bool]]] = {}

    @property
    def model_id(self) -> str:
        return self._backend.model_id if self._backend else self.settings.model_id

    @property
    def cache(self) -> ResultCache | None:
        if not self.settings.use_cache:
            return None
        if self._cache is None:
            self._cache = ResultCache(self.settings.cache_dir)
        return self._cache

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = backend_for(self.settings)
        return self._backend

    async def aclose(self) -> None:
        """Close the connections this event loop opened (the cache stays usable)."""
        if self._backend is not None:
            await self._backend.aclose()

    async def __aenter__(self) -> Scorer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def method(self, rubric: Rubric) -> ScoringMethod:
        """The scoring method for ``rubric`` (see :func:`~scorer.methods.method_spec_for`)."""
        spec = method_spec_for(self.settings, rubric)
        method = self._methods.get(spec)
        if method is None:
            compact = self.settings.uses_demo_model
            method = method_for(spec, self.settings.sampling, self._template, compact=compact)
            self._methods[spec] = method
        return method

    async def ascore(self, paper: PaperLike, rubric: Rubric) -> ScoredPaper:
        """Score one paper; raise a ``ScorerError`` if it cannot be scored."""
        item = to_paper(paper)
        started = time.perf_counter()
        method = self.method(rubric)
        key = cache_key(
            item,
            rubric,
            prompt_hash=method.prompt.content_hash,
            model_id=self.model_id,
            sampling=self.settings.sampling,
            method=str(method.spec),
        )
        score, cached = await self._single_flight(key, item, rubric, method)
        passed = score.scores[rubric.primary.name] >= rubric.threshold
        return ScoredPaper(
            paper=item,
            rubric=rubric.name,
            rubric_fingerprint=rubric.fingerprint,
            model=score.model,
            scores=score.scores,
            justification=score.justification,
            passed=passed,
            cached=cached,
            usage=Usage() if cached else score.usage,
            latency_s=round(time.perf_counter() - started, 4),
        )

    async def ascore_or_error(self, paper: Paper, rubric: Rubric) -> ScoredPaper:
        """Like :meth:`ascore`, but a failure stays with its paper as ``error``.

        A :class:`FatalBackendError` still raises: every other paper would fail
        the same way.
        """
        started = time.perf_counter()
        try:
            return await self.ascore(paper, rubric)
        except FatalBackendError:
            raise
        except BackendError as exc:
            return self._failed(paper, rubric, str(exc), exc.usage or Usage(), started)

    async def ascore_many(
        self,
        papers: Iterable[PaperLike] | AsyncIterable[PaperLike],
        rubric: Rubric,
        *,
        concurrency: int = 8,
    ) -> AsyncIterator[ScoredPaper]:
        """Score papers with at most ``concurrency`` requests at once, yielding as each finishes.

        Input is read lazily, so memory holds at most ``2 * concurrency``
        papers in flight. Output order is completion order; match results by
        ``paper``.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        # Twice as many tasks as request slots: when a request finishes, a
        # task already waiting takes its slot at once, instead of the slot
        # idling while this generator hands out the result, reads the next
        # paper and starts a task (three trips round a busy event loop).
        context = contextvars.copy_context()
        context.run(_REQUEST_SLOTS.set, _RequestSlots(concurrency))
        window = 2 * concurrency
        # Finished tasks queue themselves, so each completion costs O(1); an
        # asyncio.wait() over the pending set would cost O(concurrency) each.
        finished: asyncio.Queue[asyncio.Task[ScoredPaper]] = asyncio.Queue()
        pending: set[asyncio.Task[ScoredPaper]] = set()
        source = _aiter(papers)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < window:
                    try:
                        raw = await anext(source)
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    task = asyncio.create_task(
                        self.ascore_or_error(to_paper(raw), rubric), context=context
                    )
                    task.add_done_callback(finished.put_nowait)
                    pending.add(task)
                if not pending:
                    return
                task = await finished.get()
                pending.discard(task)
                error = task.exception()
                if error is not None:
                    raise error
                yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            # Look at every finished task, so a second fatal error is not left
            # "never retrieved" (and logged as a traceback when collected).
            while not finished.empty():
                done = finished.get_nowait()
                if not done.cancelled():
                    done.exception()

    async def _single_flight(
        self, key: str, paper: Paper, rubric: Rubric, method: ScoringMethod
    ) -> tuple[Score, bool]:
        cache = self.cache
        if cache is not None:
            hit = cache.get(key)
            if hit is not None and set(hit.scores) == {d.name for d in rubric.dimensions}:
                return hit, True
        running = self._inflight.get(key)
        if running is not None:
            try:
                score, _ = await asyncio.shield(running)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if running.cancelled() and task is not None and not task.cancelling():
                    # The leader was cancelled, not us: take over the request.
                    return await self._single_flight(key, paper, rubric, method)
                raise
            return score, True
        future: asyncio.Future[tuple[Score, bool]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            request = method.score(self.backend, rubric, paper)
            slots = _REQUEST_SLOTS.get()
            score = await (request if slots is None else slots.ask(request))
            if cache is not None:
                cache.put(key, score)
            future.set_result((score, False))
            return score, False
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    def _failed(
        self, paper: Paper, rubric: Rubric, error: str, usage: Usage, started: float
    ) -> ScoredPaper:
        return ScoredPaper(
            paper=paper,
            rubric=rubric.name,
            rubric_fingerprint=rubric.fingerprint,
            model=self.model_id,
            usage=usage,
            latency_s=round(time.perf_counter() - started, 4),
            error=error,
        )


async def _aiter(
    papers: Iterable[PaperLike] | AsyncIterable[PaperLike],
) -> AsyncIterator[PaperLike]:
    if isinstance(papers, AsyncIterable):
        async for paper in papers:
            yield paper
    else:
        for paper in papers:
            yield paper
