"""`scorer eval` as a user runs it: against the fake OpenAI server and the embedded model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from subprocesses import run as run_group

from scorer.cli import cli
from scorer.testing import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[1]
EVAL_FIXTURE = ROOT / "fixtures" / "eval_kitchenham.csv"
SCORER = [sys.executable, "-c", "from scorer.cli import main; main()"]
HEADER = ["title", "abstract", "verdict"]


def run(
    args: list[str], cache: Path, fake: FakeOpenAI | None = None
) -> subprocess.CompletedProcess[str]:
    """``scorer eval ARGS`` as typed, in this process: scikit-learn is imported once, not
    once per test (a second or more each on a busy machine)."""
    env = {"SCORER_CACHE_DIR": str(cache)}
    if fake is not None:
        env["OPENAI_BASE_URL"] = fake.base_url
    result = CliRunner(env=env).invoke(cli, ["eval", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(
        ["scorer", "eval", *args], result.exit_code, result.stdout, result.stderr
    )


def write_labelled(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        out.writerows(rows)
    return path


LABELLED = [
    ("A systematic review of test-driven development", "We review 32 studies of TDD.", "I"),
    ("Pair programming: a mapping study", "A systematic mapping of 40 papers.", "I"),
    ("A compiler for a new DSL", "We build a compiler and measure it.", "E"),
    ("Refactoring tools in practice", "An interview study with 12 developers.", "E"),
    ("Bug triage with deep learning", "A classifier assigns bug reports.", "E"),
    ("Code review at a large company", "A case study of review latency.", "E"),
]


def test_perfect_scores_give_perfect_metrics(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_labelled(tmp_path / "labelled.csv", LABELLED)
    for *_, verdict in LABELLED:  # one request at a time, in file order
        relevance = 90 if verdict == "I" else 10
        fake.enqueue(Reply(json_override={"relevance": relevance}))
    args = [str(source), "-r", "se-literature-reviews", "--label-column", "verdict"]
    done = run([*args, "--positive", "I", "--concurrency", "1", "--json"], isolated_env, fake)

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    model = out["model"]
    assert (model["n"], model["positives"]) == (6, 2)
    assert model["auc"] == 1.0
    assert model["average_precision"] == 1.0
    assert (model["tp"], model["fp"], model["fn"], model["tn"]) == (2, 0, 0, 4)
    assert model["recall_at_threshold"] == 1.0
    assert model["tokens_prompt"] > 0
    assert out["sent_to_model"] == 6
    assert fake.count == 6


def test_table_report_and_a_second_run_from_the_cache(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    report = tmp_path / "eval.html"
    args = [str(EVAL_FIXTURE), "-r", "se-literature-reviews", "--report", str(report)]
    done = run(args, isolated_env, fake)

    assert done.returncode == 0, done.stderr
    assert "ROC AUC" in done.stdout
    assert "TF-IDF baseline (no model): ROC-AUC 0." in done.stdout
    assert "relevant (human label)    45" in done.stdout
    html = report.read_text(encoding="utf-8")
    assert html.count("<svg") >= 2
    sent = fake.count
    assert 290 <= sent <= 300  # one request per unique paper

    again = run([str(EVAL_FIXTURE), "-r", "se-literature-reviews", "--json"], isolated_env, fake)
    assert again.returncode == 0, again.stderr
    assert fake.count == sent  # everything from the cache
    assert json.loads(again.stdout)["cached"] == 300


def test_prefilter_sends_only_the_top_fraction(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    args = [str(EVAL_FIXTURE), "-r", "se-literature-reviews", "--prefilter-top", "20%", "--json"]
    done = run(args, isolated_env, fake)

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["sent_to_model"] == 60
    assert out["prefiltered_out"] == 240
    assert out["model"]["n"] == 300  # the papers left out count, as scored 0
    assert fake.count <= 60


def test_missing_label_column_and_unknown_labels_are_clear_errors(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_labelled(tmp_path / "labelled.csv", LABELLED)
    done = run([str(source), "-r", "se-literature-reviews"], isolated_env, fake)
    assert done.returncode == 2
    assert "no column 'label'" in done.stderr and "--label-column" in done.stderr

    done = run(
        [str(source), "-r", "se-literature-reviews", "--label-column", "verdict"],
        isolated_env,
        fake,
    )
    assert done.returncode == 2
    assert "--positive" in done.stderr
    assert "Traceback" not in done.stderr
    assert fake.count == 0


def test_logprob_method_against_the_fake_server(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = write_labelled(tmp_path / "labelled.csv", LABELLED)
    args = [str(source), "-r", "se-literature-reviews", "--label-column", "verdict"]
    done = run([*args, "--positive", "I", "--method", "logprob", "--json"], isolated_env, fake)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"]["method"] == "logprob"
    assert fake.count == 12  # two yes/no questions per paper
    assert all(r["logprobs"] is True for r in fake.requests)


def test_logprob_on_an_endpoint_without_logprobs_stops_with_one_message(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    fake.enqueue(*[Reply(ignore_logprobs=True)] * 20)
    source = write_labelled(tmp_path / "labelled.csv", LABELLED)
    args = [str(source), "-r", "se-literature-reviews", "--label-column", "verdict"]
    done = run([*args, "--positive", "I", "--method", "logprob"], isolated_env, fake)

    assert done.returncode == 3
    assert done.stderr.count("no log-probabilities") == 1
    assert fake.count <= 16


@pytest.mark.embedded
def test_eval_runs_offline_on_the_embedded_model(isolated_env: Path, tmp_path: Path) -> None:
    with EVAL_FIXTURE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    subset = [r for r in rows if r["label"] == "yes"][:4] + [r for r in rows if r["label"] == "no"][
        :8
    ]
    source = tmp_path / "subset.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(subset)
    report = tmp_path / "eval.html"
    args = [str(source), "-r", "se-literature-reviews", "--method", "logprob"]
    # A subprocess, as typed: the demo-model notice is a log record that Python prints
    # on stderr when logging is unconfigured, which CliRunner cannot capture.
    env = {**os.environ, "SCORER_CACHE_DIR": str(isolated_env)}
    done = run_group([*SCORER, "eval", *args, "--report", str(report)], timeout=600, env=env)

    assert done.returncode == 0, done.stderr
    assert "embedded SmolLM2" in done.stderr
    assert "papers scored             12" in done.stdout
    assert "ROC AUC" in done.stdout
    assert report.exists()
