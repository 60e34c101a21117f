"""The ``scorer`` command as a user types it.

Cases about the process itself run the real command in a subprocess (Ctrl-C,
what a fresh interpreter imports); the rest use click's ``CliRunner`` in
process (``scorer.cli.main`` is the same ``cli(prog_name="scorer")``), which
gets the same stdout, stderr and exit code without paying Python's start-up
and imports each time. Every run that scores points at the fake server, never
at a hosted API or the embedded model.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path

import click
import diskcache
import in_process
import pytest
from click.testing import CliRunner, Result
from subprocesses import SCORER, kill_group, run, sigint_state, started

import scorer
from scorer import load_rubric
from scorer.cli import COMMANDS, cli, load_command
from scorer.cli.score_cmd import EMBEDDED_NOTICE
from scorer.testing import FakeOpenAI, Reply
from scorer.testing._replies import error_body

API_KEY = "sk-test-cli-0123456789abcdef"
TITLE = "Speculative Decoding for Disaggregated LLM Serving"
ABSTRACT = "We pair a draft model with prefill/decode disaggregation and cut p99 latency 2.3x."
SCORES_LINE = re.compile(r"^Relevance: (\d+)/100 \| Hype: (\d+)/100\b", re.MULTILINE)
ERROR_PREFIX = "scorer: error: "

GOOD_RUBRIC = """
title = "My topic"
description = "Papers about my topic."
threshold = 60

[[dimensions]]
name = "relevance"
description = "How on-topic."
[dimensions.scale]
0 = "Off topic."
100 = "On topic."
"""


# -- helpers --------------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without OPENAI_*/SCORER_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCORER_"))}
    return env | extra


def run_scorer(
    *args: str, env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``scorer ARGS`` as typed, in this process (stdin is empty unless given)."""
    return in_process.run_scorer(args, env=env, input=stdin)


def invoke(
    args: list[str], env: Mapping[str, str] | None = None, stdin: str | None = None
) -> Result:
    return CliRunner().invoke(cli, args, env=dict(env or {}), input=stdin, prog_name="scorer")


