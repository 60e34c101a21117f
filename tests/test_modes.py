"""Structured output on any endpoint: the ``mode`` setting against the fake's personalities.

The fake plays a cooperating endpoint, one that refuses ``response_format``
json_schema (OpenAI's 400 for older models), one that refuses ``tools``
(Ollama's 400, llama.cpp's 500 without --jinja), and one that only writes text.
What is asserted is what a user notices: whether papers are scored, what the
endpoint was sent and how often, and the one line a refusal prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from in_process import run_as_typed

import scorer
from scorer import FatalBackendError, InvalidOutputError, Settings
from scorer._rubric import load_rubric
from scorer.cli import cli
from scorer.testing import FakeOpenAI, Personality, Reply
from scorer.testing._personality import (
    AZURE_OLD_API_VERSION,
    LLAMA_CPP_NO_JINJA,
    OPENROUTER_NO_TOOLS,
)

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-modes-0123456789abcdef"
PAPER = {
    "title": "PagedKV: paging the KV cache for high-throughput LLM serving",
    "abstract": "We page the KV cache of a transformer across GPU and host memory.",
}
MODES = ["json_schema", "tools", "json", "auto"]


@pytest.fixture
def settings(fake_settings: Settings) -> Settings:
    """No cache; auto's other papers wait for its first request's verdict, however long
    it takes (by default at most two seconds: see the probe_wait tests)."""
    return replace(fake_settings, use_cache=False, probe_wait=None)


def papers(n: int) -> list[dict[str, str]]:
    return [
        {"title": f"Paper {i:02d} on paged attention", "abstract": f"KV cache trick number {i}."}
        for i in range(n)
    ]


def score_all(settings: Settings, mode: str, n: int, concurrency: int = 4) -> list[Any]:
    return list(
        scorer.score_many(
            papers(n),
            "llm-inference",
            settings=replace(settings, mode=mode),
            concurrency=concurrency,
        )
    )


def asked_as(body: dict[str, Any]) -> str:
    """How a request asked for structure: the response_format type, tools, or neither."""
    if "tools" in body:
        assert "response_format" not in body
        return "tools"
    fmt = body.get("response_format")
    return str(fmt["type"]) if isinstance(fmt, dict) else "text"


def asked(fake: FakeOpenAI) -> list[str]:
    return [asked_as(body) for body in fake.requests]


def system_text(body: dict[str, Any]) -> str:
    return " ".join(str(m["content"]) for m in body["messages"] if m["role"] == "system")


def assert_scored(results: list[Any], n: int) -> None:
    assert len(results) == n
    for result in results:
        assert result.ok, result.error
        assert set(result.scores) == {"relevance", "hype"}
        assert all(0 <= v <= 100 for v in result.scores.values())


# -- each mode against a cooperating endpoint --------------------------------------------------


def test_json_schema_mode_sends_the_schema_as_response_format(
    fake: FakeOpenAI, settings: Settings
) -> None:
    assert_scored(score_all(settings, "json_schema", 1), 1)

    (sent,) = fake.requests
    assert asked_as(sent) == "json_schema"
    schema = sent["response_format"]["json_schema"]["schema"]
    assert {"justification", "relevance", "hype"} <= set(schema["properties"])


def test_tools_mode_forces_one_function_call_and_reads_its_arguments(
    fake: FakeOpenAI, settings: Settings
) -> None:
    assert_scored(score_all(settings, "tools", 1), 1)

    (sent,) = fake.requests
    assert asked_as(sent) == "tools"
    (tool,) = sent["tools"]
    assert {"justification", "relevance", "hype"} <= set(
        tool["function"]["parameters"]["properties"]
    )
    assert sent["tool_choice"] == {
        "type": "function",
        "function": {"name": tool["function"]["name"]},
    }


def test_json_mode_asks_for_a_json_object_with_the_schema_in_the_system_message(
    fake: FakeOpenAI, settings: Settings
) -> None:
    assert_scored(score_all(settings, "json", 1), 1)

    (sent,) = fake.requests
    assert asked_as(sent) == "json_object"
    assert '"relevance"' in system_text(sent)
    assert PAPER["title"] not in system_text(sent)  # the paper stays in the user message


def test_auto_on_a_cooperating_endpoint_is_json_schema_with_no_extra_request(
    fake: FakeOpenAI, settings: Settings
) -> None:
    assert_scored(score_all(settings, "auto", 6), 6)

    assert asked(fake) == ["json_schema"] * 6


def test_auto_is_the_default(settings: Settings) -> None:
    assert Settings.resolve(env={}).mode == "auto"
    assert Settings.resolve(env={"SCORER_MODE": "Tools"}).mode == "tools"
    assert Settings.resolve(env={"SCORER_MODE": "json-schema"}).mode == "json_schema"


def test_the_embedded_model_keeps_json_schema_whatever_the_mode() -> None:
    embedded = Settings.resolve(env={}, mode="tools")  # no endpoint, no key: embedded
    assert embedded.uses_embedded
    assert embedded.structured_mode == "json_schema"
    endpoint = Settings.resolve(env={}, mode="tools", base_url="http://localhost:1/v1")
    assert endpoint.structured_mode == "tools"


# -- an endpoint that refuses response_format json_schema --------------------------------------


def test_explicit_json_schema_against_a_refusing_endpoint_is_one_error_and_not_retried(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("json_schema"))

    with pytest.raises(FatalBackendError) as info:
        scorer.score(PAPER, "llm-inference", settings=replace(settings, mode="json_schema"))

    assert fake.count == 1  # no retry, no other mode
    message = str(info.value)
    assert "does not support json_schema" in message
    assert "--mode auto" in message and "--mode tools" in message
    assert info.value.status_code == 400

    # The endpoint will not change its mind within the run: the next paper costs nothing.
    with pytest.raises(FatalBackendError, match="does not support json_schema"):
        scorer.score(papers(1)[0], "llm-inference", settings=replace(settings, mode="json_schema"))
    assert fake.count == 1


def test_explicit_json_schema_on_a_refusing_endpoint_costs_one_request_per_batch(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("json_schema"))

    with pytest.raises(FatalBackendError, match="does not support json_schema"):
        score_all(settings, "json_schema", 20, concurrency=8)

    assert fake.count == 1  # the other papers waited for its verdict


@pytest.mark.parametrize("refusal", [None, AZURE_OLD_API_VERSION], ids=["openai", "azure"])
def test_auto_falls_back_to_tools_with_one_probe_for_the_whole_batch(
    fake: FakeOpenAI, settings: Settings, refusal: Reply | None, caplog: pytest.LogCaptureFixture
) -> None:
    replies = {"json_schema": refusal} if refusal else None
    fake.play(Personality.refusing("json_schema", replies=replies))

    with caplog.at_level(logging.WARNING, logger="scorer"):
        results = score_all(settings, "auto", 12, concurrency=4)

    assert_scored(results, 12)
    assert asked(fake) == ["json_schema"] + ["tools"] * 12
    chosen = [r.getMessage() for r in caplog.records if "structured output" in r.getMessage()]
    assert len(chosen) == 1
    assert "refused json_schema" in chosen[0] and "using tools" in chosen[0]
    assert KEY not in chosen[0]


def in_background(settings: Settings, mode: str, n: int, concurrency: int) -> Any:
    """Score ``n`` papers in a thread; the future's result is the list of results."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(score_all, settings, mode, n, concurrency)
    pool.shutdown(wait=False)
    return future


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + 60  # a hang guard, not a speed requirement
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.005)


