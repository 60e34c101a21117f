"""The real embedded model (llama.cpp via xllamacpp, SmolLM2-135M), end to end, offline.

Values are not asserted: the model is small. What is asserted is that the
whole path works without any endpoint: a server starts in-process, answers
under the JSON schema, and results are valid and cached. The first test
need no model: they check the slot limit and slot use against the fake server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from subprocesses import run as run_group

from scorer import Paper, RetryPolicy, Settings, load_rubric, score, score_many
from scorer._local_model import DEMO_NOTICE
from scorer._settings import EMBEDDED_MODEL
from scorer.backends import OpenAICompatBackend
from scorer.backends._embedded import SLOTS, EmbeddedBackend, smollm2_gguf
from scorer.engine._scorer import Scorer
from scorer.methods._spec import parse_method
from scorer.testing import FakeOpenAI

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "seed_papers.jsonl"
LISTINGS = FIXTURE.read_text().splitlines()[:3]  # the file holds the seed's 50 listings
PAPERS = [Paper.model_validate(json.loads(line)) for line in LISTINGS]
RUBRIC = load_rubric("llm-inference")


def assert_schema_valid(result_scores: dict[str, int], justification: str) -> None:
    assert set(result_scores) == {"relevance", "hype"}
    assert all(0 <= value <= 100 for value in result_scores.values())
    assert 20 <= len(justification) <= 300


def test_requests_to_the_embedded_server_never_outnumber_its_slots(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    # 24 papers at concurrency 16 against a server with 2 slots, each answer
    # taking 0.1 s: the last papers wait ~1.2 s for a slot, longer than the
    # 1 s timeout. They still succeed, because the timeout starts when the
    # request is sent, and a request is only sent when a slot is free (a
    # llama.cpp server would otherwise queue it while its timeout runs out).
    fake.latency = 0.1
    settings = Settings.resolve(
        env={}, base_url=fake.base_url, model="fake-model", use_cache=False, timeout=1.0,
        retry=RetryPolicy(max_attempts=1),
    )  # fmt: skip
    papers = [{"title": f"Paper {i}", "abstract": f"Abstract {i}."} for i in range(24)]

    async def run() -> list[str | None]:
        backend = EmbeddedBackend(per_slot_backends(settings, fake.base_url), fake.base_url)
        async with Scorer(settings, backend=backend) as scorer:
            return [r.error async for r in scorer.ascore_many(papers, RUBRIC, concurrency=16)]

    errors = asyncio.run(run())
    assert errors == [None] * 24
    assert fake.count == 24 and fake.peak_in_flight == SLOTS
    assert {r["id_slot"] for r in fake.requests} == set(range(SLOTS))


def per_slot_backends(settings: Settings, url: str) -> list[OpenAICompatBackend]:
    """What embedded_backend() builds, pointed at ``url``: one backend per slot, naming it."""
    return [
        OpenAICompatBackend(
            base_url=url, api_key=None, model="fake-model", settings=settings,
            extra_body={"id_slot": slot},
        )
        for slot in range(SLOTS)
    ]  # fmt: skip


def test_a_papers_questions_go_to_one_slot_that_no_other_paper_uses_meanwhile(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    # llama.cpp keeps each slot's last prompt: the paper's second question,
    # sent to the slot that just read the paper, processes only its own few
    # tokens. That needs the same slot, and no other paper on it in between.
    fake.latency = 0.02
    settings = replace(fake_settings, method=parse_method("logprob"), use_cache=False)
    papers = [{"title": f"Paper {i}", "abstract": f"Abstract {i}."} for i in range(8)]

    async def run() -> None:
        backend = EmbeddedBackend(per_slot_backends(settings, fake.base_url), fake.base_url)
        async with Scorer(settings, backend=backend) as scorer:
            async for result in scorer.ascore_many(papers, RUBRIC, concurrency=8):
                assert result.error is None, result.error

    asyncio.run(run())
    assert fake.count == 16
    by_slot: dict[int, list[str]] = {}
    for request in fake.requests:
        title = request["messages"][-1]["content"].split("\n")[1]
        by_slot.setdefault(request["id_slot"], []).append(title)
    assert set(by_slot) == set(range(SLOTS))
    for titles in by_slot.values():  # each slot: pairs of one paper's two questions
        assert titles[0::2] == titles[1::2], titles


@pytest.mark.embedded
def test_library_scores_three_papers_offline(isolated_env: Path) -> None:
    results = list(score_many(PAPERS, RUBRIC, concurrency=2))
    assert sorted(r.paper.id or "" for r in results) == sorted(p.id or "" for p in PAPERS)
    for result in results:
        assert result.error is None, result.error
        assert result.model == EMBEDDED_MODEL
        assert not result.cached and result.usage.requests >= 1
        assert result.usage.prompt_tokens > 100
        assert_schema_valid(result.scores, result.justification)
        assert result.passed == (result.scores["relevance"] >= RUBRIC.threshold)

    again = score(PAPERS[0], "llm-inference")
    assert again.cached and again.usage.requests == 0


@pytest.mark.embedded
def test_cli_scores_offline_and_says_so(isolated_env: Path) -> None:
    paper = PAPERS[1]
    env = {**os.environ, "SCORER_CACHE_DIR": str(isolated_env)}
    command = [
        sys.executable, "-c", "from scorer.cli import main; main()",
        "score", "--rubric", "llm-inference",
        "--title", paper.title, "--abstract", paper.abstract, "--format", "json",
    ]  # fmt: skip
    done = run_group(command, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "embedded SmolLM2-135M" in done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == EMBEDDED_MODEL
    assert_schema_valid(result["scores"], result["justification"])


@pytest.mark.embedded
def test_batch_writes_markdown_and_html_digests_offline(isolated_env: Path, tmp_path: Path) -> None:
    """The main job, on a slice of the seed fixture with two duplicate listings."""
    lines = (FIXTURE.parent / "seed_papers.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    picked = [rows[0], rows[8], rows[10], rows[43], rows[44]]  # 43 and 44 repeat 8 and 10
    source = tmp_path / "papers.csv"
    source.write_text("\n".join([header, *picked]) + "\n", encoding="utf-8")
    md, html, rows_out = tmp_path / "digest.md", tmp_path / "digest.html", tmp_path / "out.csv"
    env = {**os.environ, "SCORER_CACHE_DIR": str(isolated_env)}
    command = [
        sys.executable, "-m", "scorer", "batch", str(source), "-r", "llm-inference",
        "--threshold", "0", "-o", str(md), "-o", str(html), "-o", str(rows_out),
    ]  # fmt: skip
    done = run_group(command, env=env, timeout=300)

    assert done.returncode == 0, done.stderr
    assert "scanned 5, unique 3, scored 3" in done.stderr
    digest = md.read_text(encoding="utf-8")
    assert "**3** papers above threshold (0/100) out of **3** total scanned." in digest
    titles = [line for line in digest.splitlines() if line.startswith("### ")]
    assert len(titles) == len(set(titles)) == 3
    page = html.read_text(encoding="utf-8")
    assert all(t[4:].replace("'", "&#x27;") in page for t in titles)
    assert len(rows_out.read_text(encoding="utf-8").splitlines()) == 4  # header + 3 papers


@pytest.mark.embedded
def test_embedded_server_is_ready_when_started_and_stops_cleanly() -> None:
    # Runs in a child process: a hang in the server's destructor (it joined
    # threads that had not started yet, about 1 stop in 15) would hang pytest.
    script = """
