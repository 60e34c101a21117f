"""Faults of the model endpoint in a batch: which ones stay with their paper, which stop the run.

`scorer batch` as a user types it (click's CliRunner) against the fake server, whose
rules answer each paper by its title whatever order the requests arrive in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scorer.cli import cli
from scorer.testing import FakeOpenAI, Reply

KEY = "sk-test-faults-0123456789abcdef"
# Faults must read the same whichever transport carries the requests (--transport).
both_transports = pytest.mark.parametrize("transport", ["aiohttp", "httpx"])


def write_papers(path: Path, titles: list[str]) -> Path:
    lines = [
        json.dumps({"title": title, "abstract": f"{title}: paging the KV cache of an LLM server."})
        for title in titles
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def batch(
    fake: FakeOpenAI,
    cache: Path,
    papers: Path,
    out: Path,
    *args: str,
    transport: str | None = None,
    **env: str,
) -> Result:
    environment = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": KEY,
        "SCORER_CACHE_DIR": str(cache),
        **env,
    }
    argv = ["batch", str(papers), "-r", "llm-inference", "-o", str(out), *args]
    if transport is not None:
        argv += ["--transport", transport]
    return CliRunner().invoke(cli, argv, env=environment)


def rows(out: Path) -> dict[str, dict[str, object]]:
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return {str(r["title"]): r for r in records}


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "error" in line.lower()]


# -- a refusal about one paper fails that paper only -------------------------------------------


@both_transports
def test_context_length_and_content_filter_refusals_fail_their_papers_and_the_batch_goes_on(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, transport: str
) -> None:
    titles = [f"Paper {i:02d}" for i in range(12)]
    fake.answer_when("Paper 03", Reply.context_length_exceeded())
    fake.answer_when("Paper 07", Reply.content_filtered())
    out = tmp_path / "out.jsonl"

    result = batch(
        fake, isolated_env, write_papers(tmp_path / "in.jsonl", titles), out, transport=transport
    )

    assert result.exit_code == 1, result.output  # some papers failed; the run finished
    assert "Traceback" not in result.output
    assert "failed 2" in result.stderr
    by_title = rows(out)
    assert set(by_title) == set(titles)
    assert "maximum context length" in str(by_title["Paper 03"]["error"])
    assert "content management policy" in str(by_title["Paper 07"]["error"])
    scored = [t for t, r in by_title.items() if not r.get("error")]
    assert len(scored) == 10
    assert fake.count == 12  # refusals are not retried
    assert KEY not in result.output


@both_transports
def test_an_unsupported_response_format_stops_the_batch_at_once(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, transport: str
) -> None:
    fake.always(Reply.unsupported_response_format())
    papers = write_papers(tmp_path / "in.jsonl", [f"Paper {i:02d}" for i in range(40)])

    result = batch(
        fake,
        isolated_env,
        papers,
        tmp_path / "out.jsonl",
        "--concurrency",
        "2",
        transport=transport,
    )

    assert result.exit_code == 3, result.output
    assert "response_format" in result.stderr
    assert fake.count <= 2  # the requests already in flight, not forty


# -- a hanging endpoint stops the run --------------------------------------------------------


QUICK = {"SCORER_TIMEOUT": "0.3", "SCORER_MAX_ATTEMPTS": "2", "SCORER_RETRY_MAX_WAIT": "0"}
# The other papers do not wait for the first request's verdict on the answer format: a
# request that never answers gives none.
QUICK["SCORER_PROBE_WAIT"] = "0"


@both_transports
def test_an_endpoint_that_never_answers_stops_the_batch_with_one_line(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, transport: str
) -> None:
    fake.always(Reply.hanging())
    papers = write_papers(tmp_path / "in.jsonl", [f"Paper {i:02d}" for i in range(40)])

    result = batch(
        fake,
        isolated_env,
        papers,
        tmp_path / "out.jsonl",
        "--concurrency",
        "2",
        transport=transport,
        **QUICK,
        SCORER_MAX_CONSECUTIVE_TIMEOUTS="3",
    )

    assert result.exit_code == 3, result.output
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "not answering: 3 requests in a row timed out after 0.3 s" in lines[0]
    assert "OPENAI_BASE_URL" in lines[0] and "--timeout" in lines[0]
    # Three papers' worth plus the one already in the other slot, each with its two
    # attempts; without the stop, all forty papers would be tried twice (80 requests).
    assert fake.count <= (3 + 2) * 2


@both_transports
def test_timeouts_between_answers_fail_only_their_papers(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, transport: str
) -> None:
    # A slow endpoint under load answers now and then: the papers that time out
    # fail, but never three in a row, so the run goes on to the end.
    # Three slow papers, one more than the stop allows in a row (each waits out two 0.3 s
    # attempts, so more of them would only add waiting).
    titles = [f"{'Slow' if i % 2 == 0 else 'Fast'} paper {i:02d}" for i in range(6)]
    fake.answer_when("Slow paper", Reply.hanging())
    out = tmp_path / "out.jsonl"

    result = batch(
        fake,
        isolated_env,
        write_papers(tmp_path / "in.jsonl", titles),
        out,
        "--concurrency",
        "1",
        transport=transport,
        **QUICK,
        SCORER_MAX_CONSECUTIVE_TIMEOUTS="2",
    )

    assert result.exit_code == 1, result.output
    by_title = rows(out)
    assert len(by_title) == 6
    assert all("timed out" in str(by_title[t]["error"]) for t in titles if t.startswith("Slow"))
    assert all(not by_title[t].get("error") for t in titles if t.startswith("Fast"))


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_retry_setting_is_one_line(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, value: str
) -> None:
    papers = write_papers(tmp_path / "in.jsonl", ["Paper 00"])
    result = batch(fake, isolated_env, papers, tmp_path / "out.jsonl", SCORER_MAX_ATTEMPTS=value)
    assert result.exit_code == 2, result.output
    assert "SCORER_MAX_ATTEMPTS" in result.stderr
    assert fake.count == 0