def test_a_slow_first_answer_does_not_hold_the_other_papers_past_probe_wait(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.hold()  # no answer until release(): the first request's verdict is pending
    future = in_background(replace(settings, probe_wait=0.0), "auto", 4, concurrency=4)

    wait_until(lambda: fake.in_flight == 4)  # all four sent while the first is unanswered
    fake.release()

    assert_scored(future.result(), 4)
    assert asked(fake) == ["json_schema"] * 4


def test_a_paper_cancelled_as_the_first_answer_arrives_sends_nothing(
    fake: FakeOpenAI, settings: Settings
) -> None:
    # A batch closed as auto's first answer comes back (the consumer took that
    # result and stopped) cancels the paper waiting for the verdict in the loop
    # turn the verdict came out: it must not send its request anyway.
    scorer_ = scorer.Scorer(replace(settings, probe_wait=60.0))
    rubric = load_rubric("llm-inference")

    async def close_as_the_probe_answers() -> asyncio.Task[Any]:
        first = asyncio.create_task(scorer_.ascore(papers(2)[0], rubric))
        waiting = asyncio.create_task(scorer_.ascore(papers(2)[1], rubric))
        first.add_done_callback(lambda _: waiting.cancel())
        await first
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await scorer_.aclose()
        return waiting

    waiting = asyncio.run(close_as_the_probe_answers())

    assert waiting.cancelled()
    assert fake.count == 1


def test_papers_sent_before_the_refusal_came_back_each_move_on(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("json_schema"))
    fake.hold()
    future = in_background(replace(settings, probe_wait=0.0), "auto", 8, concurrency=4)

    wait_until(lambda: fake.in_flight == 4)
    fake.release()

    assert_scored(future.result(), 8)
    sent = asked(fake)
    assert sent.count("json_schema") == 4 and sent.count("tools") == 8


def test_the_probe_paper_pays_for_the_refused_request(fake: FakeOpenAI, settings: Settings) -> None:
    fake.play(Personality.refusing("json_schema"))

    results = score_all(settings, "auto", 3, concurrency=1)

    assert sorted(r.usage.requests for r in results) == [1, 1, 2]


def test_auto_remembers_its_choice_across_calls_with_the_same_settings(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("json_schema"))
    auto = replace(settings, mode="auto")

    for paper in papers(3):
        assert scorer.score(paper, "llm-inference", settings=auto).ok

    assert asked(fake) == ["json_schema", "tools", "tools", "tools"]


# -- an endpoint that refuses tools ------------------------------------------------------------


def test_explicit_tools_against_an_endpoint_without_tools_is_one_error(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("tools"))

    with pytest.raises(FatalBackendError) as info:
        scorer.score(PAPER, "llm-inference", settings=replace(settings, mode="tools"))

    assert fake.count == 1
    assert "does not support tools" in str(info.value)
    assert "--mode json" in str(info.value)


@pytest.mark.parametrize("mode", ["json_schema", "json", "auto"])
def test_modes_without_tools_score_on_an_endpoint_without_tools(
    fake: FakeOpenAI, settings: Settings, mode: str
) -> None:
    fake.play(Personality.refusing("tools"))

    assert_scored(score_all(settings, mode, 4), 4)
    assert "tools" not in asked(fake)
    assert fake.count == 4


def test_auto_falls_back_to_json_when_json_schema_and_tools_are_refused(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("json_schema", "tools"))

    assert_scored(score_all(settings, "auto", 8), 8)
    assert asked(fake) == ["json_schema", "tools"] + ["json_object"] * 8


def test_a_500_that_says_tools_need_jinja_is_a_refusal_not_a_retry(
    fake: FakeOpenAI, settings: Settings
) -> None:
    # llama.cpp's server started without --jinja answers tools with a 500.
    fake.play(Personality.refusing("json_schema", "tools", replies={"tools": LLAMA_CPP_NO_JINJA}))

    assert_scored(score_all(settings, "auto", 3), 3)
    assert asked(fake) == ["json_schema", "tools", "json_object", "json_object", "json_object"]

    fake.reset()
    fake.play(Personality.refusing("tools", replies={"tools": LLAMA_CPP_NO_JINJA}))
    with pytest.raises(FatalBackendError, match="tools param requires --jinja"):
        scorer.score(PAPER, "llm-inference", settings=replace(settings, mode="tools"))
    assert fake.count == 1  # the retry policy allows 4 attempts; a refusal gets one


def test_a_404_for_tools_from_openrouter_is_a_refusal_too(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("json_schema", "tools", replies={"tools": OPENROUTER_NO_TOOLS}))

    assert_scored(score_all(settings, "auto", 2, concurrency=1), 2)
    assert asked(fake) == ["json_schema", "tools", "json_object", "json_object"]


@pytest.mark.parametrize("arguments", ["object", "string"])
def test_tools_mode_reads_a_call_the_server_wrote_as_text(
    fake: FakeOpenAI, settings: Settings, arguments: str
) -> None:
    # A server without a tool-call parser passes the model's call through as text.
    answer = {"justification": "It pages the KV cache: on topic.", "relevance": 80, "hype": 20}
    args: object = answer if arguments == "object" else json.dumps(answer)
    call = json.dumps({"name": "Score", "arguments": args})
    fake.enqueue(Reply(content=f"<tool_call>\n{call}\n</tool_call>"))

    (result,) = score_all(settings, "tools", 1)

    assert result.ok
    assert result.scores == {"relevance": 80, "hype": 20}
    assert fake.count == 1


def test_json_mode_asks_in_the_text_when_json_object_is_refused_too(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.play(Personality.refusing("json_schema", "json_object", "tools"))

    assert_scored(score_all(settings, "json", 3, concurrency=1), 3)
    assert asked(fake) == ["json_object", "text", "text", "text"]
    last = fake.requests[-1]
    assert "```json" in json.dumps(last["messages"])  # the JSON block is asked for

    fake.reset()
    fake.play(Personality.refusing("json_schema", "json_object", "tools"))
    assert_scored(score_all(settings, "auto", 2, concurrency=1), 2)
    assert asked(fake) == ["json_schema", "tools", "json_object", "text", "text"]


# -- an endpoint that only writes text ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_reads_the_json_block_of_an_endpoint_that_only_writes_text(
    fake: FakeOpenAI, settings: Settings, mode: str
) -> None:
    fake.play(Personality.text_only())

    assert_scored(score_all(settings, mode, 3), 3)
    assert fake.count == 3  # each answer read at once, no re-ask


def test_text_only_endpoint_really_answers_in_prose(fake: FakeOpenAI, settings: Settings) -> None:
    import openai

    fake.play(Personality.text_only())
    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    answer = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "Score this."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "S", "schema": {"type": "object", "properties": {}}},
        },
    )
    content = answer.choices[0].message.content or ""
    assert content.startswith("Here is my assessment")
    assert "```json" in content
    assert answer.choices[0].message.tool_calls is None


