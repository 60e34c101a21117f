"""Property-based fuzzing of the live service from its own OpenAPI schema: no 5xx, ever.

schemathesis generates valid and invalid requests for every operation (bodies,
paths, headers) and sends them over HTTP to the app under uvicorn, with a
valid token, so they reach the handlers; the fake model answers at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from scorer import RetryPolicy, Settings
from scorer.service import create_app
from scorer.service._background import serve_in_thread
from scorer.testing import FakeOpenAI

TOKEN = "fuzz-token-3c1d9e"


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """The batch endpoint's NDJSON body, as generated (lone surrogates become bad UTF-8)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def live_service(
    fake_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    cache_dir: Path = tmp_path_factory.mktemp("fuzz-cache")
    model = Settings.resolve(
        env={},
        base_url=fake_server.base_url,
        api_key="sk-test-fuzz-0123456789",
        model="fake-model",
        cache_dir=cache_dir,
        timeout=5.0,
        retry=RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.05, jitter=0.01),
    )
    app = create_app(model, api_token=TOKEN, max_batch=20, max_body_bytes=64 * 1024)
    with serve_in_thread(app) as base_url:
        yield base_url


# The schema the live app publishes (created the same way, minus the model), loaded at
# collection time: schemathesis.pytest.from_fixture() fails on pytest 9.2 (it sets the
# private Function._nodeid), so the schema cannot come from the fixture itself.
schema = schemathesis.openapi.from_dict(
    create_app(Settings.resolve(env={}), api_token=TOKEN).openapi()
)


def test_the_fuzzed_schema_is_the_served_one(live_service: str) -> None:
    served = httpx.get(f"{live_service}/openapi.json", trust_env=False, verify=False).json()
    assert served == create_app(Settings.resolve(env={}), api_token=TOKEN).openapi()


@pytest.fixture(scope="module")
def http_session() -> Iterator[requests.Session]:
    """One keep-alive connection pool for every generated request (not one per call)."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(
    case: schemathesis.Case, live_service: str, http_session: requests.Session
) -> None:
    case.call_and_validate(
        base_url=live_service,
        session=http_session,
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error],
    )
