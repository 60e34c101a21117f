"""`scorer batch` as a user runs it, against the fake OpenAI server."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
from pathlib import Path

import diskcache
from in_process import run_scorer
from subprocesses import SCORER, started, wait_for_rows

from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
KITCHENHAM = ROOT / "fixtures" / "input_kitchenham_sample.csv"


def run(
    args: list[str], fake: FakeOpenAI, cache: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    return run_scorer(args, env=env, input=stdin)


def test_kitchenham_sample_to_csv_jsonl_and_digest(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    outs = [tmp_path / "out.csv", tmp_path / "out.jsonl", tmp_path / "digest.md"]
    args = ["batch", str(KITCHENHAM), "-r", "software-fault-prediction"]
    done = run([*args, *(f"-o{o}" for o in outs)], fake, isolated_env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "scanned 60, unique 60, scored 60" in done.stderr
    assert fake.count == 60

    rows = list(csv.DictReader(outs[0].open(encoding="utf-8", newline="")))
    assert len(rows) == 60
    assert {"Document Title", "title"} & set(rows[0]) == {"title"}
    assert "label" in rows[0]  # unknown input columns carried through
    assert all(r["status"] == "scored" and r["relevance"] for r in rows)
    assert len(outs[1].read_text(encoding="utf-8").splitlines()) == 60
    digest = outs[2].read_text(encoding="utf-8")
    assert digest.startswith("# Software fault prediction")
    assert "out of **60** total scanned." in digest

    again = run([*args, "-o", str(tmp_path / "again.csv")], fake, isolated_env)
    assert again.returncode == 0 and "cached 60" in again.stderr
    assert fake.count == 60


def test_bad_rows_are_reported_with_line_numbers_and_the_run_goes_on(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "papers.csv"
    source.write_text(
        "title,abstract\nGood one,Fine abstract.\nNo abstract,\n,No title\nGood two,Also fine.\n",
        encoding="utf-8",
    )
    done = run(["batch", str(source), "-r", "llm-inference"], fake, isolated_env)
    assert done.returncode == 1
    assert f"{source}:3: skipped" in done.stderr and f"{source}:4: skipped" in done.stderr
    titles = sorted(json.loads(line)["title"] for line in done.stdout.splitlines())
    assert titles == ["Good one", "Good two"]


def test_jsonl_on_stdin_to_stdout(fake: FakeOpenAI, isolated_env: Path) -> None:
    lines = [
        {"id": "2602.21548v1", "title": "DualPath", "abstract": "KV-cache I/O."},
        {"id": "arXiv:2602.21548v2", "title": "DualPath", "abstract": "KV-cache I/O."},
        {"title": "KnapSpec", "abstract": "Speculative decoding."},
    ]
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    done = run(["batch", "-", "-r", "llm-inference"], fake, isolated_env, stdin=stdin)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(o["title"] for o in out) == ["DualPath", "KnapSpec"]
    assert "scanned 3, unique 2" in done.stderr and fake.count == 2


def test_empty_input_is_an_empty_digest(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("title,abstract\n", encoding="utf-8")
    digest = tmp_path / "d.md"
    done = run(["batch", str(source), "-r", "llm-inference", "-o", str(digest)], fake, isolated_env)
    assert done.returncode == 0, done.stderr
    assert "**0** papers above threshold (70/100) out of **0** total scanned." in digest.read_text()


def test_kill_9_mid_batch_then_rerun_sends_only_the_unfinished(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "papers.jsonl"
    with source.open("w", encoding="utf-8") as f:
        for i in range(24):
            f.write(json.dumps({"title": f"Paper {i}", "abstract": f"Abstract number {i}."}) + "\n")
    fake.latency = 0.25
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(isolated_env)}
    args = ["batch", str(source), "-r", "llm-inference", "--concurrency", "2", "-o", str(out)]
    with started([SCORER, *args], env=env, stderr=subprocess.DEVNULL) as proc:
        # Rows go to a temporary file beside out.jsonl as they finish; kill -9 leaves it.
        assert wait_for_rows(tmp_path, ".out.jsonl.*.tmp", 6)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (partial,) = tmp_path.glob(".out.jsonl.*.tmp")
    finished = len(partial.read_text().splitlines())
    assert 6 <= finished < 24
    assert not out.exists()  # never a half file under the final name
    with diskcache.Cache(str(isolated_env)) as cache:
        # Answers only: the papers in flight at the kill left claims (cache.py), not answers.
        cached = sum(not str(cache[key]).startswith("claim:") for key in cache)
    assert cached >= finished  # every row written was cached first: nothing finished is lost

    fake.reset()
    fake.latency = 0.0
    done = run(args, fake, isolated_env)
    assert done.returncode == 0, done.stderr
    assert fake.count == 24 - cached  # only what was not finished
    assert len(out.read_text().splitlines()) == 24
    assert f"cached {cached}" in done.stderr
    assert not list(tmp_path.glob(".out.jsonl.*"))  # the killed run's leftover is cleaned up