# -- validation: one re-ask, in every mode -----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_invalid_answer_is_reasked_once_in_every_mode(
    fake: FakeOpenAI, settings: Settings, mode: str
) -> None:
    fake.enqueue(Reply.out_of_range("relevance", 150))

    (result,) = score_all(settings, mode, 1)

    assert result.ok
    assert fake.count == 2
    first, reask = (r["messages"] for r in fake.requests)
    feedback = json.dumps(reask[len(first) :])
    assert "150" in feedback


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_invalid_twice_fails_its_paper_after_one_reask(
    fake: FakeOpenAI, settings: Settings, mode: str
) -> None:
    fake.enqueue(*[Reply.out_of_range("relevance", 150)] * 3)

    with pytest.raises(InvalidOutputError):
        scorer.score(PAPER, "llm-inference", settings=replace(settings, mode=mode))
    assert fake.count == 2


def test_an_invalid_first_answer_settles_auto_without_trying_another_mode(
    fake: FakeOpenAI, settings: Settings
) -> None:
    fake.enqueue(*[Reply.out_of_range("relevance", 150)] * 2)

    results = score_all(settings, "auto", 3, concurrency=1)

    assert sorted(r.ok for r in results) == [False, True, True]
    assert asked(fake) == ["json_schema"] * 4  # validation is not a refusal


