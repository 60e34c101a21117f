"""The delivery state: each paper sent once per target, also with two runs at once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
from pathlib import Path

import pytest
from subprocesses import SCORER, started
from test_arxiv_source import RecordedArxiv
from test_daily import ENV, SmtpServer, a_days_papers, mail_target, write_config

from scorer._errors import CacheError
from scorer.daily import DeliveryState
from scorer.testing import FakeOpenAI

DAY = dt.date(2026, 2, 27)
PAPERS = [f"arxiv:2602.{n:05d}" for n in range(40)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_paper_claimed_by_one_run_is_not_offered_to_another(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with DeliveryState(path) as first, DeliveryState(path) as second:
        assert first.claim("mail", "topic", PAPERS[:3], DAY) == PAPERS[:3]
        assert second.claim("mail", "topic", PAPERS[:5], DAY) == PAPERS[3:5]
        assert second.claim("chat", "topic", PAPERS[:2], DAY) == PAPERS[:2]  # per target
        first.mark_sent("mail", "topic", PAPERS[:2])
        second.release("mail", "topic")  # its delivery failed: offered again
        assert first.claim("mail", "topic", PAPERS[:5], DAY) == PAPERS[3:5]
        assert first.shown_count("mail", "topic") == 2


def test_a_claim_left_by_a_run_that_died_is_taken_over_later(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    clock = Clock()
    with DeliveryState(path, clock=clock) as dead, DeliveryState(path, clock=clock) as later:
        assert dead.claim("mail", "topic", PAPERS[:2], DAY) == PAPERS[:2]
        clock.now += 60
        assert later.claim("mail", "topic", PAPERS[:2], DAY) == []
        clock.now += 3600
        assert later.claim("mail", "topic", PAPERS[:2], DAY) == PAPERS[:2]


def test_threads_claiming_the_same_papers_share_them_out(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    DeliveryState(path).close()
    got: list[list[str]] = []
    start = threading.Barrier(4)

    def claim() -> None:
        with DeliveryState(path) as state:
            start.wait()
            got.append(state.claim("mail", "topic", PAPERS, DAY))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [paper for batch in got for paper in batch]
    assert sorted(claimed) == PAPERS  # every paper once, none twice


def test_the_nothing_new_notice_goes_out_once_a_day_and_not_after_papers(tmp_path: Path) -> None:
    with DeliveryState(tmp_path / "state.sqlite3") as state:
        assert state.claim_notice("mail", "topic", DAY)
        assert not state.claim_notice("mail", "topic", DAY)  # being sent
        state.finish_notice("mail", "topic", DAY, sent=False)
        assert state.claim_notice("mail", "topic", DAY)  # it failed: may be sent again
        state.finish_notice("mail", "topic", DAY, sent=True)
        assert not state.claim_notice("mail", "topic", DAY)
        next_day = DAY + dt.timedelta(days=1)
        state.claim("mail", "topic", PAPERS[:1], next_day)
        state.mark_sent("mail", "topic", PAPERS[:1])
        assert not state.claim_notice("mail", "topic", next_day)  # papers went out that day


def test_the_window_only_moves_forward(tmp_path: Path) -> None:
    with DeliveryState(tmp_path / "state.sqlite3") as state:
        assert state.last_ok_day("arxiv:cat:cs.DC") is None
        state.set_last_ok_day("arxiv:cat:cs.DC", DAY)
        state.set_last_ok_day("arxiv:cat:cs.DC", DAY - dt.timedelta(days=3))  # a backfill
        assert state.last_ok_day("arxiv:cat:cs.DC") == DAY


def test_an_unusable_state_file_is_a_cache_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(CacheError, match="delivery state file"):
        DeliveryState(path)


def test_two_runs_at_once_send_the_digest_once(tmp_path: Path, fake: FakeOpenAI) -> None:
    with (
        RecordedArxiv([], default=a_days_papers()) as arxiv,
        SmtpServer(password=ENV["SCORER_TEST_SMTP_PASSWORD"]) as smtp,
    ):
        config = write_config(tmp_path, fake, arxiv, targets=mail_target(smtp), send_to='"mail"')
        command = [SCORER, "run", str(config), "--today", "2026-02-27"]
        env = {**os.environ, **ENV}
        popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        with started(command, env=env, **popen) as one, started(command, env=env, **popen) as two:
            runs = [one, two]
            outcomes = [run.communicate(timeout=240) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outcomes
        assert len(smtp.messages) == 1
        stderr = "".join(err for _, err in outcomes)
        assert stderr.count("papers to mail (llm-inference)") == 1
        assert stderr.count("nothing new for mail (llm-inference)") == 1
