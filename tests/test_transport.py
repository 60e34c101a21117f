"""The HTTP transport under the SDK, as a user chooses it: ``--transport`` / ``SCORER_TRANSPORT``.

What each transport carries (retries, timeouts, error mapping, redaction) is
tested on both in tests/test_backend_openai.py and tests/test_engine_faults.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scorer.backends._transport import http_client, tls_context
from scorer.cli import cli
from scorer.testing import FakeOpenAI


def write_papers(path: Path, count: int) -> Path:
    lines = [
        json.dumps({"title": f"Paper {i}", "abstract": f"Paging the KV cache, take {i}."})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_a_batch_ends_with_every_connection_closed(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, transport: str
) -> None:
    # As a user runs it, with Python told to turn resource warnings into errors:
    # a client left open would print "Unclosed client session" as the process ends.
    papers = write_papers(tmp_path / "in.jsonl", 5)
    env = {
        **os.environ,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test-transport",
        "SCORER_TRANSPORT": transport,
    }
    argv = ["batch", str(papers), "-r", "llm-inference", "-o", str(tmp_path / "out.csv")]
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-m", "scorer", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "scored 5" in done.stderr
    assert "Unclosed" not in done.stderr and "ResourceWarning" not in done.stderr
    assert fake.count == 5


def test_an_unknown_transport_is_one_line_before_anything_is_sent(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    papers = write_papers(tmp_path / "in.jsonl", 1)
    env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "k", "SCORER_TRANSPORT": "curl"}
    argv = ["batch", str(papers), "-r", "llm-inference", "-o", str(tmp_path / "out.csv")]
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == 2, result.output
    assert "transport must be aiohttp or httpx, not 'curl'" in result.stderr
    assert "Traceback" not in result.output
    assert fake.count == 0


def test_clients_share_one_tls_context_until_the_certificate_setting_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Loading the CA bundle costs 50-150 ms of CPU, once per process, not once per client.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = tls_context()
    assert tls_context() is first
    assert http_client("httpx")._transport._pool._ssl_context is first  # type: ignore[attr-defined]
    # A bundle the user names is read when a client is made, not when scorer was imported.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
    with pytest.raises(FileNotFoundError):
        tls_context()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_requests_go_through_the_proxy_the_environment_names_unless_no_proxy_says(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, transport: str
) -> None:
    # An endpoint only the proxy could reach; the fake plays the proxy, and answers
    # the absolute URL a proxy is sent with its "Invalid URL" 404.
    papers = write_papers(tmp_path / "in.jsonl", 3)
    proxy = fake.base_url.removesuffix("/v1")
    env = {
        "OPENAI_BASE_URL": "http://endpoint.scorer-test.invalid/v1",
        "OPENAI_API_KEY": "k",
        "SCORER_TRANSPORT": transport,
        "HTTP_PROXY": proxy,
        "http_proxy": proxy,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    argv = ["batch", str(papers), "-r", "llm-inference", "-o", str(tmp_path / "out.csv")]
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == 3, result.output
    assert "POST /http://endpoint.scorer-test.invalid/v1/chat/completions" in result.stderr

    # The fake itself, with a proxy that refuses connections: NO_PROXY sends them direct.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env.update(
        OPENAI_BASE_URL=fake.base_url,
        HTTP_PROXY=dead,
        http_proxy=dead,
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
        SCORER_CACHE_DIR=str(tmp_path / "another-cache"),
    )
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == 0, result.output
    assert "scored 3" in result.stderr
    assert fake.count == 3