# -- the cache key -----------------------------------------------------------------------------


def test_tools_and_json_answers_are_cached_apart_and_auto_shares_json_schemas(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    def run(mode: str) -> bool:
        result = scorer.score(PAPER, "llm-inference", settings=replace(fake_settings, mode=mode))
        return result.cached

    assert run("json_schema") is False
    assert run("auto") is True  # the same request on this endpoint: the same answer
    assert run("tools") is False
    assert run("tools") is True
    assert run("json") is False
    assert run("json") is True
    assert fake.count == 3


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def papers_file(tmp_path: Path) -> Path:
    path = tmp_path / "papers.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in papers(20)) + "\n", encoding="utf-8")
    return path


def batch(fake: FakeOpenAI, cache: Path, papers: Path, out: Path, *args: str, **env: str) -> Result:
    environment = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": KEY,
        "SCORER_CACHE_DIR": str(cache),
        **env,
    }
    argv = ["batch", str(papers), "-r", "llm-inference", "-o", str(out), *args]
    return CliRunner().invoke(cli, argv, env=environment)


def scored_rows(out: Path) -> Iterator[dict[str, Any]]:
    for line in out.read_text(encoding="utf-8").splitlines():
        yield json.loads(line)


def test_cli_explicit_json_schema_on_a_refusing_endpoint_stops_the_batch_with_one_line(
    fake: FakeOpenAI, isolated_env: Path, papers_file: Path, tmp_path: Path
) -> None:
    fake.play(Personality.refusing("json_schema"))

    result = batch(
        fake,
        isolated_env,
        papers_file,
        tmp_path / "out.jsonl",
        "--mode",
        "json_schema",
        "--concurrency",
        "4",
    )

    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1
    assert "does not support json_schema" in errors[0] and "--mode auto" in errors[0]
    # One request when the refusal is back within probe_wait (the library test below
    # waits for it); never more than were in flight.
    assert fake.count <= 4
    assert KEY not in result.output


