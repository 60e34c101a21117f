"""What scoring cost: cached prompt tokens counted apart, USD in the batch summary, eval and
the service's metrics, and a prompt laid out so a provider's prefix cache can work."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from pathlib import Path

import httpx
import pytest
from in_process import run_scorer
from prometheus_client.parser import text_string_to_metric_families

from scorer import Paper, Settings
from scorer._models import Usage
from scorer._rubric import builtin_rubric_names, load_rubric
from scorer.backends._openai_compat import OpenAICompatBackend
from scorer.eval._prices import price_usage
from scorer.methods._answer import response_model_for
from scorer.prompt._messages import load_prompt
from scorer.service import create_app
from scorer.service._background import serve_in_thread
from scorer.testing import FakeOpenAI, PromptCache

MODEL = "gpt-4.1-nano"
# The fake's tokens are words; the built-in rubrics' system prompts are 400-550 words.
SMALL_CACHE = dict(minimum=64, step=16)


def papers(n: int) -> list[dict[str, str]]:
    return [
        {"title": f"Speculative decoding {i}", "abstract": f"We draft tokens with model {i}."}
        for i in range(n)
    ]


def test_cached_prompt_tokens_are_read_from_the_answer_and_counted_apart(
    fake_settings: Settings,
) -> None:
    rubric = load_rubric("llm-inference")
    prompt = load_prompt("score")

    async def ask(backend: OpenAICompatBackend, paper: dict[str, str]) -> Usage:
        messages = prompt.messages(rubric, Paper.model_validate(paper))
        try:
            return (await backend.complete(messages, response_model_for(rubric))).usage
        finally:
            await backend.aclose()

    # A server of its own: a straggling request of an earlier test on the session's fake
    # would fill the prompt cache before this test's first request.
    with FakeOpenAI(prompt_cache=PromptCache(**SMALL_CACHE)) as own:
        backend = OpenAICompatBackend(
            base_url=own.base_url, api_key="sk-test", model=MODEL, settings=fake_settings
        )
        first, second = (asyncio.run(ask(backend, p)) for p in papers(2))
    assert first.cached_prompt_tokens == 0  # nothing seen yet
    assert 0 < second.cached_prompt_tokens < second.prompt_tokens  # the rubric part, not the paper
    full = price_usage(MODEL, second.model_copy(update={"cached_prompt_tokens": 0}))
    cheaper = price_usage(MODEL, second)
    assert full is not None and cheaper is not None and cheaper < full


def test_batch_summary_reports_input_cached_input_output_and_usd(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    fake.prompt_cache = PromptCache(**SMALL_CACHE)
    source = tmp_path / "papers.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in papers(4)), encoding="utf-8")
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(isolated_env)}
    args = ["batch", str(source), "-r", "llm-inference", "--model", MODEL, "--concurrency", "1"]
    done = run_scorer([*args, "-o", str(tmp_path / "out.csv")], env=env)
    assert done.returncode == 0, done.stderr
    found = re.search(
        r"tokens (\d+) \(input (\d+), cached input (\d+), output (\d+)\), \$(\d+\.\d{4})",
        done.stderr,
    )
    assert found, done.stderr
    total, prompt, cached, output = (int(found[i]) for i in range(1, 5))
    assert total == prompt + output and 0 < cached < prompt
    usage = Usage(prompt_tokens=prompt, cached_prompt_tokens=cached, completion_tokens=output)
    assert found[5] == f"{price_usage(MODEL, usage):.4f}"
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as f:
        assert sum(int(r["tokens"]) for r in csv.DictReader(f)) == total


def test_eval_reports_cached_tokens_and_their_price(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    fake.prompt_cache = PromptCache(**SMALL_CACHE)
    source = tmp_path / "labelled.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["title", "abstract", "label"])
        out.writerows([(p["title"], p["abstract"], i % 2) for i, p in enumerate(papers(4))])
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(isolated_env)}
    args = ["eval", str(source), "-r", "llm-inference", "--model", MODEL, "--json"]
    done = run_scorer([*args, "--concurrency", "1"], env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["model"]
    usage = Usage(
        prompt_tokens=report["tokens_prompt"],
        completion_tokens=report["tokens_completion"],
        cached_prompt_tokens=report["tokens_cached_prompt"],
    )
    assert 0 < usage.cached_prompt_tokens < usage.prompt_tokens
    assert report["cost_usd"] == price_usage(MODEL, usage)


def test_service_metrics_count_cached_tokens_and_usd(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.prompt_cache = PromptCache(**SMALL_CACHE)
    settings = Settings.resolve(
        env={},
        base_url=fake.base_url,
        api_key="sk-test",
        model=MODEL,
        cache_dir=fake_settings.cache_dir,
    )
    app = create_app(settings, api_token=None)
    with (
        serve_in_thread(app) as base_url,
        httpx.Client(base_url=base_url, timeout=20, trust_env=False, verify=False) as client,
    ):
        answers = [
            client.post("/v1/score", json={"paper": p, "rubric": "llm-inference"}).json()
            for p in papers(3)
        ]
        text = client.get("/metrics").text
    usage = Usage()
    for answer in answers:
        usage = usage + Usage.model_validate(answer["usage"])
    samples = {
        (s.name, s.labels.get("kind")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("scorer_tokens_total", "cached_prompt")] == usage.cached_prompt_tokens > 0
    assert samples[("scorer_cost_usd_total", None)] == pytest.approx(price_usage(MODEL, usage))


def test_the_prompt_puts_the_rubric_first_and_the_paper_last() -> None:
    """A provider caches the longest prefix it has seen: every paper must share the
    rubric's part, and only the end of the prompt may differ."""
    prompt = load_prompt("score")
    one, two = (Paper.model_validate(p) for p in papers(2))
    for name in builtin_rubric_names():
        rubric = load_rubric(name)
        a, b = prompt.messages(rubric, one), prompt.messages(rubric, two)
        assert a[0] == b[0] and a[0]["role"] == "system"  # the rubric: identical for all
        assert rubric.description.split()[0] in a[0]["content"]
        assert one.title not in a[0]["content"]
        assert one.title in a[-1]["content"] and a[-1]["role"] == "user"
