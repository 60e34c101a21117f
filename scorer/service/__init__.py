"""The HTTP service (``scorer serve``): FastAPI over the same engine and cache as the CLI.

Endpoints: ``POST /v1/score``, ``POST /v1/score/batch`` (NDJSON stream),
``GET /v1/rubrics``, ``GET /v1/rubrics/{name}``, ``GET /healthz``,
``GET /metrics`` (Prometheus), and the OpenAPI schema at ``/openapi.json``.
See :func:`create_app`; :func:`serve` is the library call behind ``scorer serve``.
"""

from scorer.service._app import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, create_app
from scorer.service._server import serve

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_BODY_BYTES", "create_app", "serve"]