def test_cli_auto_falls_back_once_and_scores_every_paper(
    fake: FakeOpenAI,
    isolated_env: Path,
    papers_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.play(Personality.refusing("json_schema"))
    out = tmp_path / "out.jsonl"

    # auto is the default. The choice is logged (on stderr when logging is
    # unconfigured, which CliRunner cannot capture; caplog can).
    with caplog.at_level(logging.WARNING, logger="scorer"):
        result = batch(fake, isolated_env, papers_file, out, "--concurrency", "4")

    assert result.exit_code == 0, result.output
    # Papers wait up to two seconds for the first request's verdict (exactly one
    # probe when the refusal is that quick: see the library tests, which wait for it).
    assert asked(fake).count("tools") == 20
    assert 1 <= asked(fake).count("json_schema") <= 4
    assert len([r for r in caplog.records if "refused json_schema" in r.getMessage()]) == 1
    rows = list(scored_rows(out))
    assert len(rows) == 20 and all(not r.get("error") for r in rows)


def test_cli_mode_from_the_environment_and_a_bad_mode_is_one_line(
    fake: FakeOpenAI, isolated_env: Path, papers_file: Path, tmp_path: Path
) -> None:
    fake.play(Personality.text_only())

    result = batch(fake, isolated_env, papers_file, tmp_path / "out.jsonl", SCORER_MODE="json")
    assert result.exit_code == 0, result.output
    assert set(asked(fake)) == {"json_object"}

    bad = batch(fake, isolated_env, papers_file, tmp_path / "b.jsonl", SCORER_MODE="xml")
    assert bad.exit_code != 0
    assert "mode must be auto, json_schema, tools or json" in bad.stderr
    assert "Traceback" not in bad.output

    flag = batch(fake, isolated_env, papers_file, tmp_path / "c.jsonl", "--mode", "xml")
    assert flag.exit_code == 2
    assert "xml" in flag.output


def test_probe_wait_from_the_environment_and_a_bad_one_is_one_line(
    fake: FakeOpenAI, isolated_env: Path, papers_file: Path, tmp_path: Path
) -> None:
    assert Settings.resolve(env={"SCORER_PROBE_WAIT": "0"}).probe_wait == 0.0
    assert Settings.resolve(env={"SCORER_PROBE_WAIT": " 0.5 "}).probe_wait == 0.5
    assert Settings.resolve(env={}).probe_wait == 2.0
    assert Settings.resolve(env={"SCORER_PROBE_WAIT": "0"}, probe_wait=3.0).probe_wait == 3.0

    fake.hold()  # the first request's verdict never comes before all four are sent
    with ThreadPoolExecutor(max_workers=1) as pool:
        args = (fake, isolated_env, papers_file, tmp_path / "out.jsonl", "--concurrency", "4")
        future = pool.submit(batch, *args, SCORER_PROBE_WAIT="0")
        wait_until(lambda: fake.in_flight == 4)
        fake.release()
        assert future.result().exit_code == 0

    for value in ("soon", "-1"):
        bad = batch(fake, isolated_env, papers_file, tmp_path / "b.jsonl", SCORER_PROBE_WAIT=value)
        assert bad.exit_code == 2, bad.output
        assert "probe_wait must be a number" in bad.stderr
        assert "Traceback" not in bad.output


# -- the README's example ----------------------------------------------------------------------


def test_readme_mode_example_runs_against_an_endpoint_without_json_schema(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Endpoints and structured-output modes", 1)[1].split("\n## ", 1)[0]
    (command,) = [line[2:] for line in section.splitlines() if line.startswith("$ ")]
    assert "--mode tools" in command
    fake.play(Personality.refusing("json_schema"))
    shutil.copytree(ROOT / "fixtures", tmp_path / "fixtures")
    monkeypatch.chdir(tmp_path)
    env = {"SCORER_CACHE_DIR": str(tmp_path / "cache")}

    done = run_as_typed(command.replace("http://localhost:8000/v1", fake.base_url), env=env)

    assert done.returncode == 0, done.stderr
    assert re.search(r"Relevance: \d+/100 \| Hype: \d+/100", done.stdout)
    assert asked(fake) == ["tools"]


def test_the_refusing_fake_answers_like_the_real_servers(fake: FakeOpenAI) -> None:
    import openai

    client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
    schema = {"type": "json_schema", "json_schema": {"name": "S", "schema": {"type": "object"}}}
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    hello = [{"role": "user", "content": "hello"}]
    fake.play(Personality.refusing("json_schema", "tools", replies={"tools": LLAMA_CPP_NO_JINJA}))

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="m", messages=hello, response_format=schema)
    assert refused.value.body["param"] == "response_format"
    with pytest.raises(openai.InternalServerError, match="--jinja"):
        client.chat.completions.create(model="m", messages=hello, tools=[tool])
    plain = client.chat.completions.create(model="m", messages=hello)
    assert plain.choices[0].message.content == "ok"

    fake.reset()  # back to the cooperating endpoint
    answered = client.chat.completions.create(model="m", messages=hello, tools=[tool])
    assert answered.choices[0].message.tool_calls
