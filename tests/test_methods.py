"""Scoring methods (generate, logprob, samples=k) against the fake server and the real model."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path

import pytest

from scorer import Settings, UnsupportedMethodError, load_rubric, score, score_many
from scorer._errors import ConfigError, InvalidOutputError, RubricError
from scorer._rubric import parse_rubric
from scorer.backends import backend_for
from scorer.backends._limited import LimitedBackend
from scorer.engine._scorer import Scorer, to_paper
from scorer.methods._dispatch import method_for
from scorer.methods._logprob import yes_probability
from scorer.methods._spec import MethodSpec, parse_method
from scorer.prompt._messages import load_prompt
from scorer.testing import FakeOpenAI, Reply
from scorer.testing._replies import p_yes

RUBRIC = load_rubric("llm-inference")
ROOT = Path(__file__).resolve().parents[1]
PAPER = {
    "title": "PagedKV: paging the KV cache for LLM serving",
    "abstract": "We page the KV cache across GPU and host memory and double throughput.",
}


def with_method(settings: Settings, method: str) -> Settings:
    return replace(settings, method=parse_method(method))


def test_parse_method_forms_and_errors() -> None:
    assert parse_method("generate") == MethodSpec()
    assert parse_method("LOGPROB") == MethodSpec(name="logprob")
    assert parse_method("samples=4") == MethodSpec(samples=4)
    assert str(parse_method("generate:samples=4")) == "samples=4"
    with pytest.raises(ConfigError, match="unknown scoring method 'vibes'"):
        parse_method("vibes")
    with pytest.raises(ConfigError, match="between 1 and 20"):
        parse_method("samples=0")


def test_yes_probability_reads_yes_and_no_tokens_only() -> None:
    logprobs = {"Yes": math.log(0.3), " yes": math.log(0.1), "No": math.log(0.2), "The": -0.1}
    assert yes_probability(logprobs) == pytest.approx(0.4 / 0.6)
    with pytest.raises(InvalidOutputError, match="none of the model's 2 most likely"):
        yes_probability({"The": -0.1, "This": -2.0})


def test_logprob_asks_one_yes_no_question_per_dimension(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    result = score(PAPER, RUBRIC, settings=with_method(fake_settings, "logprob"))

    assert fake.count == 2  # relevance, hype
    for request in fake.requests:
        assert request["logprobs"] is True
        assert request["top_logprobs"] == 20
        assert request["max_tokens"] == 1
        assert "response_format" not in request
    questions = [r["messages"][-1]["content"] for r in fake.requests]
    assert 'relevant to the topic "LLM inference systems and I/O"' in questions[0]
    assert "high on hype" in questions[1]
    expected = {
        "relevance": round(100 * p_yes(questions[0])),
        "hype": round(100 * p_yes(questions[1])),
    }
    assert result.scores == expected
    assert "P(yes)" in result.justification
    assert result.usage.requests == 2
    assert result.usage.completion_tokens == 2


def test_a_papers_questions_share_one_request_place_with_no_other_paper_between(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    # One place for three papers, asked at once: without holding the place
    # across a paper's questions, the papers' first questions queue ahead of
    # its second (A B C A B C), and llama.cpp reprocesses each paper's prompt.
    settings = with_method(fake_settings, "logprob")
    papers = [{"title": f"Paper {n} on KV caches", "abstract": "Serving LLMs."} for n in "ABC"]

    async def run() -> list[str]:
        backend = LimitedBackend(lambda: backend_for(settings), model_id="m", limit=1)
        async with Scorer(settings, backend=backend) as scorer:
            results = [r async for r in scorer.ascore_many(papers, RUBRIC, concurrency=3)]
        assert all(r.error is None for r in results)
        return [r["messages"][-1]["content"].split("\n")[1] for r in fake.requests]

    asked = asyncio.run(run())
    assert len(asked) == 6
    assert [asked[i] == asked[i + 1] for i in range(0, 6, 2)] == [True, True, True], asked


def test_logprob_score_is_the_yes_share_of_scripted_logprobs(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    yes_no = {"Yes": math.log(0.3), "No": math.log(0.1), "Maybe": math.log(0.5)}
    fake.enqueue(Reply(logprobs=yes_no), Reply(logprobs={"no": 0.0}))
    result = score(PAPER, RUBRIC, settings=with_method(fake_settings, "logprob"))
    assert result.scores == {"relevance": 75, "hype": 0}


def test_logprob_on_an_endpoint_without_logprobs_stops_the_batch_with_one_message(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.enqueue(*[Reply(ignore_logprobs=True)] * 10)
    papers = [{"title": f"Serving paper {i}", "abstract": "Decoding."} for i in range(10)]
    settings = with_method(fake_settings, "logprob")
    with pytest.raises(UnsupportedMethodError, match=r"no log-probabilities.*--method generate"):
        list(score_many(papers, RUBRIC, settings=settings, concurrency=1))
    assert fake.count == 1


def test_samples_average_k_answers_at_temperature(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.enqueue(
        Reply(json_override={"relevance": 10, "hype": 0, "justification": "Low one, ten points."}),
        Reply(json_override={"relevance": 45, "hype": 30, "justification": "Middle one, nearest."}),
        Reply(
            json_override={"relevance": 80, "hype": 60, "justification": "High one, eighty points."}
        ),
    )
    result = score(PAPER, RUBRIC, settings=with_method(fake_settings, "samples=3"))

    assert fake.count == 3
    assert [r["seed"] for r in fake.requests] == [0, 1, 2]
    assert {r["temperature"] for r in fake.requests} == {0.7}
    assert result.scores == {"relevance": 45, "hype": 30}
    assert result.justification == "Middle one, nearest."
    assert result.usage.requests == 3


def test_each_method_has_its_own_cache_entries(fake: FakeOpenAI, fake_settings: Settings) -> None:
    generate = score(PAPER, RUBRIC, settings=fake_settings)
    logprob = score(PAPER, RUBRIC, settings=with_method(fake_settings, "logprob"))
    assert fake.count == 3  # 1 generate + 2 logprob questions
    assert not generate.cached and not logprob.cached

    again = score(PAPER, RUBRIC, settings=with_method(fake_settings, "logprob"))
    assert again.cached and again.scores == logprob.scores
    assert score(PAPER, RUBRIC, settings=fake_settings).scores == generate.scores
    assert fake.count == 3


def test_a_rubric_can_choose_its_method_and_the_setting_overrides_it(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    rubric = RUBRIC.model_copy(update={"method": "logprob"})
    assert rubric.fingerprint == RUBRIC.fingerprint  # the method has its own cache-key part
    score(PAPER, rubric, settings=fake_settings)
    assert fake.requests[-1].get("logprobs") is True
    score(PAPER, rubric, settings=with_method(fake_settings, "generate"))
    assert "response_format" in fake.requests[-1]


def test_a_rubric_with_an_unknown_method_is_refused() -> None:
    data = {"name": "x", "title": "X", "description": "Papers about X.", "method": "vibes"}
    with pytest.raises(RubricError, match=r"method.*unknown scoring method"):
        parse_rubric(data)


def test_the_logprob_prompt_keeps_the_rubric_in_a_stable_prefix() -> None:
    judge = load_prompt("judge")
    first = judge.messages(RUBRIC, to_paper(PAPER), dimension=RUBRIC.dimensions[0])
    second = judge.messages(RUBRIC, to_paper(PAPER), dimension=RUBRIC.dimensions[1])
    assert first[0] == second[0]  # same system message for every question and paper
    assert RUBRIC.description in first[0]["content"]
    assert "<paper>" in first[1]["content"]


@pytest.mark.embedded
def test_logprob_on_the_embedded_model_ranks_on_topic_above_off_topic(isolated_env: Path) -> None:
    settings = Settings.resolve(env={}, method="logprob", use_cache=False)
    on_topic = [
        PAPER,
        {
            "title": "Speculative decoding with a small draft model for LLM inference",
            "abstract": "A draft model proposes tokens that the large model verifies, "
            "cutting LLM inference latency 2x in serving.",
        },
    ]
    off_topic = [
        {
            "title": "Coral reef fish behaviour under warming oceans",
            "abstract": "We observe reef fish across seasons and measure their feeding.",
        },
        {
            "title": "Medieval trade routes of the Hanseatic League",
            "abstract": "Archival records show how merchants moved grain and timber.",
        },
    ]
    results = list(score_many(on_topic + off_topic, RUBRIC, settings=settings, concurrency=2))
    by_title = {r.paper.title: r for r in results}
    for result in results:
        assert result.error is None, result.error
        assert result.usage.requests == 2
        assert 0 <= result.scores["relevance"] <= 100
    on = [by_title[p["title"]].scores["relevance"] for p in on_topic]
    off = [by_title[p["title"]].scores["relevance"] for p in off_topic]
    assert min(on) > max(off), (on, off)


def test_the_demo_model_defaults_to_logprob_on_a_compact_prompt() -> None:
    # Measured in bench/eval_methods.py: SmolLM2's yes/no probabilities rank
    # papers, its written scores do not. No model starts: method() only picks.
    demo = Scorer(Settings.resolve(env={}))
    method = demo.method(RUBRIC)
    assert str(method.spec) == "logprob"
    assert method.prompt.name == "judge_small"
    system = method.prompt.system_text(RUBRIC)
    assert len(system) < len(load_prompt("judge").system_text(RUBRIC))
    # The previous default (generate, full prompt with every anchor) was 3x longer.
    assert 3 * len(system) < len(load_prompt("score").system_text(RUBRIC))
    user = method.prompt.user_text(RUBRIC, to_paper(PAPER), dimension=RUBRIC.dimensions[0])
    assert user.startswith("<paper>\nTitle: PagedKV") and "</paper>" in user


def test_an_explicit_or_rubric_method_wins_over_the_demo_default(tmp_path: Path) -> None:
    chosen = Scorer(Settings.resolve(env={"SCORER_METHOD": "generate"})).method(RUBRIC)
    assert str(chosen.spec) == "generate" and chosen.prompt.name == "score_small"
    compact = chosen.prompt.system_text(RUBRIC)
    assert 2 * len(compact) < len(load_prompt("score").system_text(RUBRIC))
    text = (ROOT / "rubrics" / "llm-inference.toml").read_text(encoding="utf-8")
    rubric_file = tmp_path / "llm-inference.toml"
    rubric_file.write_text(f'method = "samples=2"\n{text}', encoding="utf-8")
    own = Scorer(Settings.resolve(env={})).method(load_rubric(rubric_file))
    assert str(own.spec) == "samples=2"


def test_an_endpoint_model_keeps_generate_and_the_full_prompt(fake_settings: Settings) -> None:
    method = Scorer(fake_settings).method(RUBRIC)
    assert str(method.spec) == "generate" and method.prompt.name == "score"


def test_compact_and_full_prompts_have_their_own_cache_entries(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    # The compact prompt is selected by the backend; its hash keeps the
    # entries apart, so a result scored with one is never served for the other.
    full = Scorer(fake_settings).method(RUBRIC).prompt
    compact = method_for(MethodSpec(), fake_settings.sampling, compact=True).prompt
    assert full.content_hash != compact.content_hash
