"""The FastAPI app: routes, auth, limits, metrics and one shared scoring engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from starlette.routing import Route

from scorer import __version__
from scorer._errors import ScorerError
from scorer._rubric import builtin_rubric_names, load_rubric
from scorer._settings import Settings
from scorer.backends import backend_for
from scorer.backends._limited import DEFAULT_MAX_INFLIGHT, LimitedBackend
from scorer.engine._scorer import Scorer
from scorer.service._auth import BearerAuthMiddleware
from scorer.service._errors import error_handler, request_validation_error
from scorer.service._limits import BodyLimitMiddleware
from scorer.service._metrics import MetricsMiddleware
from scorer.service._query import QueryCredentialMiddleware
from scorer.service._routes import api, public
from scorer.service._state import ServiceState

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_MAX_BATCH = 1000
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024

_DESCRIPTION = """\
Relevance scoring of research papers with an LLM: a paper and a rubric in,
an integer 0-100 per rubric dimension and a one-line justification out.
Results are cached: the same paper under the same rubric and model is sent
to the model once, across requests and processes.

When the server has a token (`SCORER_API_TOKEN`), every path except
`/healthz` and the API docs needs `Authorization: Bearer <token>`; a
credential in the URL (`?token=`, `?api_key=`, ...) is refused with a 400.
"""


def create_app(
    settings: Settings,
    *,
    api_token: str | None,
    max_batch: int = DEFAULT_MAX_BATCH,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    concurrency: int = 16,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
) -> FastAPI:
    """The HTTP service scoring with ``settings``.

    One :class:`~scorer.engine._scorer.Scorer` is created when the app starts (in its
    lifespan, on the serving event loop) and closed when it stops, so every
    request shares its cache, connections and in-flight requests.
    ``api_token`` turns on bearer-token auth. ``max_body_bytes`` (413 above
    it) bounds a request body, ``max_batch`` the papers of one batch (413),
    ``concurrency`` the model requests in flight for one batch, and
    ``max_inflight`` those of all requests together.
    """
    if min(max_batch, concurrency, max_body_bytes, max_inflight) < 1:
        raise ValueError("max_batch, concurrency, max_body_bytes and max_inflight must be positive")
    state = ServiceState(
        settings=settings,
        rubrics={name: load_rubric(name) for name in builtin_rubric_names()},
        max_batch=max_batch,
        concurrency=concurrency,
        api_token=api_token or None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Made here, on the serving event loop, which the semaphore belongs to.
        backend = LimitedBackend(
            lambda: backend_for(settings, connections=max_inflight),
            limit=max_inflight,
            model_id=settings.model_id,
        )
        async with Scorer(settings, backend=backend) as scorer:
            state.scorer = scorer
            try:
                yield
            finally:
                state.scorer = None

    app = FastAPI(
        title="scorer",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = state
    app.include_router(public)
    # The dependency only declares the scheme in the OpenAPI schema (so the
    # docs page can send the token); BearerAuthMiddleware enforces it.
    auth_docs = [Security(HTTPBearer(auto_error=False))] if state.api_token else []
    app.include_router(api, dependencies=auth_docs)

    app.add_exception_handler(ScorerError, error_handler(*state.secrets))
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if state.api_token:
        app.add_middleware(BearerAuthMiddleware, token=state.api_token)
    app.add_middleware(QueryCredentialMiddleware)
    # Middleware added last runs first: metrics (counting every answer), then
    # credentials in the URL (refused even with a valid token: the URL is
    # already in someone's log), then auth (before any of the body is read),
    # then the body limit. Metrics label by path template, matched on the
    # routes as declared (FastAPI nests routers).
    routes = [*public.routes, *api.routes, *(r for r in app.routes if isinstance(r, Route))]
    app.add_middleware(MetricsMiddleware, metrics=state.metrics, routes=routes)
    return app
