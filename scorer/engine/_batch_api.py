"""Backfills through OpenAI's Batch API: submit once, collect later, at the batch price.

papers ──► cache? ──hit──► never submitted
             │miss (and not in an open batch)
             ▼
  the backend's own request body ──► JSONL ──► files.create ──► batches.create ──► state file
                                                                                     │ later run
  cache.put ◄── the backend's validation (re-ask online once) ◄── output/error files ◄┘

The request body is the one the online route sends first
(:meth:`OpenAICompatBackend.chat_request`), and answers are validated by the
same code (:meth:`OpenAICompatBackend.complete_answered`), so a paper gets
the same score either way. Results land in the cache; the outputs (CSV,
JSONL, digests) are then made by the normal pipeline, which finds every
answer there (:func:`batch_answers_scorer`). A paper whose request failed
(an error line, an expired or failed batch) fails in this run's outputs with
the reason, and the next run submits it again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import openai
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from scorer._errors import BackendError, ConfigError, FatalBackendError, redact
from scorer._models import Paper, Score
from scorer._rubric import Rubric
from scorer.backends._openai_compat import OpenAICompatBackend
from scorer.backends._retry import retrying, to_backend_error
from scorer.backends._transport import tls_context
from scorer.engine._batch_api_lines import (
    ENDPOINT,
    MAX_BATCH_REQUESTS,
    TERMINAL,
    batch_failure,
    endpoint_name,
    json_lines,
    not_run_reason,
    prompt_digest,
    request_files,
    usage_minus,
    usage_of,
)
from scorer.engine._batch_api_outcome import BatchApiRun, batch_answers_scorer, run_cost
from scorer.engine._batch_api_state import BatchApiState, OpenBatch, open_state
from scorer.engine._identity import dedupe_papers
from scorer.engine._scorer import Scorer
from scorer.methods._answer import response_model_for, to_score

__all__ = ["BatchApiRun", "batch_answers_scorer", "submit_or_collect"]

# Polling a running batch (--wait): batches take minutes to hours, so soon at
# first, then at most once a minute.
FIRST_POLL_S = 2.0
LAST_POLL_S = 60.0

_T = TypeVar("_T")
_P = ParamSpec("_P")
Sleep = Callable[[float], Awaitable[None]]


async def submit_or_collect(
    papers: Sequence[Paper],
    rubric: Rubric,
    scorer: Scorer,
    *,
    wait: bool = False,
    sleep: Sleep = asyncio.sleep,
    max_requests: int = MAX_BATCH_REQUESTS,
    on_event: Callable[[str], None] | None = None,
) -> BatchApiRun:
    """Collect the finished batches of earlier runs, submit the papers not yet asked.

    Papers in the cache are never submitted, nor are papers an open batch
    already carries (whatever input they came from). With ``wait`` it polls
    (capped backoff on ``sleep``) until this input's batches have ended.
    ``on_event`` hears one line per step (submitted, still running,
    collected). Raises :class:`ConfigError` for a backend or method the
    Batch API cannot serve, :class:`FatalBackendError` when the endpoint
    refuses the files or batches calls.
    """
    job = _Job(scorer, rubric, sleep=sleep, on_event=on_event or (lambda _: None))
    requests = job.requests_for(papers)
    async with job:
        with open_state(scorer.settings.cache_dir, job.scope()) as state:
            await job.collect_finished(state, requests)
            pending = state.pending_keys()
            fresh = {
                k: body
                for k, body in requests.items()
                if k not in pending and k not in job.run.failed and k not in job.run.collected_keys
            }
            await job.submit(state, fresh, max_requests)
            delay = FIRST_POLL_S
            if wait and job.blocking(state):
                # A small batch can end within a second: look before the first sleep.
                await job.collect_finished(state, requests)
            while wait and job.blocking(state):
                await sleep(delay)
                delay = min(2 * delay, LAST_POLL_S)
                await job.collect_finished(state, requests)
            job.run.running = [
                (b.id, job.status.get(b.id, "in_progress"), len(b.keys))
                for b in job.blocking(state)
            ]
    job.run.cost_usd = run_cost(scorer.model_id, job.run)
    return job.run


class _Job:
    """One invocation's work: the requests, the client, and the run's report."""

    def __init__(
        self, scorer: Scorer, rubric: Rubric, *, sleep: Sleep, on_event: Callable[[str], None]
    ) -> None:
        settings = scorer.settings
        # Checked before .backend, which would start the embedded model.
        backend = None if settings.uses_embedded else scorer.backend
        if not isinstance(backend, OpenAICompatBackend):
            raise ConfigError(
                "--batch-api needs an OpenAI-compatible endpoint with the Batch API "
                "(OPENAI_BASE_URL/OPENAI_API_KEY), not the embedded model"
            )
        spec = scorer.method(rubric).spec
        if not spec.is_default:
            raise ConfigError(
                f"--batch-api scores with the generate method (one request per paper), "
                f"not {spec}; use --method generate"
            )
        if scorer.cache is None:
            raise ConfigError("--batch-api keeps its answers in the cache: drop --no-cache")
        self.scorer = scorer
        self.rubric = rubric
        self.backend = backend
        self.cache = scorer.cache
        self.run = BatchApiRun()
        self.status: dict[str, str] = {}
        self._sleep = sleep
        self._event = on_event
        self._key = settings.api_key.get_secret_value() if settings.api_key else "not-needed"
        self._answer_model = backend.chat_request([], response_model_for(rubric))[0]
        self._digests: dict[str, str] = {}  # cache key -> prompt digest, for this input
        self._client: openai.AsyncOpenAI | None = None

    async def __aenter__(self) -> _Job:
        settings = self.scorer.settings
        self._client = openai.AsyncOpenAI(
            api_key=self._key,
            base_url=settings.base_url,
            # Uploads and downloads of up to 200 MB take longer than one answer.
            timeout=max(settings.timeout, 300.0),
            max_retries=0,  # tenacity owns retries, as for chat requests
            # The SDK's own client, with the process's one TLS context (see tls_context).
            http_client=openai.DefaultAsyncHttpxClient(verify=tls_context()),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()

    def scope(self) -> dict[str, str]:
        """What names this run's batches: the same answers come from the same scope."""
        settings = self.scorer.settings
        method = self.scorer.method(self.rubric)
        return {
            "endpoint": endpoint_name(settings.base_url),
            "model": self.scorer.model_id,
            "rubric": self.rubric.name,
            "rubric_fingerprint": self.rubric.fingerprint,
            "prompt": method.prompt.content_hash,
            "sampling": json.dumps(settings.sampling.as_request(), sort_keys=True),
        }

    def requests_for(self, papers: Sequence[Paper]) -> dict[str, dict[str, Any]]:
        """Request bodies by cache key, for the papers not in the cache (each once)."""
        dimensions = {d.name for d in self.rubric.dimensions}
        model = response_model_for(self.rubric)
        method = self.scorer.method(self.rubric)
        requests: dict[str, dict[str, Any]] = {}
        shared: dict[str, Any] | None = None  # the body's fields that do not depend on the paper
        for paper in dedupe_papers(papers):
            self.run.unique += 1
            key, sent = self.scorer.cache_key_for(paper, self.rubric)
            if key in requests:
                continue
            hit = self.cache.get(key)
            if isinstance(hit, Score) and set(hit.scores) == dimensions:
                self.run.cached += 1
                continue
            messages = method.prompt.messages(self.rubric, sent)
            if shared is None:
                body = self.backend.chat_request(messages, model)[1]
                # The backend's body for one paper is the body for all, but for the
                # messages (its JSON schema is copied afresh each call, ~0.5 ms).
                if body["messages"] == messages:
                    shared = {k: v for k, v in body.items() if k != "messages"}
            else:
                body = {**shared, "messages": messages}
            requests[key] = body
            self.run.input_keys.add(key)
            self._digests[key] = prompt_digest(messages)
        if self.run.cached:
            self._event(f"{self.run.cached} paper(s) already in the cache are not submitted")
        return requests

    def blocking(self, state: BatchApiState) -> list[OpenBatch]:
        """The open batches that carry papers of this input."""
        return [b for b in state.batches if not self.run.input_keys.isdisjoint(b.keys)]

    async def submit(
        self, state: BatchApiState, requests: Mapping[str, dict[str, Any]], max_requests: int
    ) -> None:
        for keys, data in request_files(requests, max_requests):
            name = f"scorer-{self.rubric.name}.jsonl"
            file = await self._call(
                "uploading the batch input",
                self._api.files.create,
                file=(name, data),
                purpose="batch",
            )
            batch = await self._call(
                "creating the batch",
                self._api.batches.create,
                input_file_id=file.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"scorer_rubric": self.rubric.name[:500]},
            )
            # Saved at once: a second run must find it, whatever happens next.
            state.add(OpenBatch(id=batch.id, input_file_id=file.id, keys=keys))
            self.status[batch.id] = batch.status
            self.run.submitted.append((batch.id, len(keys)))
            self._event(f"submitted batch {batch.id} with {len(keys)} request(s)")

    async def collect_finished(
        self, state: BatchApiState, requests: Mapping[str, dict[str, Any]]
    ) -> None:
        """Look at each open batch once; collect those that have ended."""
        for open_batch in list(state.batches):
            batch = await self._call(
                f"checking batch {open_batch.id}", self._api.batches.retrieve, open_batch.id
            )
            self.status[batch.id] = batch.status
            if batch.status not in TERMINAL:
                counts = batch.request_counts
                done = f" ({counts.completed}/{counts.total} done)" if counts else ""
                self._event(f"batch {batch.id} is {batch.status}{done}")
                continue
            await self._collect(batch, open_batch, requests)
            state.remove(batch.id)

    async def _collect(
        self, batch: Batch, open_batch: OpenBatch, requests: Mapping[str, dict[str, Any]]
    ) -> None:
        unanswered = set(open_batch.keys)
        bodies = _LazyBodies(self, open_batch.input_file_id, requests)
        collected_before, failed_before = self.run.collected, len(self.run.failed)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for line in await self._lines(file_id):
                key = line.get("custom_id")
                if not isinstance(key, str) or key not in unanswered:
                    continue
                unanswered.discard(key)
                await self._take(key, line, bodies)
        why = batch_failure(batch)
        for key in unanswered:
            self._fail(key, why)
        self._event(
            f"collected batch {batch.id} ({batch.status}): "
            f"{self.run.collected - collected_before} answer(s), "
            f"{len(self.run.failed) - failed_before} failed"
        )

    async def _take(self, key: str, line: dict[str, Any], bodies: _LazyBodies) -> None:
        """Validate one output line and store its answer, or note why the paper failed."""
        response = line.get("response")
        if not isinstance(response, dict):
            error = line.get("error") or {}
            code = str(error.get("code") or "")
            why = not_run_reason(code, error.get("message"))
            self._fail(key, why)
            return
        status = response.get("status_code")
        body = response.get("body")
        if status != 200:
            detail = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            message = detail.get("message") if isinstance(detail, dict) else None
            self._fail(key, f"the Batch API answered HTTP {status}: {message}")
            return
        try:
            answered = ChatCompletion.model_validate(body)
        except ValidationError:
            self._fail(key, "the batch's answer is not a chat completion")
            return
        request = await bodies.get(key)
        if request is None:
            self._fail(key, "the batch's input file is gone: cannot check the answer")
            return
        first = usage_of(answered)
        self.run.batch_usage = self.run.batch_usage + first
        try:
            completion = await self.backend.complete_answered(self._answer_model, request, answered)
        except FatalBackendError:
            raise
        except BackendError as exc:
            self.run.online_usage = self.run.online_usage + usage_minus(exc.usage or first, first)
            self._fail(key, str(exc))
            return
        self.run.online_usage = self.run.online_usage + usage_minus(completion.usage, first)
        score = to_score(
            completion.answer, self.rubric, model_id=self.scorer.model_id, usage=completion.usage
        )
        self.cache.put(key, score)
        self.run.collected += 1
        self.run.collected_keys.add(key)

    def _fail(self, key: str, why: str) -> None:
        why = redact(why, self._key)
        self.run.failed[key] = why
        digest = self._digests.get(key)
        if digest is not None:  # a paper of this input: its output row says why
            self.run.reasons[digest] = f"{why}; the next run submits it again"

    async def _lines(self, file_id: str) -> list[dict[str, Any]]:
        content = await self._call(f"downloading file {file_id}", self._api.files.content, file_id)
        return json_lines(content.text)

    @property
    def _api(self) -> openai.AsyncOpenAI:
        if self._client is None:
            raise RuntimeError("use the job as an async context manager")
        return self._client

    async def _call(
        self,
        doing: str,
        call: Callable[_P, Awaitable[_T]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """One files/batches call, with the chat requests' transport retries."""
        attempts = 0
        try:
            async for attempt in retrying(self.scorer.settings.retry, self._sleep):
                with attempt:
                    attempts += 1
                    result = await call(*args, **kwargs)
        except Exception as exc:
            error = to_backend_error(exc, attempts=attempts)
            error.args = (redact(f"Batch API, {doing}: {error}", self._key),)
            error.body = None  # the message says it; a body could echo the request
            raise error from exc
        return result


class _LazyBodies:
    """Request bodies by key: this input's, else read from the batch's input file once."""

    def __init__(self, job: _Job, input_file_id: str, known: Mapping[str, dict[str, Any]]):
        self.known = known
        self._job = job
        self._file_id = input_file_id
        self._loaded: dict[str, dict[str, Any]] | None = None

    async def get(self, key: str) -> dict[str, Any] | None:
        if key in self.known:
            return self.known[key]
        if self._loaded is None:
            try:
                lines = await self._job._lines(self._file_id)
            except BackendError:
                lines = []
            self._loaded = {
                line["custom_id"]: line["body"]
                for line in lines
                if isinstance(line.get("custom_id"), str) and isinstance(line.get("body"), dict)
            }
        return self._loaded.get(key)
