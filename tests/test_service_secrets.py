"""Secrets never reach a log or a client: ``scorer serve`` run as a user runs it, its stdout
and stderr (uvicorn's access and error logs) read in full, the fake OpenAI server behind it."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
from subprocesses import SCORER, started

from scorer.service._logs import SecretFilter
from scorer.testing import FakeOpenAI, Reply
from scorer.testing._replies import error_body

TOKEN = "svc-token-Hs81Kd0Qp3"
# Not sk-shaped, as a vLLM or LiteLLM key may be: only its own value says it is a key.
API_KEY = "loc-Kq7vZ2mW9xR4tB8nY1pD"
KEY_FRAGMENTS = (API_KEY, API_KEY[:8], API_KEY[:6], API_KEY[-4:])
PAPER = {"title": "A paper about KV caches", "abstract": "We move KV caches to storage."}
BANNER = re.compile(r"serving on (http://\S+) \(")


@contextlib.contextmanager
def scorer_serve(fake: FakeOpenAI, cache: Path, *args: str) -> Iterator[tuple[str, list[str]]]:
    """``scorer serve --port 0`` in a process of its own; yields its URL and (after the block) its
    whole output, stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCORER_"))}
    env |= {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": API_KEY,
        "SCORER_MODEL": "fake-model",
        "SCORER_CACHE_DIR": str(cache),
        "SCORER_API_TOKEN": TOKEN,
    }
    with started(
        [SCORER, "serve", "--port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:  # its group is killed if it outlives the block
        output: list[str] = []
        banner: queue.Queue[str] = queue.Queue()

        def read(stream: io.TextIOBase) -> None:
            for line in stream:
                output.append(line)
                if BANNER.search(line):
                    banner.put(line)

        readers = [
            threading.Thread(target=read, args=(s,), daemon=True)
            for s in (proc.stdout, proc.stderr)
        ]
        for reader in readers:
            reader.start()
        try:
            found = BANNER.search(banner.get(timeout=60))
            assert found is not None
            yield found[1], output
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            for reader in readers:
                reader.join(timeout=5)
    assert "Traceback" not in "".join(output)


def test_a_token_in_the_query_string_is_refused_and_never_logged(
    fake: FakeOpenAI, isolated_env: Path
) -> None:
    secrets = [f"query-secret-{i}-Zx81" for i in range(5)]
    with scorer_serve(fake, isolated_env) as (url, output):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(
            base_url=url, headers=headers, trust_env=False, verify=False, timeout=20
        ) as client:
            refused = [
                client.get(f"/v1/rubrics?token={secrets[0]}"),
                client.post(f"/v1/score?api_key={secrets[1]}", json={"paper": PAPER}),
                client.get(f"/healthz?access_token={secrets[2]}"),
                client.get(f"/v1/rubrics?limit=1&KEY={secrets[3]}"),
                httpx.get(
                    f"{url}/v1/rubrics?token={TOKEN}", trust_env=False, verify=False
                ),  # the real one
            ]
            fine = client.get(f"/v1/rubrics?q={secrets[4]}")  # not a credential: served
    assert [r.status_code for r in refused] == [400] * 5
    assert "credentials in the URL are refused (query parameter 'token')" in refused[0].text
    assert "'Authorization: Bearer <token>'" in refused[0].text
    assert "(query parameter 'key')" in refused[3].text
    assert fake.count == 0
    assert fine.status_code == 200
    log = "".join(output)
    assert '"GET /v1/rubrics HTTP/1.1" 400' in log  # the access log is on, without the query
    for secret in [*secrets, TOKEN]:
        assert secret not in log
    for answer in refused:
        assert not any(secret in answer.text for secret in [*secrets, TOKEN])


def masked(key: str) -> str:
    """The key as OpenAI echoes it in a 401."""
    return f"{key[:8]}{'*' * 16}{key[-4:]}"


def echoing_401(shown: str) -> Reply:
    message = f"Incorrect API key provided: {shown}. You can find your API key at https://x.test/."
    return Reply(status=401, body=error_body(message, "invalid_request_error", "invalid_api_key"))


def test_an_api_key_echoed_by_the_endpoint_reaches_neither_client_nor_log(
    fake: FakeOpenAI, isolated_env: Path
) -> None:
    with scorer_serve(fake, isolated_env) as (url, output):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(
            base_url=url, headers=headers, trust_env=False, verify=False, timeout=20
        ) as client:
            fake.enqueue(echoing_401(masked(API_KEY)))
            single = client.post("/v1/score", json={"paper": PAPER, "rubric": "llm-inference"})
            fake.enqueue(Reply(), echoing_401(f"{API_KEY[:6]}...{API_KEY[-4:]}"))
            papers = [{"title": f"P{i}", "abstract": f"A{i}"} for i in range(4)]
            body = {"papers": papers, "rubric": "llm-inference", "concurrency": 1}
            batch = client.post("/v1/score/batch", json=body)
            fake.enqueue(echoing_401(API_KEY))  # verbatim
            verbatim = client.post(
                "/v1/score", json={"paper": papers[3], "rubric": "llm-inference"}
            )
    assert single.status_code == 502 and single.json()["error"] == "FatalBackendError"
    assert "Incorrect API key provided: ***" in single.json()["detail"]
    assert batch.status_code == 200 and '"type":"FatalBackendError"' in batch.text
    assert verbatim.status_code == 502
    log = "".join(output)
    assert log.count("FatalBackendError") == 3  # the operator learns of each rejected key
    for fragment in KEY_FRAGMENTS:
        for text in (single.text, batch.text, verbatim.text, log):
            assert fragment not in text


def test_the_log_filter_takes_secrets_out_of_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter((API_KEY, TOKEN)))
    log = logging.getLogger("test_service_secrets")
    log.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"upstream said: bad key {masked(API_KEY)} (sent {API_KEY})")
        except RuntimeError:
            log.exception("request failed for %s", f"/v1/score?token={TOKEN}")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "request failed for /v1/score" in text and "RuntimeError: upstream said" in text
    for fragment in (*KEY_FRAGMENTS, TOKEN):
        assert fragment not in text
