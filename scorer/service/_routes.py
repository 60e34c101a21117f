"""The endpoints. Thin: parse, hand to the engine, answer; no scoring logic here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from scorer._errors import BackendError
from scorer._models import ScoredPaper
from scorer._rubric import Rubric
from scorer.service._bodies import SafeJSONRoute, invalid_records
from scorer.service._metrics import METRICS_CONTENT_TYPE
from scorer.service._schemas import (
    RUBRIC_NAME_PATTERN,
    BatchRequest,
    ErrorBody,
    Health,
    RubricList,
    RubricSummary,
    ScoreRequest,
)
from scorer.service._state import ServiceState, service_state
from scorer.service._streaming import NDJSON, BatchStream

__all__ = ["api", "public"]

State = Annotated[ServiceState, Depends(service_state)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token (when auth is on)."},
    413: {"model": ErrorBody, "description": "Body or batch larger than the server's limits."},
    502: {"model": ErrorBody, "description": "The model endpoint refused or answered badly."},
    503: {"model": ErrorBody, "description": "The model endpoint kept failing (429s, 5xx)."},
}

public = APIRouter()
api = APIRouter(route_class=SafeJSONRoute)

_NDJSON_BODY = {
    "requestBody": {
        "content": {
            NDJSON: {
                "schema": {"type": "string"},
                "example": '{"rubric": "llm-inference"}\n'
                '{"title": "A paper", "abstract": "What it does."}\n',
            }
        }
    }
}


@public.get("/healthz", response_model=Health, tags=["service"])
async def healthz() -> Health:
    """Liveness: answers without authentication and without contacting the model."""
    return Health()


@api.get("/metrics", tags=["service"], response_class=Response)
async def metrics(state: State) -> Response:
    """Prometheus metrics: requests, papers, cache hits, model requests, tokens, latency."""
    # In a thread: pricing the tokens may first load the price database (about a second).
    body = await run_in_threadpool(state.metrics.render)
    return Response(body, media_type=METRICS_CONTENT_TYPE)


@api.get("/v1/rubrics", response_model=RubricList, tags=["rubrics"])
async def list_rubrics(state: State) -> RubricList:
    """The built-in rubrics, by name."""
    return RubricList(rubrics=[_summary(r) for _, r in sorted(state.rubrics.items())])


@api.get(
    "/v1/rubrics/{name}",
    response_model=Rubric,
    tags=["rubrics"],
    responses={404: {"model": ErrorBody, "description": "No built-in rubric of that name."}},
)
async def get_rubric(
    state: State, name: Annotated[str, Path(pattern=RUBRIC_NAME_PATTERN)]
) -> Rubric:
    """One built-in rubric in full: a starting point for an inline rubric."""
    rubric = state.rubrics.get(name)
    if rubric is None:
        raise HTTPException(404, f"unknown rubric '{name}' (built-in: {', '.join(state.rubrics)})")
    return rubric


@api.post("/v1/score", response_model=ScoredPaper, tags=["scoring"], responses=_ERRORS)
async def score_one(request: ScoreRequest, state: State) -> Response:
    """Score one paper against a built-in rubric (by name) or an inline rubric object."""
    rubric = state.rubric(request.rubric)
    scorer = state.running_scorer()
    try:
        result = await scorer.ascore(request.paper, rubric)
    except BackendError as exc:
        state.metrics.observe_failure(exc.usage, scorer.model_id)
        raise
    state.metrics.observe(result)
    return Response(result.model_dump_json(), media_type="application/json")


@api.post(
    "/v1/score/batch",
    tags=["scoring"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "NDJSON, one line per unique paper as it finishes (a "
            "ScoredPaper; a failed paper has `error`), then, if the batch stopped early, "
            '`{"error": {...}}`, and always last `{"summary": {...}}`.',
            "content": {NDJSON: {"schema": {"type": "string"}}},
        },
        **_ERRORS,
    },
    openapi_extra=_NDJSON_BODY,
)
async def score_batch(
    request: BatchRequest, state: State, http_request: Request
) -> StreamingResponse:
    """Score many papers; stream each result as it finishes (``application/x-ndjson``).

    The body is JSON, or NDJSON (``Content-Type: application/x-ndjson``): a
    header line ``{"rubric": ..., "concurrency": ...}``, then one paper per
    line. A record that is not a paper (wrong types, a NUL character, nested
    too deeply, not JSON or not UTF-8) is one error line naming its ``index``
    or ``line``; the others are scored.
    Duplicates (same arXiv id, DOI, or title) are scored and listed once.
    More papers than the server's batch limit is a 413. An error that would
    fail every paper (rejected API key, no quota) is a 502 when it happens
    on the first paper, else an error line that ends the stream.
    """
    invalid = invalid_records(http_request)
    records = len(request.papers) + len(invalid)
    if records > state.max_batch:
        raise HTTPException(
            413,
            f"too many papers: {records} (at most {state.max_batch} per batch; split the request)",
        )
    rubric = state.rubric(request.rubric)
    concurrency = min(request.concurrency or state.concurrency, state.concurrency)
    stream = BatchStream(
        state.running_scorer(),
        request.papers,
        rubric,
        concurrency=concurrency,
        metrics=state.metrics,
        secrets=state.secrets,
        invalid=invalid,
    )
    await stream.start()
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream.lines(), media_type=NDJSON, headers=headers)


def _summary(rubric: Rubric) -> RubricSummary:
    return RubricSummary(
        name=rubric.name,
        title=rubric.title,
        description=rubric.description,
        threshold=rubric.threshold,
        dimensions=[d.name for d in rubric.dimensions],
        method=rubric.method,
    )
