"""The scoring engine: the one path every entry point takes.

cache hit -> done; miss -> prompt -> backend -> validated answer -> cache.
Identical requests in flight at once share one model call (single-flight).
Many papers at once: :mod:`scorer.engine._fan_out`; duplicates merged:
:mod:`scorer.engine._pipeline`.

Over 300 lines: the cache look-up, single-flight and the cross-process claim
are one protocol around each request, and read best together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import aclosing
from typing import Any, NamedTuple, ParamSpec, TypeVar

from pydantic import ValidationError
from pydantic_core import SchemaValidator

from scorer._errors import BackendError, CacheError, FatalBackendError, InputError
from scorer._models import Paper, Score, ScoredPaper, Usage
from scorer._rubric import Rubric
from scorer._settings import Settings
from scorer._trusted import trusted
from scorer.backends import Backend, backend_for
from scorer.engine._cache import Claimed, ResultCache, cache_keys
from scorer.engine._fan_out import async_iter, fan_out_batches, one_by_one
from scorer.engine._lru import LRU
from scorer.engine._panel import Panel
from scorer.engine._panel_spec import PanelSpec, panel_spec_for
from scorer.engine._request_slots import REQUEST_SLOTS, RequestSlots, without_userinfo
from scorer.methods._dispatch import ScoringMethod, method_for, method_spec_for
from scorer.methods._spec import MethodSpec
from scorer.prompt._messages import PromptTemplate
from scorer.prompt._paper_limits import bounded_paper

__all__ = ["NOTHING_SPENT", "PaperLike", "Scorer", "to_paper"]

PaperLike = Paper | Mapping[str, Any]

_log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")
_Tag = TypeVar("_Tag")
# Polling for another process's answer: soon at first (answers take about a
# second), then at most once a second.
_FIRST_POLL_S = 0.05
NOTHING_SPENT = Usage()
"""What a cached answer cost: one frozen ``Usage`` for all of them."""
# The fields of a result that _scored names (the rest keep their defaults).
_SCORED_GIVEN = frozenset(ScoredPaper.model_fields) - {"error", "reviews", "needs_human"}
_LAST_POLL_S = 1.0


# A cached Score's JSON validated as Score.model_validate_json does, the fields left in
# a dict instead of set on a Score made per hit: the model schema's own fields schema.
def _score_fields_validator(
    schema: Any = Score.__pydantic_core_schema__,
) -> Callable[[str], tuple[dict[str, Any], Any, Any]]:
    """``validate_json`` giving a cached Score's (fields, extra, fields set), as Score reads it.

    Made from the model schema's own fields schema when pydantic lays the
    schema out as it does now (a ``model`` around ``model-fields``); any other
    layout (a pydantic upgrade) falls back to Score's validator, slower but right.
    """
    if schema.get("type") == "model" and schema["schema"].get("type") == "model-fields":
        return SchemaValidator(schema["schema"], schema.get("config")).validate_json
    validate = Score.__pydantic_validator__.validate_json

    def fields_of(raw: str) -> tuple[dict[str, Any], Any, Any]:
        score = validate(raw)
        return score.__dict__, None, score.model_fields_set

    return fields_of


# A cached Score's JSON validated as Score.model_validate_json does, the fields left in
# a dict instead of set on a Score made per hit.
_SCORE_FIELDS = _score_fields_validator()


class _RubricParts(NamedTuple):
    """What a result takes from its rubric, read once for many results (not per paper)."""

    name: str
    fingerprint: str
    primary: str  # the dimension the threshold applies to
    threshold: int

    @classmethod
    def of(cls, rubric: Rubric) -> _RubricParts:
        return cls(rubric.name, rubric.fingerprint, rubric.primary.name, rubric.threshold)


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._cache = cache
        self._cache_off = False  # the cache failed mid-run: go on without it
        self._sleep = sleep  # while waiting for another process's answer
        self._template = template
        self._methods: dict[MethodSpec, ScoringMethod] = {}
        self._inflight: dict[str, asyncio.Future[tuple[Score, bool]]] = {}
        self._panels: dict[PanelSpec, Panel] = {}
        self._connections: int | None = None  # the most requests at once asked for so far
        # Cache-key layouts by (rubric, method, model): bounded, a server sees many rubrics.
        self._key_layouts: LRU[tuple[str, MethodSpec, str], Callable[[str, str], str]] = LRU(64)

    @property
    def model_id(self) -> str:
        return self._backend.model_id if self._backend else self.settings.model_id

    @property
    def cache(self) -> ResultCache | None:
        if not self.settings.use_cache or self._cache_off:
            return None
        if self._cache is None:
            self._cache = ResultCache(self.settings.cache_dir)
        return self._cache

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            # Made on the first cache miss, after ascore_tagged() said how many requests
            # run at once: the HTTP pool keeps that many connections alive.
            self._backend = backend_for(self.settings, connections=self._connections)
        return self._backend

    async def aclose(self) -> None:
        """Close the connections this event loop opened (the cache stays usable)."""
        if self._backend is not None:
            await self._backend.aclose()
        for panel in self._panels.values():
            await panel.aclose()

    async def __aenter__(self) -> Scorer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def method(self, rubric: Rubric) -> ScoringMethod:
        """The scoring method for ``rubric`` (see :func:`method_spec_for`)."""
        spec = method_spec_for(self.settings, rubric)
        method = self._methods.get(spec)
        if method is None:
            compact = self.settings.uses_demo_model
            method = method_for(spec, self.settings.sampling, self._template, compact=compact)
            self._methods[spec] = method
        return method

    def panel(self, rubric: Rubric) -> Panel | None:
        """The two models that score each paper under ``rubric`` (see :func:`panel_spec_for`)."""
        spec = panel_spec_for(self.settings, rubric)
        if spec is None:
            return None
        panel = self._panels.get(spec)
        if panel is None:
            panel = self._panels[spec] = Panel(spec, self._stage)
        return panel

    def _stage(self, model: str) -> Scorer:
        """A one-model scorer for a panel's stage, sharing this one's cache and prompt."""
        settings = dataclasses.replace(
            self.settings, model=model, reviewers=(), cascade=(), margin=None
        )
        return Scorer(settings, cache=self.cache, template=self._template, sleep=self._sleep)

    def cache_key_for(self, paper: Paper, rubric: Rubric) -> tuple[str, Paper]:
        """The cache key of scoring ``paper``, and the paper as the model is sent it.

        The paper sent (and named by the key) has the fields the prompt reads,
        cut to the settings' limits; results keep the paper whole.
        """
        method = self.method(rubric)
        sent = bounded_paper(paper, self.settings.paper_limits, method.prompt.paper_fields)
        # cache_key()'s key, from the layout made once per rubric (about 25 us less a paper).
        return self._keys_for(rubric)(sent.title, sent.abstract), sent

    async def aanswer(self, paper: Paper, rubric: Rubric) -> tuple[Score, bool]:
        """This model's validated answer for ``paper`` and whether it came from the cache.

        The answer's ``usage`` is what it cost when it was paid for. One model
        only: a panel's stages are scorers of their own.
        """
        method = self.method(rubric)
        key, sent = self.cache_key_for(paper, rubric)
        return await self._single_flight(key, sent, rubric, method)

    async def ascore(self, paper: PaperLike, rubric: Rubric) -> ScoredPaper:
        """Score one paper; raise a ``ScorerError`` if it cannot be scored.

        With a panel (``--reviewers``, ``--cascade``) each of its models
        answers as its policy says; a paper the panel cannot score raises a
        :class:`BackendError` naming the models that failed.
        """
        item = to_paper(paper)
        panel = self.panel(rubric)
        if panel is not None:
            result = await panel.ascore(item, rubric)
            if result.error is not None:
                raise BackendError(result.error, usage=result.usage)
            return result
        started = time.perf_counter()
        score, cached = await self.aanswer(item, rubric)
        return self._scored(item, rubric, score, cached=cached, started=started)

    def cached_results(
        self, papers: Sequence[PaperLike], rubric: Rubric
    ) -> list[ScoredPaper | None]:
        """What :meth:`ascore` would answer from the cache for each of ``papers``, in one look-up.

        The hit path of a cached re-run (see :func:`scorer.engine._fan_out.fan_out_batches`):
        keys made from one layout per rubric, one SQLite query for a few
        hundred papers, no task per paper. None where it cannot tell (a miss,
        another process's claim, a stale or corrupt entry, a paper cut to the
        limits, a record still to be validated): :meth:`ascore` handles those
        as before, so its semantics (single-flight, claims) stay its own.
        """
        results: list[ScoredPaper | None] = [None] * len(papers)
        cache = self.cache
        if cache is None or self.panel(rubric) is not None:
            # A panel's result is its models' answers together: its stages look them up.
            return results
        started = time.perf_counter()
        keys_for = self._keys_for(rubric)
        limits = self.settings.paper_limits
        wanted: dict[int, str] = {}
        for i, paper in enumerate(papers):
            # Within the limits, the text sent (and keyed) is the paper's own; a longer
            # one goes through bounded_paper in ascore(), which says what it cut.
            if isinstance(paper, Paper):
                field = paper.__dict__  # not four reads through pydantic's __getattr__ hook
                title, abstract = field["title"], field["abstract"]
                if len(title) <= limits.title and len(abstract) <= limits.abstract:
                    wanted[i] = keys_for(title, abstract)
        found = self._guarded(cache.get_many, list(wanted.values())) if wanted else None
        if not found:
            return results
        dimensions = {d.name for d in rubric.dimensions}
        validate = _SCORE_FIELDS
        latency_s = round(time.perf_counter() - started, 4)  # one look-up answered them all
        result, parts = self._result, _RubricParts.of(rubric)
        for i, key in wanted.items():
            raw = found.get(key)
            if raw is None:
                continue
            try:
                field = validate(raw)[0]  # (fields, extra, fields set)
            except ValueError:  # ValidationError too: ascore() drops it and says so once
                continue
            scores = field["scores"]
            if scores.keys() == dimensions:
                # Only Papers were looked up (wanted): no isinstance() again. The fields were
                # made here and are dropped: the result takes their scores without a copy.
                results[i] = result(papers[i], parts, field, scores, True, latency_s)  # type: ignore[arg-type]
        return results

    def _mode_for(self, method: ScoringMethod) -> str | None:
        """The structured-output mode the cache key names: only a written answer has one."""
        return self.settings.structured_mode if method.spec.name == "generate" else None

    def _keys_for(self, rubric: Rubric) -> Callable[[str, str], str]:
        """Cache keys of papers under ``rubric`` with this scorer's settings (see cache_keys)."""
        method = self.method(rubric)
        ident = (rubric.fingerprint, method.spec, self.model_id)
        keys = self._key_layouts.get(ident)
        if keys is None:
            keys = self._key_layouts[ident] = cache_keys(
                rubric,
                prompt_hash=method.prompt.content_hash,
                model_id=self.model_id,
                sampling=self.settings.sampling,
                method=str(method.spec),
                mode=self._mode_for(method),
            )
        return keys

    def _scored(
        self, paper: Paper, rubric: Rubric, score: Score, *, cached: bool, started: float
    ) -> ScoredPaper:
        """The result for ``paper``: the same whether the answer was asked or cached."""
        latency_s = round(time.perf_counter() - started, 4)
        scores = dict(score.__dict__["scores"])  # the Score may be shared (single-flight)
        parts = _RubricParts.of(rubric)
        return self._result(paper, parts, score.__dict__, scores, cached, latency_s)

    @staticmethod
    def _result(
        paper: Paper,
        parts: _RubricParts,
        field: dict[str, Any],
        scores: dict[str, int],
        cached: bool,
        latency_s: float,
    ) -> ScoredPaper:
        """See :meth:`_scored`; ``parts`` what the result takes from the rubric.

        ``field`` are a Score's fields (its ``__dict__``, or what :data:`_SCORE_FIELDS`
        read), ``scores`` its ``scores`` as the result's own: a dict nothing else holds.
        """
        # Both parts were validated already (the Paper when read, the Score when it was
        # answered or read from the cache): a cached re-run makes 100,000 of these.
        values = {
            "paper": paper,
            "rubric": parts.name,
            "rubric_fingerprint": parts.fingerprint,
            "model": field["model"],
            "scores": scores,
            "justification": field["justification"],
            "passed": scores[parts.primary] >= parts.threshold,
            "cached": cached,
            "usage": NOTHING_SPENT if cached else field["usage"],
            "latency_s": latency_s,
            "error": None,
            "certainty": field["certainty"],
            "reviews": (),
            "needs_human": False,
        }
        return trusted(ScoredPaper, values, set(_SCORED_GIVEN))

    async def ascore_or_error(self, paper: Paper, rubric: Rubric) -> ScoredPaper:
        """Like :meth:`ascore`, but a failure stays with its paper as ``error``.

        A :class:`FatalBackendError` still raises: every other paper would fail
        the same way.
        """
        started = time.perf_counter()
        panel = self.panel(rubric)
        if panel is not None:  # keeps each model's answer (or error) with the paper
            return await panel.ascore(paper, rubric)
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
        ``paper`` (or use :meth:`ascore_tagged`). Duplicates are not merged
        here: :func:`scorer.engine._pipeline.score_stream` does that.
        """
        # Closed with this generator, so a consumer that stops early stops the requests.
        async with aclosing(
            self.ascore_tagged(_untagged(papers), rubric, concurrency=concurrency)
        ) as tagged:
            async for _, result in tagged:
                yield result

    def ascore_tagged(
        self,
        items: Iterable[tuple[_Tag, PaperLike]] | AsyncIterable[tuple[_Tag, PaperLike]],
        rubric: Rubric,
        *,
        concurrency: int = 8,
    ) -> AsyncGenerator[tuple[_Tag, ScoredPaper], None]:
        """:meth:`ascore_many` over ``(tag, paper)`` pairs: each result comes back with its tag.

        The tag is the caller's way back to where the paper came from (input
        positions, a label), so nothing has to be matched by object identity.
        """
        return one_by_one(self.ascore_tagged_batches(items, rubric, concurrency=concurrency))

    def ascore_tagged_batches(
        self,
        items: Iterable[tuple[_Tag, PaperLike]] | AsyncIterable[tuple[_Tag, PaperLike]],
        rubric: Rubric,
        *,
        concurrency: int = 8,
    ) -> AsyncGenerator[list[tuple[_Tag, ScoredPaper]], None]:
        """:meth:`ascore_tagged`, its results in lists: a run of cache hits is one step.

        See :func:`scorer.engine._fan_out.fan_out_batches`.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._connections = max(self._connections or 0, concurrency)
        slots = RequestSlots(
            concurrency,
            max_timeouts=self.settings.retry.max_consecutive_timeouts,
            timeout=self.settings.timeout,
            hint=self._timeout_hint(),
        )

        def start(paper: PaperLike) -> Coroutine[Any, Any, ScoredPaper]:
            return self.ascore_or_error(to_paper(paper), rubric)

        # Twice as many tasks as request slots: when a request finishes, a
        # task already waiting takes its slot at once, instead of the slot
        # idling while the loop hands out the result, reads the next paper
        # and starts a task (three trips round a busy event loop).
        def cached(papers: Sequence[PaperLike]) -> list[ScoredPaper | None]:
            return self.cached_results(papers, rubric)

        return fan_out_batches(items, start, window=2 * concurrency, slots=slots, ready=cached)

    async def _single_flight(
        self, key: str, paper: Paper, rubric: Rubric, method: ScoringMethod
    ) -> tuple[Score, bool]:
        dimensions = {d.name for d in rubric.dimensions}
        cache = self.cache
        hit = self._guarded(cache.get, key) if cache is not None else None
        if isinstance(hit, Score) and set(hit.scores) == dimensions:
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
            result = await self._claimed_or_asked(key, hit, dimensions, paper, rubric, method)
            future.set_result(result)
            return result
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters, if any, re-raise it themselves
            raise
        finally:
            del self._inflight[key]

    async def _claimed_or_asked(
        self,
        key: str,
        hit: Score | Claimed | None,
        dimensions: set[str],
        paper: Paper,
        rubric: Rubric,
        method: ScoringMethod,
    ) -> tuple[Score, bool]:
        """Another process's answer if it is paying for this key now, else ask the model."""
        cache = self.cache
        claimed = False
        if cache is not None and not isinstance(hit, Score):  # a stale Score: just re-ask
            answer = await self._claim_or_wait(cache, key, hit, dimensions)
            if answer is not None:
                return answer, True
            claimed = self.cache is not None
        try:
            request = method.score(self.backend, rubric, paper)
            slots = REQUEST_SLOTS.get()
            score = await (request if slots is None else slots.ask(request))
        except BaseException:
            if claimed and self.cache is not None:
                self._guarded(self.cache.release, key)  # let a waiting process try instead
            raise
        if self.cache is not None:
            self._guarded(self.cache.put, key, score)  # also ends our claim
        return score, False

    async def _claim_or_wait(
        self, cache: ResultCache, key: str, hit: Claimed | None, dimensions: set[str]
    ) -> Score | None:
        """Claim ``key`` for this process (None: go and pay), or the answer another one stored.

        Only on a cache miss, and one SQLite insert when nobody else holds the
        key, so the hot path stays cheap. A waiter polls with backoff; a claim
        ends when its answer is stored, its claimant gives up or dies, or it
        expires (``_claim_ttl``).
        """
        delay = _FIRST_POLL_S
        state: Score | Claimed | None = hit
        while True:
            if not isinstance(state, Claimed):
                won = self._guarded(cache.claim, key, ttl=self._claim_ttl())
                if won is not False:
                    return None  # ours now (or the cache failed: go on without it)
            else:
                await self._sleep(delay)
                delay = min(2 * delay, _LAST_POLL_S)
            state = self._guarded(cache.get, key)
            if self._cache_off:
                return None
            if isinstance(state, Score):
                return state if set(state.scores) == dimensions else None

    def _claim_ttl(self) -> float:
        """How long a claim holds if its claimant neither answers nor dies (e.g. another host)."""
        return max(30.0, 2 * self.settings.timeout)

    def _guarded(self, op: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        """``op()``; if the cache fails mid-run, warn once and go on without it (None)."""
        try:
            return op(*args, **kwargs)
        except CacheError as exc:
            if not self._cache_off:
                self._cache_off = True
                _log.warning(
                    "warning: %s; scoring goes on without the cache (results are still written)",
                    exc,
                )
            return None

    def _timeout_hint(self) -> str:
        """What a user whose endpoint does not answer should check."""
        if self.settings.uses_embedded:
            return "raise --timeout (SCORER_TIMEOUT) or lower --concurrency"
        url = without_userinfo(self.settings.base_url or "the OpenAI default")
        return f"check OPENAI_BASE_URL ({url}) or raise --timeout (SCORER_TIMEOUT)"

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


async def _untagged(
    papers: Iterable[PaperLike] | AsyncIterable[PaperLike],
) -> AsyncIterator[tuple[None, PaperLike]]:
    async for paper in async_iter(papers):
        yield None, paper
