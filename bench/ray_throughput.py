"""Ray workers vs one process, against the fake OpenAI server (prints numbers; not a test).

    uv run --extra ray python bench/ray_throughput.py [--papers 20000] [--latency 0.1]
                                  [--workers 2] [--concurrency 16] [--address HOST:PORT]

In one run, side by side, against ``python -m scorer.testing.fake_openai``
(a separate process) answering every request after ``--latency`` seconds,
each route with an empty cache of its own:

1. ``run_batch`` in this process (what ``scorer batch`` runs) at
   ``--concurrency`` and at ``workers x concurrency`` requests in flight;
2. ``run_batch_on_ray`` (what ``scorer batch --ray`` runs): ``--workers``
   actors with ``--concurrency`` each, on a local Ray started here (loopback
   only, one CPU per worker) or the cluster at ``--address``.

It prints papers/s of each, the ratios, and the peak resident memory of each
Ray worker process (VmHWM of the ``PaperScorer`` actors, read from /proc while
they run). papers/s counts from the first paper read to the last result
written on the driver, start-up of the Ray workers included (printed apart:
the time to the first result).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from scorer import Paper, Settings, load_rubric
from scorer.engine import Scorer, run_batch

RUBRIC = "llm-inference"


@contextlib.contextmanager
def fake_server(latency: float) -> Iterator[str]:
    cmd = [sys.executable, "-m", "scorer.testing.fake_openai", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def papers(n: int) -> list[Paper]:
    return [
        Paper(id=f"bench-{i}", title=f"Paper {i} on KV cache serving", abstract=f"Abstract {i}.")
        for i in range(n)
    ]


def settings_for(base_url: str, cache: Path) -> Settings:
    return Settings.resolve(
        env={}, base_url=base_url, api_key="sk-bench", model="fake-model", cache_dir=cache
    )


class Sink:
    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None

    def write(self, result: object) -> None:
        self.count += 1
        if self.first is None:
            self.first = time.perf_counter()


def one_process(base_url: str, n: int, concurrency: int, folder: Path) -> float:
    settings = settings_for(base_url, folder / f"cache-one-{concurrency}")
    sink = Sink()
    started = time.perf_counter()
    summary = asyncio.run(
        run_batch(
            papers(n), load_rubric(RUBRIC), Scorer(settings), sinks=[sink], concurrency=concurrency
        )
    )
    elapsed = time.perf_counter() - started
    assert summary.scored == n and sink.count == n, summary.line()
    return n / elapsed


class WorkerMemory:
    """Peak resident memory of each scoring actor, sampled from /proc while they run."""

    def __init__(self) -> None:
        self.peak_kib: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError, ValueError):
                    if b"PaperScorer" not in (entry / "cmdline").read_bytes():
                        continue
                    for line in (entry / "status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kib[int(entry.name)] = int(line.split()[1])


def on_ray(base_url: str, n: int, workers: int, concurrency: int, folder: Path) -> float:
    from scorer.ray._route import run_batch_on_ray

    settings = settings_for(base_url, folder / "cache-ray")
    sink = Sink()
    with WorkerMemory() as memory:
        started = time.perf_counter()
        summary = run_batch_on_ray(
            papers(n),
            load_rubric(RUBRIC),
            settings,
            sinks=[sink],
            concurrency=concurrency,
            workers=workers,
        )
        elapsed = time.perf_counter() - started
    assert summary.scored == n and sink.count == n, summary.line()
    first = (sink.first or started) - started
    print(f"  ray: first result after {first:.1f} s (worker start-up)")
    for pid, kib in sorted(memory.peak_kib.items()):
        print(f"  ray worker pid {pid}: peak RSS {kib / 1024:.0f} MiB")
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--address", help="a running Ray cluster (default: a local Ray)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # else a local Ray writes ~/.ray/auth_token
    n, w, c = args.papers, args.workers, args.concurrency
    ideal = w * c / args.latency
    print(f"{n} papers, fake latency {args.latency * 1000:.0f} ms, {w} workers x {c} requests")
    with fake_server(args.latency) as base_url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        import ray

        if args.address:
            ray.init(address=args.address, log_to_driver=False, logging_level="WARNING")
        else:
            # Loopback only: Ray would otherwise give the node the machine's routable address.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            # A node must register within 30 s, which a busy machine can miss.
            os.environ.setdefault("RAY_raylet_start_wait_time_s", "28")
            for attempt in range(3):
                try:
                    ray.init(
                        num_cpus=w,
                        object_store_memory=100_000_000,
                        include_dashboard=False,
                        log_to_driver=False,
                        logging_level="WARNING",
                    )
                    break
                except Exception:
                    ray.shutdown()
                    if attempt == 2:
                        raise
        ray.data.DataContext.get_current().enable_progress_bars = False
        single = one_process(base_url, n, c, folder)
        print(f"scorer batch, one process, concurrency {c}: {single:.0f} papers/s")
        wide = one_process(base_url, n, w * c, folder)
        print(f"scorer batch, one process, concurrency {w * c}: {wide:.0f} papers/s")
        ray_rate = on_ray(base_url, n, w, c, folder)
        print(
            f"scorer batch --ray, {w} workers x {c}: {ray_rate:.0f} papers/s "
            f"({ray_rate / single:.2f}x one process at {c}, {ray_rate / wide:.2f}x at {w * c}; "
            f"ideal {ideal:.0f})"
        )
        ray.shutdown()


if __name__ == "__main__":
    main()