import urllib.request
from scorer.backends._embedded import EmbeddedServer

for _ in range(5):
    address = EmbeddedServer.base_url().removesuffix("/v1")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(address + "/health", timeout=5) as reply:
        assert reply.status == 200, reply.status
    EmbeddedServer.stop()
print("ok")
"""
    run = run_group([sys.executable, "-c", script], timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "ok"


def run_cli(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``scorer ARGS`` in a child process, as a user runs it, on an offline environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCORER_"))}
    return run_group(
        [sys.executable, "-m", "scorer", *args],
        env={**clean, "SCORER_CACHE_DIR": str(cache), **env},
        timeout=600,
    )


@pytest.mark.embedded
def test_the_demo_notice_shows_when_the_model_runs_not_on_a_cached_rerun(
    isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "papers.jsonl"
    source.write_text(FIXTURE.read_text(encoding="utf-8").splitlines()[0] + "\n")
    args = ["batch", str(source), "-r", "llm-inference", "-o", str(tmp_path / "out.csv")]

    first = run_cli(args, isolated_env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(DEMO_NOTICE) == 1
    again = run_cli(args, isolated_env)
    assert again.returncode == 0, again.stderr
    assert "cached 1" in again.stderr
    assert "SmolLM2" not in again.stderr  # nothing ran: no notice


@pytest.mark.embedded
def test_a_gguf_file_given_by_path_scores_offline_with_its_own_name(
    isolated_env: Path, tmp_path: Path
) -> None:
    paper = PAPERS[0]
    gguf = tmp_path / "my model.gguf"  # a copy: the id follows the content, not the path
    gguf.symlink_to(smollm2_gguf())
    args = ["score", "-r", "llm-inference", "--title", paper.title, "--abstract", paper.abstract]
    done = run_cli([*args, "--format", "json"], isolated_env, SCORER_MODEL=str(gguf))

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"].startswith("my model.gguf#")
    assert result["model"] != EMBEDDED_MODEL
    assert_schema_valid(result["scores"], result["justification"])
    assert "SmolLM2" not in done.stderr  # the demo notice is for the bundled demo model
    # The file's own chat template and the full prompt: a real answer, written by the model.
    assert not result["justification"].startswith("P(yes)")