def endpoint(fake: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": API_KEY}


def score_args(*extra: str) -> list[str]:
    return ["score", "--rubric", "llm-inference", "--title", TITLE, "--abstract", ABSTRACT, *extra]


def assert_one_line_error(stderr: str, stdout: str = "") -> str:
    """A failure is one line on stderr, no traceback, nothing on stdout; return that line."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(ERROR_PREFIX), stderr
    assert stdout == ""
    return lines[0]


def assert_failed(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return assert_one_line_error(result.stderr, result.stdout)


def stored_justifications(cache_dir: Path) -> list[str]:
    with diskcache.Cache(str(cache_dir)) as store:
        return [json.loads(store[key])["justification"] for key in store]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- scoring, end to end ---------------------------------------------------------------------------


def test_score_prints_the_result_then_serves_it_from_the_cache(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    env = clean_env(**endpoint(fake), SCORER_CACHE_DIR=str(cache_dir))

    first = run_scorer(*score_args(), env=env)

    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # in particular, no embedded-model notice
    assert fake.count == 1
    lines = first.stdout.splitlines()
    assert lines[0] == TITLE
    match = SCORES_LINE.search(first.stdout)
    assert match, first.stdout
    (justification,) = stored_justifications(cache_dir)
    assert justification in lines
    assert "· cache ·" not in first.stdout

    second = run_scorer(*score_args(), env=env)

    assert second.returncode == 0, second.stderr
    assert fake.count == 1
    assert "· cache ·" in second.stdout
    again = SCORES_LINE.search(second.stdout)
    assert again and again.groups() == match.groups()
    assert justification in second.stdout.splitlines()


def test_json_paper_on_stdin_and_json_out(fake: FakeOpenAI, tmp_path: Path) -> None:
    env = clean_env(**endpoint(fake), SCORER_CACHE_DIR=str(tmp_path / "cache"))
    paper = {"id": "2602.21548v2", "title": TITLE, "abstract": ABSTRACT, "authors": ["A", "B"]}

    done = run_scorer(
        "score", "-r", "llm-inference", "--format", "json", env=env, stdin=json.dumps(paper)
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    data = json.loads(done.stdout)  # one JSON object, nothing else on stdout
    assert data["paper"]["title"] == TITLE and data["paper"]["authors"] == ["A", "B"]
    assert set(data["scores"]) == {"relevance", "hype"}
    assert data["justification"]
    assert data["passed"] == (data["scores"]["relevance"] >= 70)
    assert data["model"] == "gpt-4o-mini" == fake.requests[-1]["model"]
    assert data["cached"] is False


def test_a_rejected_key_is_exit_3_and_never_printed(fake: FakeOpenAI, tmp_path: Path) -> None:
    # Some proxies echo the whole key back; it must not reach the terminal.
    echoed = error_body(f"Incorrect API key provided: {API_KEY}.", "invalid_request_error")
    fake.enqueue(Reply(status=401, body=echoed))
    env = clean_env(**endpoint(fake), SCORER_CACHE_DIR=str(tmp_path / "cache"))

    done = run_scorer(*score_args(), env=env)

    assert done.returncode == 3
    line = assert_one_line_error(done.stderr, done.stdout)
    assert "OPENAI_API_KEY" in line and "401" in line
    assert API_KEY not in done.stdout + done.stderr
    assert fake.count == 1  # not retried


def interrupt_while_waiting_for_the_model(
    fake: FakeOpenAI, tmp_path: Path, *, blocked: tuple[signal.Signals, ...] = ()
) -> tuple[int | None, str, str]:
    """``scorer score`` on a model that never answers, Ctrl-C once the request is there.

    The exit code (None: still running after the hang guard, then killed),
    stdout, and stderr with how the command took SIGINT when it was sent.
    """
    fake.enqueue(Reply.hanging())
    env = clean_env(**endpoint(fake), SCORER_CACHE_DIR=str(tmp_path / "cache"))
    # Forked as a shell would start it, with ``blocked`` blocked as a careless parent leaves them.
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with started([SCORER, *score_args()], env=env, blocked=blocked, **popen) as proc:
        deadline = time.monotonic() + 120  # a hang guard: start-up is slow on a busy machine
        while fake.count == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is not None:
            pytest.fail(f"the command ended before it reached the server: {proc.communicate()}")
        assert fake.count == 1, "the command never reached the server"
        state = sigint_state(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=30)  # a hang guard, not a measurement
        except subprocess.TimeoutExpired:
            kill_group(proc)
            stdout, stderr = proc.communicate()
            return None, stdout, f"{stderr}(SIGINT was {state} in the command)"
    return proc.returncode, stdout, stderr


def test_ctrl_c_while_waiting_for_the_model_is_exit_130(fake: FakeOpenAI, tmp_path: Path) -> None:
    code, stdout, stderr = interrupt_while_waiting_for_the_model(fake, tmp_path)

    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == ["scorer: interrupted"]
    assert stdout == ""


def test_ctrl_c_reaches_a_command_whose_parent_blocked_it(fake: FakeOpenAI, tmp_path: Path) -> None:
    # A signal mask survives exec: started by a thread that blocks SIGINT, the
    # command used to keep Ctrl-C pending for ever and wait on the model.
    code, stdout, stderr = interrupt_while_waiting_for_the_model(
        fake, tmp_path, blocked=(signal.SIGINT, signal.SIGTERM)
    )

    assert code == 130, stderr
    assert stderr.strip().splitlines() == ["scorer: interrupted"]
    assert stdout == ""


# -- scoring (CliRunner) --------------------------------------------------------------------------


def test_json_format_is_one_parseable_object(fake: FakeOpenAI) -> None:
    result = invoke(score_args("--format", "json"), env=endpoint(fake))

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("scores", "justification", "passed", "model", "cached"):
        assert key in data
    assert all(isinstance(v, int) and 0 <= v <= 100 for v in data["scores"].values())

    again = json.loads(invoke(score_args("--format", "json"), env=endpoint(fake)).stdout)
    assert again["cached"] is True and again["scores"] == data["scores"]
    assert fake.count == 1


def test_paper_from_a_json_file(fake: FakeOpenAI, tmp_path: Path) -> None:
    paper_file = tmp_path / "paper.json"
    paper_file.write_text(json.dumps({"title": TITLE, "abstract": ABSTRACT}), encoding="utf-8")

    result = invoke(
        ["score", "-r", "llm-inference", "--paper", str(paper_file)], env=endpoint(fake)
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == TITLE
    assert SCORES_LINE.search(result.stdout)
    assert ABSTRACT in json.dumps(fake.requests[-1]["messages"])


def test_base_url_flag_works_like_the_env_var(fake: FakeOpenAI) -> None:
    result = invoke(score_args("--base-url", fake.base_url), env={})

    assert result.exit_code == 0, result.output
    assert EMBEDDED_NOTICE not in result.stderr
    assert fake.count == 1
    assert SCORES_LINE.search(result.stdout)


def test_model_flag_changes_the_model_sent(fake: FakeOpenAI) -> None:
    result = invoke(score_args("--model", "other-model"), env=endpoint(fake))

    assert result.exit_code == 0, result.output
    assert fake.requests[-1]["model"] == "other-model"
    assert "other-model" in result.stdout


def test_no_cache_asks_every_time_and_writes_nothing(fake: FakeOpenAI, isolated_env: Path) -> None:
    for _ in range(2):
        result = invoke(score_args("--no-cache"), env=endpoint(fake))
        assert result.exit_code == 0, result.output
        assert "· cache ·" not in result.stdout

    assert fake.count == 2
    assert not isolated_env.exists()  # SCORER_CACHE_DIR was never touched


def test_cache_dir_then_cache_stats_and_clear(
    fake: FakeOpenAI, tmp_path: Path, isolated_env: Path
) -> None:
    cache_dir = tmp_path / "my-cache"
    scored = invoke(score_args("--cache-dir", str(cache_dir)), env=endpoint(fake))
    assert scored.exit_code == 0, scored.output
    assert not isolated_env.exists()  # the flag wins over SCORER_CACHE_DIR

    stats = invoke(["cache", "stats", "--cache-dir", str(cache_dir)])
    assert stats.exit_code == 0, stats.output
    assert str(cache_dir) in stats.stdout
    assert re.search(r"^entries:\s+1$", stats.stdout, re.MULTILINE), stats.stdout

    kept = invoke(["cache", "clear", "--cache-dir", str(cache_dir)], stdin="n\n")
    assert kept.exit_code != 0
    assert len(stored_justifications(cache_dir)) == 1

    cleared = invoke(["cache", "clear", "--cache-dir", str(cache_dir), "--yes"])
    assert cleared.exit_code == 0, cleared.output
    assert "removed 1" in cleared.stdout

    after = invoke(["cache", "stats", "--cache-dir", str(cache_dir)])
    assert re.search(r"^entries:\s+0$", after.stdout, re.MULTILINE), after.stdout
    assert invoke(score_args("--cache-dir", str(cache_dir)), env=endpoint(fake)).exit_code == 0
    assert fake.count == 2  # cleared means scored again


# -- errors: one line, documented exit codes ------------------------------------------------------


def test_unknown_rubric_is_exit_2(fake: FakeOpenAI) -> None:
    args = ["score", "--rubric", "no-such-topic", "--title", TITLE, "--abstract", ABSTRACT]
    line = assert_failed(invoke(args, env=endpoint(fake)), 2)

    assert "no-such-topic" in line and "llm-inference" in line  # says what exists
    assert fake.count == 0


def test_missing_abstract_is_exit_2(fake: FakeOpenAI) -> None:
    args = ["score", "--rubric", "llm-inference", "--title", TITLE]
    line = assert_failed(invoke(args, env=endpoint(fake)), 2)

    assert "abstract" in line
    assert fake.count == 0


def test_invalid_json_on_stdin_is_exit_2(fake: FakeOpenAI) -> None:
    result = invoke(["score", "-r", "llm-inference"], env=endpoint(fake), stdin='{"title": "x",')
    line = assert_failed(result, 2)

    assert "JSON" in line
    assert fake.count == 0


def test_broken_rubric_file_is_exit_2_naming_file_and_field(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(GOOD_RUBRIC.replace("threshold = 60", "threshold = 150"), encoding="utf-8")

    result = invoke(
        ["score", "-r", str(broken), "--title", TITLE, "--abstract", ABSTRACT], env=endpoint(fake)
    )
    line = assert_failed(result, 2)

    assert str(broken) in line and "threshold" in line
    assert fake.count == 0


def test_insufficient_quota_is_exit_3_without_retries(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply.insufficient_quota())

    line = assert_failed(invoke(score_args(), env=endpoint(fake)), 3)

    assert "quota" in line
    assert fake.count == 1


def test_unusable_cache_dir_is_exit_4(fake: FakeOpenAI, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")

    line = assert_failed(
        invoke(score_args("--cache-dir", str(blocker / "cache")), env=endpoint(fake)), 4
    )

    assert str(blocker / "cache") in line


# -- rubrics --------------------------------------------------------------------------------------


def test_rubrics_list_shows_the_builtins() -> None:
    result = invoke(["rubrics", "list"])

    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"llm-inference", "exoplanet-atmospheres", "software-fault-prediction"} <= set(names)


def test_rubrics_show_prints_toml_that_loads_back() -> None:
    result = invoke(["rubrics", "show", "llm-inference"])

    assert result.exit_code == 0, result.output
    data = tomllib.loads(result.stdout)
    assert data["description"] == load_rubric("llm-inference").description
    assert data["name"] == "llm-inference"


def test_rubrics_validate_a_good_file_prints_its_fingerprint(tmp_path: Path) -> None:
    good = tmp_path / "my-topic.toml"
    good.write_text(GOOD_RUBRIC, encoding="utf-8")

    result = invoke(["rubrics", "validate", str(good)])

    assert result.exit_code == 0, result.output
    assert load_rubric(good).fingerprint in result.stdout
    assert str(good) in result.stdout


BAD_RUBRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "unknown-field": (
        GOOD_RUBRIC.replace("threshold = 60", 'threshold = 60\ncolour = "red"'),
        ("'colour'", "unknown field"),
    ),
    "unknown-dimension-field": (
        GOOD_RUBRIC.replace('name = "relevance"', 'name = "relevance"\nweight = 2'),
        ("dimensions.0.weight", "unknown field"),
    ),
    "threshold-150": (GOOD_RUBRIC.replace("threshold = 60", "threshold = 150"), ("threshold",)),
    "scale-key-150": (
        GOOD_RUBRIC.replace('100 = "On topic."', '150 = "Beyond."'),
        ("dimensions.0.scale.150", "100"),
    ),
    "toml-syntax": (
        GOOD_RUBRIC.replace('title = "My topic"', 'title = "My topic'),
        ("TOML", "line 2"),
    ),
}


@pytest.mark.parametrize("case", list(BAD_RUBRICS))
def test_rubrics_validate_a_bad_file_is_exit_2(tmp_path: Path, case: str) -> None:
    text, expected = BAD_RUBRICS[case]
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")

    line = assert_failed(invoke(["rubrics", "validate", str(bad)]), 2)

    assert str(bad) in line
    for word in expected:
        assert word in line


# -- help -----------------------------------------------------------------------------------------


def test_help() -> None:
    top = invoke(["--help"])
    assert top.exit_code == 0
    for command in ("score", "rubrics", "cache"):
        assert command in top.stdout

    score_help = invoke(["score", "--help"])
    assert score_help.exit_code == 0
    for option in ("--rubric", "--model", "--base-url", "--cache-dir", "--no-cache", "--format"):
        assert option in score_help.stdout


def test_top_help_lists_each_command_with_its_own_help() -> None:
    """``scorer --help`` lists the commands without importing them, as click would list them."""
    eager = click.Group("scorer", commands={name: load_command(name) for name in COMMANDS})
    expected = CliRunner().invoke(eager, ["--help"]).stdout.split("Commands:")[1]
    top = invoke(["--help"])
    assert top.exit_code == 0
    assert top.stdout.split("Commands:")[1] == expected
    assert set(cli.list_commands(click.Context(cli))) == set(COMMANDS)


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str) -> None:
    result = invoke([flag])
    assert result.exit_code == 0
    assert result.stdout == f"scorer, version {scorer.__version__}\n"


# The real command, telling on exit which top-level packages it imported.
IMPORTS_REPORTED = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'imported: ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})) + '\\n'))\n"
    "from scorer.cli import main; main()"
)
HEAVY = {"openai", "instructor", "jinja2", "rich", "fastapi", "uvicorn", "sklearn", "xllamacpp"}


def imported_by(*args: str, env: Mapping[str, str]) -> set[str]:
    done = run([sys.executable, "-c", IMPORTS_REPORTED, *args], env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(done.stderr.rpartition("imported: ")[2].split())


def test_help_version_and_a_typo_start_without_the_heavy_libraries() -> None:
    """Start-up speed, without a clock: these never load the model clients, jinja or rich."""
    env = clean_env()
    for args in (["--help"], ["--version"], ["score", "--help"]):
        modules = imported_by(*args, env=env)
        assert "scorer" in modules and "click" in modules
        # A command's own help needs its module (pydantic, jinja), never a model client.
        heavy = HEAVY | {"pydantic"} if args[0] != "score" else HEAVY - {"jinja2"}
        assert not modules & heavy, args
    typo = run_scorer("scroe", env=env)
    assert typo.returncode == 2 and "No such command 'scroe'" in typo.stderr


def test_a_cached_score_never_loads_the_openai_client(fake: FakeOpenAI, tmp_path: Path) -> None:
    env = clean_env(**endpoint(fake), SCORER_CACHE_DIR=str(tmp_path / "cache"))
    assert invoke(score_args(), env=env).exit_code == 0  # fills the cache, in process
    modules = imported_by(*score_args(), env=env)
    assert fake.count == 1  # the second run came from the cache
    assert "pydantic" in modules and "diskcache" in modules
    assert not modules & (HEAVY - {"jinja2"})


def test_batch_help_loads_no_http_library() -> None:
    """``scorer batch --help`` shows the arXiv options without importing the arXiv client."""
    modules = imported_by("batch", "--help", env=clean_env())
    assert "scorer" in modules and "click" in modules
    assert not modules & {"requests", "openai", "instructor", "httpx2", "aiohttp"}


def test_shell_completion_script_and_completions() -> None:
    """The README's ``eval "$(_SCORER_COMPLETE=bash_source scorer)"`` gets a script."""
    script = run_scorer(env=clean_env(_SCORER_COMPLETE="bash_source"))
    assert script.returncode == 0, script.stderr
    assert "complete -o nosort -F _scorer_completion scorer" in script.stdout
    words = clean_env(_SCORER_COMPLETE="bash_complete", COMP_WORDS="scorer s", COMP_CWORD="1")
    completed = run_scorer(env=words)
    assert completed.stdout.split() == ["plain,score", "plain,serve"]
    zsh = run_scorer(env=clean_env(_SCORER_COMPLETE="zsh_source"))
    assert "compdef _scorer_completion scorer" in zsh.stdout


def test_a_count_of_one_reads_one_paper(fake: FakeOpenAI, tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(json.dumps({"title": TITLE, "abstract": ABSTRACT, "label": "yes"}) + "\n")
    result = invoke(["eval", str(labelled), "--rubric", "llm-inference"], env=endpoint(fake))
    assert result.exit_code == 0, result.output
    assert "\n1 paper scored (0 from the cache) in " in result.stdout
    assert "1 papers" not in result.output


# -- the unreachable endpoint ---------------------------------------------------------------------


def test_unreachable_endpoint_is_exit_3_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    # The retry policy comes from the environment: two attempts, no waits between them,
    # so this takes a second instead of the default policy's ~17 s of backoff.
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    env = clean_env(
        OPENAI_BASE_URL=base_url,
        OPENAI_API_KEY=API_KEY,
        SCORER_TIMEOUT="0.5",
        SCORER_MAX_ATTEMPTS="2",
        SCORER_RETRY_MAX_WAIT="0",
        SCORER_CACHE_DIR=str(tmp_path / "cache"),
    )
    done = run_scorer(*score_args(), env=env)

    assert done.returncode == 3, done.stderr
    line = assert_one_line_error(done.stderr, done.stdout)
    assert "cannot connect" in line and "gave up after 2 attempt(s)" in line
    assert "check OPENAI_BASE_URL" in line and base_url in line
    assert API_KEY not in line


def test_cache_stats_on_a_missing_folder_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    stats = invoke(["cache", "stats", "--cache-dir", str(missing)])
    assert stats.exit_code == 0, stats.output
    assert "no cache there yet" in stats.stdout and "entries:   0" in stats.stdout
    cleared = invoke(["cache", "clear", "--cache-dir", str(missing), "--yes"])
    assert cleared.exit_code == 0 and "nothing to clear" in cleared.stdout
    assert not missing.exists()
