"""Batch progress: a live bar on a terminal, plain lines with --progress elsewhere, else nothing."""

from __future__ import annotations

import io
import os
import pty
import subprocess
from pathlib import Path

from in_process import run_scorer
from subprocesses import SCORER, started

from scorer._models import Paper, ScoredPaper
from scorer.cli.progress import BatchProgress, count_records
from scorer.engine._batch import BatchSummary
from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
KITCHENHAM = ROOT / "fixtures" / "input_kitchenham_sample.csv"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def a_result() -> ScoredPaper:
    paper = Paper(title="T", abstract="A")
    return ScoredPaper(paper=paper, rubric="r", rubric_fingerprint="f", model="m")


def test_count_records_sees_multiline_fields_and_skips_the_header(tmp_path: Path) -> None:
    csv_file = tmp_path / "p.csv"
    csv_file.write_text('title,abstract\nA,"two\nlines"\nB,one\n', encoding="utf-8")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"title": "A"}\n\n{"title": "B"}\n', encoding="utf-8")
    assert count_records(str(csv_file)) == 2
    assert count_records(str(jsonl)) == 2
    assert count_records(str(KITCHENHAM)) == 60


def test_plain_lines_every_interval_when_not_a_terminal() -> None:
    out, clock = io.StringIO(), Clock()
    summary = BatchSummary(scored=3, cached=1, failed=1, duplicates=2, tokens=1234)
    with BatchProgress(50, live=False, stream=out, interval=10, clock=clock) as progress:
        progress(a_result(), summary)  # too soon for a line
        clock.now += 10
        progress(a_result(), summary)
    assert out.getvalue() == (
        "scorer: 7/50 papers, cached 1 · failed 1 · 1,234 tokens · 0.5 papers/s\n"
    )


def test_quiet_prints_nothing() -> None:
    out, clock = io.StringIO(), Clock()
    with BatchProgress(5, live=False, quiet=True, stream=out, clock=clock) as progress:
        clock.now += 60
        progress(a_result(), BatchSummary(scored=1))
    assert out.getvalue() == ""


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; return (exit code, what it drew)."""
    leader, follower = pty.openpty()
    with started(
        [SCORER, *args], env=env, stdout=subprocess.DEVNULL, stderr=follower, text=True
    ) as proc:
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        os.close(leader)
        return proc.wait(timeout=60), drawn.decode("utf-8", "replace")


def test_a_terminal_gets_a_live_bar(fake: FakeOpenAI, isolated_env: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": fake.base_url,
        "SCORER_CACHE_DIR": str(isolated_env),
        "COLUMNS": "160",
    }
    out = tmp_path / "out.csv"
    args = ["batch", str(KITCHENHAM), "-r", "software-fault-prediction", "-o", str(out)]
    code, drawn = run_on_a_terminal(args, env)

    assert code == 0, drawn
    assert "scoring" in drawn and "60/60" in drawn
    assert "cached 0 · failed 0" in drawn and "papers/s" in drawn
    assert "\x1b[" in drawn  # drawn in place with terminal escapes
    assert "scanned 60, unique 60, scored 60" in drawn  # the summary line still comes last


def test_no_progress_off_a_terminal_unless_asked(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(isolated_env)}
    args = [
        "batch",
        str(KITCHENHAM),
        "-r",
        "software-fault-prediction",
        "-o",
        str(tmp_path / "o.csv"),
    ]
    done = run_scorer(args, env=env)  # stderr is not a terminal here either
    assert done.returncode == 0
    assert "papers/s" not in done.stderr and "\x1b[" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("scorer: scanned 60")


def test_the_bar_shows_the_last_result_however_fast_results_came() -> None:
    # The bar's text is computed at most every 50 ms (it cost about 8 us per
    # result on a cached re-run); the last state is drawn when the batch ends.
    out, clock = io.StringIO(), Clock()
    summary = BatchSummary()
    with BatchProgress(50, live=True, stream=out, clock=clock) as progress:
        for _ in range(49):
            summary.cached += 1
            progress(a_result(), summary)
        summary.failed += 1
        progress(a_result(), summary)
    assert "━ 50/" in out.getvalue()  # the console is 80 columns wide: "50/50" is cut
    assert "cached 49 · failed 1" in out.getvalue()
