"""`scorer batch --batch-api`: submit, collect, resume, and fail per paper, against the fake's
files and batches endpoints on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SleepRecorder
from in_process import run_scorer

from scorer import Settings
from scorer._errors import ConfigError, InputError
from scorer._rubric import load_rubric
from scorer.engine._batch_api import BatchApiRun, submit_or_collect
from scorer.engine._batch_api_state import open_state
from scorer.engine._scorer import Scorer
from scorer.eval._prices import price_usage
from scorer.io._readers import read_papers
from scorer.testing import BatchPlay, FakeOpenAI, Reply

RUBRIC = "llm-inference"
KEY = "sk-test-0123456789abcdef"


def write_papers(path: Path, n: int, prefix: str = "Paper") -> Path:
    month = 1 if prefix == "Paper" else 2 + len(prefix)  # other titles, other ids
    rows = [
        {
            "id": f"26{month:02d}.{i:05d}",
            "title": f"{prefix} {i}: faster LLM serving",
            "abstract": f"We study paged attention variant number {i} for LLM inference servers.",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cli(
    args: list[str], fake: FakeOpenAI, cache: Path, base_url: str | None = None
) -> tuple[int, str]:
    env = {
        "OPENAI_BASE_URL": base_url or fake.base_url,
        "OPENAI_API_KEY": KEY,
        "SCORER_CACHE_DIR": str(cache),
    }
    done = run_scorer(args, env=env)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


def rows(path: Path) -> dict[str, dict[str, Any]]:
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    return {line["id"]: line for line in lines}


def submitted_lines(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [line for b in fake.batch_api.created for line in fake.batch_api.input_lines(b)]


def test_first_run_submits_second_collects_and_writes_outputs(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 5)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(source), "-r", RUBRIC, "--batch-api", "-o", str(out)]

    code, err = cli(args, fake, isolated_env)
    assert code == 75, err
    assert "submitted batch batch_" in err and "with 5 request(s)" in err
    assert "run the same command again to collect" in err
    assert not out.exists()  # nothing written while the batch runs
    assert len(fake.batch_api.created) == 1 and fake.count == 0

    code, err = cli(args, fake, isolated_env)
    assert code == 0, err
    assert "collected batch" in err and "5 answer(s)" in err
    assert "scanned 5, unique 5, scored 5, cached 0, failed 0" in err
    results = rows(out)
    assert len(results) == 5 and all(r["relevance"] is not None for r in results.values())
    assert len(fake.batch_api.created) == 1  # collected, not submitted again
    assert fake.count == 0  # and never asked online

    code, err = cli(args, fake, isolated_env)  # a third run: all in the cache
    assert code == 0 and "cached 5" in err
    assert len(fake.batch_api.created) == 1


def test_scores_equal_the_online_route(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 6)
    via_api, online = tmp_path / "api.jsonl", tmp_path / "online.jsonl"
    base = ["batch", str(source), "-r", RUBRIC]
    code, err = cli([*base, "--batch-api", "--wait", "-o", str(via_api)], fake, isolated_env)
    assert code == 0, err
    code, err = cli([*base, "-o", str(online)], fake, tmp_path / "other-cache")
    assert code == 0, err
    assert fake.count == 6  # the online run asked for each paper itself

    def scores(path: Path) -> dict[str, tuple[Any, ...]]:
        return {k: (r["relevance"], r["hype"], r["justification"]) for k, r in rows(path).items()}

    assert scores(via_api) == scores(online)
    # The same request body both ways: the prompt is not forked.
    sent_online = sorted(json.dumps(r, sort_keys=True) for r in fake.requests)
    sent_batch = sorted(json.dumps(line["body"], sort_keys=True) for line in submitted_lines(fake))
    assert sent_batch == sent_online


def test_cached_papers_are_never_submitted(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    first = write_papers(tmp_path / "first.jsonl", 2)
    assert cli(["batch", str(first), "-r", RUBRIC], fake, isolated_env)[0] == 0
    both = tmp_path / "both.jsonl"
    both.write_text(first.read_text() + write_papers(tmp_path / "new.jsonl", 3, "New").read_text())
    out = tmp_path / "out.jsonl"
    args = ["batch", str(both), "-r", RUBRIC, "--batch-api", "--wait", "-o", str(out)]
    code, err = cli(args, fake, isolated_env)
    assert code == 0, err
    assert "2 paper(s) already in the cache are not submitted" in err
    titles = [line["body"]["messages"][-1]["content"] for line in submitted_lines(fake)]
    assert len(titles) == 3 and all("New" in t for t in titles)
    assert len(rows(out)) == 5


def test_a_batch_in_progress_is_polled_by_each_run_until_it_ends(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 3)
    fake.batch_api.play(BatchPlay(in_progress_polls=2))
    args = ["batch", str(source), "-r", RUBRIC, "--batch-api", "-o", str(tmp_path / "o.csv")]
    assert cli(args, fake, isolated_env)[0] == 75  # submitted
    for _ in range(2):
        code, err = cli(args, fake, isolated_env)
        assert code == 75 and "is in_progress (0/0 done)" in err
    code, err = cli(args, fake, isolated_env)
    assert code == 0, err
    assert len(fake.batch_api.created) == 1
    assert (tmp_path / "o.csv").exists()


def test_wait_polls_with_capped_backoff(
    fake: FakeOpenAI, fake_settings: Settings, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    papers = list(read_papers(write_papers(tmp_path / "p.jsonl", 2)))
    fake.batch_api.play(BatchPlay(in_progress_polls=8))
    run = collect(papers, fake_settings, wait=True, sleep=sleeps)
    assert run.done and run.collected == 2
    # The first look comes right after submitting, without a sleep (a small batch can
    # be done by then); eight polls see it running, each after a longer sleep.
    assert sleeps.waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert fake.batch_api.retrievals == 9


def test_an_expired_batch_keeps_its_answers_and_the_next_run_resubmits_the_rest(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 4)
    out = tmp_path / "out.jsonl"
    args = ["batch", str(source), "-r", RUBRIC, "--batch-api", "-o", str(out)]
    fake.batch_api.play(BatchPlay(status="expired", ran=3))
    assert cli(args, fake, isolated_env)[0] == 75
    code, err = cli(args, fake, isolated_env)
    assert code == 1, err  # some papers failed
    results = rows(out)
    failed = [r for r in results.values() if r["error"]]
    assert len(results) == 4 and len(failed) == 1
    assert "expired" in failed[0]["error"] and "the next run submits it again" in failed[0]["error"]

    code, err = cli(args, fake, isolated_env)
    assert code == 75 and "with 1 request(s)" in err  # only the expired paper goes again
    code, err = cli(args, fake, isolated_env)
    assert code == 0, err
    assert all(not r["error"] for r in rows(out).values())
    assert len(fake.batch_api.created) == 2


def test_a_failed_batch_fails_its_papers_with_the_providers_reason(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 2)
    out = tmp_path / "out.jsonl"
    reason = {"code": "model_not_found", "message": "The model does not exist.", "line": 1}
    fake.batch_api.play(BatchPlay(status="failed", errors=(reason,)))
    args = ["batch", str(source), "-r", RUBRIC, "--batch-api", "--wait", "-o", str(out)]
    code, err = cli(args, fake, isolated_env)
    assert code == 1, err
    errors = [r["error"] for r in rows(out).values()]
    assert (
        errors
        == [
            "the batch failed: model_not_found: The model does not exist. (line 1)"
            "; the next run submits it again"
        ]
        * 2
    )
    assert fake.count == 0  # a failed batch is never quietly scored online


def test_error_lines_fail_their_paper_only(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 3)
    fake.answer_when("Paper 1:", Reply.context_length_exceeded())
    out = tmp_path / "out.jsonl"
    args = ["batch", str(source), "-r", RUBRIC, "--batch-api", "--wait", "-o", str(out)]
    code, err = cli(args, fake, isolated_env)
    assert code == 1, err
    results = rows(out)
    assert "maximum context length" in results["2601.00001"]["error"]
    assert "HTTP 400" in results["2601.00001"]["error"]
    assert not results["2601.00000"]["error"] and not results["2601.00002"]["error"]


def test_an_invalid_answer_is_re_asked_online_once(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path
) -> None:
    papers = list(read_papers(write_papers(tmp_path / "p.jsonl", 2)))
    fake.enqueue(Reply.out_of_range())  # the batch's first line; the re-ask gets a valid one
    run = collect(papers, fake_settings, wait=True)
    assert run.collected == 2 and not run.failed
    assert fake.count == 1 and run.online_usage.requests == 1  # one re-ask, online

    fake.reset()
    fake.always(Reply.out_of_range())
    more = list(read_papers(write_papers(tmp_path / "q.jsonl", 1, "Other")))
    run = collect(more, fake_settings, wait=True)
    assert run.collected == 0 and fake.count == 1
    (why,) = run.failed.values()
    assert "failed validation after 2 attempt(s)" in why


def test_many_papers_go_in_several_batches(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path
) -> None:
    papers = list(read_papers(write_papers(tmp_path / "p.jsonl", 5)))
    run = collect(papers, fake_settings, max_requests=2)
    assert [n for _, n in run.submitted] == [2, 2, 1] and not run.done
    run = collect(papers, fake_settings)
    assert run.done and run.collected == 5 and not run.submitted


def test_the_batch_price_is_reported_and_is_half_the_online_price(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path
) -> None:
    settings = Settings.resolve(
        env={},
        base_url=fake.base_url,
        api_key=KEY,
        model="gpt-4.1-nano",
        cache_dir=fake_settings.cache_dir,
    )
    papers = list(read_papers(write_papers(tmp_path / "p.jsonl", 3)))
    run = collect(papers, settings, wait=True)
    assert run.batch_usage.requests == 3 and run.batch_usage.prompt_tokens > 0
    online = price_usage("gpt-4.1-nano", run.batch_usage)
    assert online is not None and run.cost_usd == pytest.approx(online / 2)
    assert f"${run.cost_usd:.4f} at the batch price" in run.line()


def test_a_second_run_at_the_same_time_is_refused(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path
) -> None:
    papers = list(read_papers(write_papers(tmp_path / "p.jsonl", 1)))
    scorer = Scorer(fake_settings)
    rubric = load_rubric(RUBRIC)
    from scorer.engine._batch_api import _Job

    scope = _Job(scorer, rubric, sleep=asyncio.sleep, on_event=print).scope()
    with open_state(fake_settings.cache_dir, scope), pytest.raises(InputError, match="another"):
        collect(papers, fake_settings)
    assert not fake.batch_api.created


def test_the_state_file_and_messages_hold_no_secret(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 2)
    with_password = fake.base_url.replace("http://", "http://user:hunter2pass@")
    args = ["batch", str(source), "-r", RUBRIC, "--batch-api"]
    code, err = cli(args, fake, isolated_env, base_url=with_password)
    assert code == 75
    (state,) = (isolated_env / "batch-api").glob("*.json")
    text = state.read_text()
    assert json.loads(text)["batches"][0]["id"].startswith("batch_")
    for secret in (KEY, "hunter2pass"):
        assert secret not in text and secret not in err


def test_batch_api_refuses_what_it_cannot_serve(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 1)
    code, err = cli(
        ["batch", str(source), "-r", RUBRIC, "--batch-api", "--method", "logprob"],
        fake,
        isolated_env,
    )
    assert code == 2 and "--batch-api scores with the generate method" in err
    code, err = cli(["batch", str(source), "-r", RUBRIC, "--wait"], fake, isolated_env)
    assert code == 2 and "--wait goes with --batch-api" in err
    assert not fake.batch_api.created and fake.count == 0


def test_the_embedded_model_is_refused_before_it_starts(tmp_path: Path) -> None:
    settings = Settings.resolve(env={}, cache_dir=tmp_path / "cache")
    assert settings.uses_embedded
    papers = list(read_papers(write_papers(tmp_path / "p.jsonl", 1)))
    with pytest.raises(ConfigError, match="not the embedded model"):
        collect(papers, settings)


def collect(
    papers: list[Any],
    settings: Settings,
    *,
    wait: bool = False,
    sleep: Any = None,
    max_requests: int = 50_000,
) -> BatchApiRun:
    async def go() -> BatchApiRun:
        async with Scorer(settings) as scorer:
            return await submit_or_collect(
                papers,
                load_rubric(RUBRIC),
                scorer,
                wait=wait,
                sleep=sleep or SleepRecorder(),
                max_requests=max_requests,
            )

    return asyncio.run(go())


def test_an_unreachable_endpoint_stops_the_run_with_one_line_and_no_secret(
    isolated_env: Path, tmp_path: Path
) -> None:
    source = write_papers(tmp_path / "papers.jsonl", 2)
    env = {
        "OPENAI_BASE_URL": "http://user:hunter2pass@127.0.0.1:9/v1",  # nothing listens on 9
        "OPENAI_API_KEY": KEY,
        "SCORER_CACHE_DIR": str(isolated_env),
        "SCORER_MAX_ATTEMPTS": "1",
    }
    done = run_scorer(["batch", str(source), "-r", RUBRIC, "--batch-api"], env=env)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "Batch API, uploading the batch input" in done.stderr
    assert "cannot connect" in done.stderr
    for secret in (KEY, "hunter2pass"):
        assert secret not in done.stderr
    assert not list((isolated_env / "batch-api").glob("*.json"))  # nothing was submitted
