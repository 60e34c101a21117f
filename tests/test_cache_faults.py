"""Cache and disk faults, and two processes sharing one cache.

Real faults, made in the test: values that are not scores, a cache file with
garbage written over its middle, a full disk (a file-size limit on the scorer
process, RLIMIT_FSIZE, which makes SQLite's writes fail for real), a read-only
folder; and two real ``scorer batch`` processes on one folder. A run that
needs no process of its own (a file-size limit, a kill, a second process, a
mount to undo) runs in this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import diskcache
import pytest
from in_process import run_scorer
from prestarted import PrestartedProcess
from subprocesses import SCORER, started
from subprocesses import run as run_group

from scorer import Settings, load_rubric
from scorer.engine._scorer import Scorer
from scorer.testing import FakeOpenAI

KEY = "sk-test-cache-0123456789abcdef"


def write_papers(path: Path, n: int, start: int = 0) -> Path:
    lines = [
        json.dumps({"title": f"Paper {i:03d}", "abstract": f"Paging the KV cache, take {i}."})
        for i in range(start, start + n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def scorer(
    args: list[str],
    fake: FakeOpenAI,
    cache: Path,
    *,
    limit_file_size: int | None = None,
    child: bool = False,
    **more_env: str,
) -> subprocess.CompletedProcess[str]:
    """``scorer args`` as a user types it.

    In this process (logged warnings reach its stderr as they would a user's),
    or in a child process (``child``) when it needs its own file-size limit or
    mount (forked from an interpreter that has imported scorer: tests/prestarted.py).
    """
    env = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": KEY,
        "SCORER_CACHE_DIR": str(cache),
        **more_env,
    }
    if limit_file_size is None and not child:
        return run_scorer(args, env=env, warnings_to_stderr=True)

    # With a limit, a disk that is full for any file past it (SIGXFSZ is ignored in the
    # child, as in every Python process: a failed write, not a killed process).
    return run_group(
        [SCORER, *args],
        timeout=120,
        env={**os.environ, **env},
        file_size_limit=limit_file_size,
    )


def batch(
    fake: FakeOpenAI,
    cache: Path,
    papers: Path,
    out: Path,
    *,
    limit_file_size: int | None = None,
    child: bool = False,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    argv = ["batch", str(papers), "-r", "llm-inference", "-o", str(out)]
    return scorer(argv, fake, cache, limit_file_size=limit_file_size, child=child, **env)


def populate(fake: FakeOpenAI, cache: Path, papers: Path) -> None:
    """Score ``papers`` into ``cache`` as the CLI would, in this process, and close the cache
    (a child process must find it checkpointed, as a finished run leaves it)."""
    settings = Settings.resolve(env={}, base_url=fake.base_url, api_key=KEY, cache_dir=cache)
    records = [json.loads(line) for line in papers.read_text(encoding="utf-8").splitlines()]
    engine = Scorer(settings)

    async def run() -> None:
        async with engine:
            async for result in engine.ascore_many(records, load_rubric("llm-inference")):
                assert result.ok, result.error

    asyncio.run(run())
    assert engine.cache is not None
    engine.cache.close()


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def scored_titles(out: Path) -> list[str]:
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return sorted(
        r["title"] for r in records if not r.get("error") and r.get("relevance") is not None
    )


# -- corrupt values: a miss with one warning ----------------------------------------------------


def test_cached_values_that_are_not_scores_are_scored_again_with_one_warning(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    papers = write_papers(tmp_path / "in.jsonl", 6)
    populate(fake, isolated_env, papers)
    with diskcache.Cache(str(isolated_env)) as store:
        keys = sorted(store)
        store[keys[0]] = "not JSON {"
        store[keys[1]] = '{"scores": "all of them", "justification": 3}'
        store[keys[2]] = "[1, 2, 3]"

    out = tmp_path / "again.jsonl"
    again = batch(fake, isolated_env, papers, out)

    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    warnings = [line for line in again.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "unreadable entry" in warnings[0], again.stderr
    assert "cached 3" in again.stderr
    assert len(scored_titles(out)) == 6
    assert fake.count == 6 + 3


# -- a cache that cannot be opened: one line, exit 4, nothing paid ------------------------------


def garble(database: Path) -> None:
    """Random bytes over a SQLite file's inside; the header and last page kept, so the
    file still looks like SQLite."""
    data = bytearray(database.read_bytes())
    page = 4096
    data[page:-page] = os.urandom(len(data) - 2 * page)
    database.write_bytes(bytes(data))


def test_a_cache_file_with_garbage_inside_is_one_line_and_exit_4(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    papers = write_papers(tmp_path / "in.jsonl", 8)
    populate(fake, isolated_env, papers)
    garble(isolated_env / "cache.db")
    fake.reset()

    done = batch(fake, isolated_env, papers, tmp_path / "out.jsonl")

    assert done.returncode == 4, done.stderr
    line = one_error_line(done)
    assert f"cannot open the cache at {isolated_env}" in line and "--no-cache" in line
    assert fake.count == 0

    stats = scorer(["cache", "stats"], fake, isolated_env)
    assert stats.returncode == 4, stats.stderr
    assert "cannot open the cache" in one_error_line(stats)


def files_open_under(folder: Path) -> list[str]:
    """The files under ``folder`` this process holds open (Linux's /proc/self/fd)."""
    held = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            target = fd.readlink()
            if target.is_relative_to(folder):
                held.append(str(target))
    return sorted(held)


@contextlib.contextmanager
def no_garbage_collection() -> Iterator[None]:
    """The garbage collector off: a file that only a collection would close stays open, as
    it does in a process where none has run yet (a long-lived service, a test worker)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_cache_that_cannot_be_opened_is_closed_again(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # Run in this process, as a library call or `scorer serve` would: the failed open must
    # not hold the file (a read-only mount could not be unmounted, a file not replaced).
    papers = write_papers(tmp_path / "in.jsonl", 3)
    populate(fake, isolated_env, papers)
    garble(isolated_env / "cache.db")
    fake.reset()

    with no_garbage_collection():
        done = batch(fake, isolated_env, papers, tmp_path / "out.jsonl")
        stats = scorer(["cache", "stats"], fake, isolated_env)
        held = files_open_under(isolated_env)

    assert (done.returncode, stats.returncode) == (4, 4), done.stderr + stats.stderr
    assert "cannot open the cache" in one_error_line(done)
    assert held == []
    assert fake.count == 0


def test_scorer_cache_closes_the_cache_also_when_the_user_says_no(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    populate(fake, isolated_env, write_papers(tmp_path / "in.jsonl", 2))
    env = {"SCORER_CACHE_DIR": str(isolated_env)}

    with no_garbage_collection():
        declined = run_scorer(["cache", "clear"], env=env, input="n\n")
        held = files_open_under(isolated_env)

    assert declined.returncode == 1  # click's "Aborted!"
    assert held == []
    stats = run_scorer(["cache", "stats"], env=env)
    assert "entries:   2" in stats.stdout  # nothing was cleared


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only for real, also for root (who ignores permission bits)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {bind.stderr!r}")
    try:
        remount = ["mount", "-o", "remount,ro,bind", str(folder)]
        if subprocess.run(remount, capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        yield
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_read_only_cache_is_one_line_and_exit_4(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    populate(fake, isolated_env, write_papers(tmp_path / "in.jsonl", 3))
    fake.reset()
    more = write_papers(tmp_path / "more.jsonl", 3, start=10)

    with read_only(isolated_env):
        # In a child: this process must hold no file of the mount when it is unmounted.
        done = batch(fake, isolated_env, more, tmp_path / "out.jsonl", child=True)

    assert done.returncode == 4, done.stderr
    line = one_error_line(done)
    assert "cannot open the cache" in line and "read-only" in line
    assert fake.count == 0


# -- a cache that fails mid-run: one warning, paid answers still written ------------------------


def test_a_full_disk_under_the_cache_keeps_every_paid_answer(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    populate(fake, isolated_env, write_papers(tmp_path / "few.jsonl", 5))
    size = (isolated_env / "cache.db").stat().st_size
    fake.reset()
    papers = write_papers(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"

    # Room for the cache to open and take a few answers; each new answer grows its
    # write-ahead log by a page or two, so the disk "fills" a few papers in.
    done = batch(fake, isolated_env, papers, out, limit_file_size=4 * size)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, done.stderr
    assert "cannot write to the cache" in warnings[0] and "goes on without the cache" in warnings[0]
    assert scored_titles(out) == [f"Paper {i:03d}" for i in range(40)]
    assert fake.count == 35  # the five cached ones were not paid again
    with diskcache.Cache(str(isolated_env)) as store:  # what was stored is still readable
        assert len(store) >= 5


# -- two processes, one cache -------------------------------------------------------------------


def start_batch(
    fake: FakeOpenAI, cache: Path, papers: Path, out: Path, *args: str
) -> AbstractContextManager[PrestartedProcess]:
    """``scorer batch`` started in its own process group, killed with it if still running."""
    env = {
        **os.environ,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": KEY,
        "SCORER_CACHE_DIR": str(cache),
        # Held requests wait for the other process to start (seconds on a busy machine);
        # a timeout there would retry, and a retry is a request paid twice.
        "SCORER_TIMEOUT": "600",
        # A held first request gives no verdict on the answer format: the other papers
        # go at once instead of after waiting 2 s for it.
        "SCORER_PROBE_WAIT": "0",
    }
    argv = [SCORER, "batch", str(papers), "-r", "llm-inference", "-o", str(out), *args]
    return started(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_in_flight(fake: FakeOpenAI, count: int, procs: list[PrestartedProcess]) -> None:
    """Wait (no deadline: pytest's own timeout, if any, applies) until ``count`` requests
    are held by the fake at once."""
    while fake.in_flight < count:
        ended = [p for p in procs if p.poll() is not None]
        if ended:
            pytest.fail(f"a run ended before its requests reached the server: {ended[0].stderr}")
        time.sleep(0.01)


def test_two_batches_on_one_cache_pay_for_each_paper_once_plus_the_concurrency(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # Each run starts with four papers of its own, then the same 20 in the same order.
    # The fake holds the first requests until both runs have theirs in flight, so the
    # runs go through the shared papers side by side, as two runs started together do.
    shared = write_papers(tmp_path / "shared.jsonl", 20).read_text(encoding="utf-8")
    concurrency = 4
    runs = []
    for name in ("one", "two"):
        own = write_papers(tmp_path / f"{name}-own.jsonl", 4, start=100 if name == "one" else 200)
        papers = tmp_path / f"{name}.jsonl"
        papers.write_text(own.read_text(encoding="utf-8") + shared, encoding="utf-8")
        runs.append((papers, tmp_path / f"{name}-out.jsonl"))
    fake.hold()
    with contextlib.ExitStack() as stack:
        procs = [
            stack.enter_context(
                start_batch(fake, isolated_env, papers, out, "--concurrency", str(concurrency))
            )
            for papers, out in runs
        ]
        try:
            wait_for_in_flight(fake, 2 * concurrency, procs)
        finally:
            fake.latency = 0.2
            fake.release()
        results = [proc.communicate(timeout=120) for proc in procs]

    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
    for (_, out), start in zip(runs, (100, 200), strict=True):
        expected = [f"Paper {i:03d}" for i in [*range(20), *range(start, start + 4)]]
        assert scored_titles(out) == sorted(expected)
    # Each run alone pays for its 24 papers (48 in all); together, the 20 shared ones
    # are paid once, plus at most one slot's worth paid by both at the same moment.
    assert fake.count <= 8 + 20 + concurrency
    with diskcache.Cache(str(isolated_env)) as store:  # no claim is left behind
        assert len(store) == 28
        assert all(str(store[key]).startswith("{") for key in store)


def test_a_claim_left_by_a_killed_process_does_not_hold_up_the_next_run(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    papers = write_papers(tmp_path / "in.jsonl", 3)
    fake.hold()  # the first run's requests are in flight when it is killed
    with start_batch(fake, isolated_env, papers, tmp_path / "a.jsonl") as first:
        try:
            wait_for_in_flight(fake, 3, [first])  # every paper claimed and asked
        finally:
            first.kill()
            first.communicate()
            fake.release()
    with diskcache.Cache(str(isolated_env)) as store:
        assert sum(str(store[key]).startswith("claim:") for key in store) == 3

    # With a long timeout the claims would hold for 20 minutes if only their expiry
    # ended them; the claimant is gone, so the next run takes them over at once.
    done = batch(fake, isolated_env, papers, tmp_path / "b.jsonl", SCORER_TIMEOUT="600")

    assert done.returncode == 0, done.stderr
    assert scored_titles(tmp_path / "b.jsonl") == ["Paper 000", "Paper 001", "Paper 002"]
