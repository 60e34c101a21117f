"""Wall and CPU time of the README's Ray example, a fresh local Ray each run (prints numbers).

    uv run --extra ray python bench/ray_startup.py [--runs 3] [--workers 2]

Runs ``scorer batch fixtures/seed_papers.csv --rubric llm-inference -o
ray.csv -o ray.md --ray`` (no address: the command starts a Ray on this
machine for the run and stops it at the end) ``--runs`` times against the
fake OpenAI server in this process, each run with an empty cache of its own,
so almost all of a run is Ray's start-up and the workers' (43 papers, no
model latency). It prints each run's wall time and the CPU time of the
command and everything it started (Ray's GCS, raylet, agents, workers): this
process is their subreaper (Linux), so the processes Ray leaves behind are
reaped, and counted, here. CPU time is the figure to compare on a shared
machine; the load average is printed beside it.

Each run gets a temporary ``HOME``: a local Ray writes ``~/.ray``, which a
later ``ray start`` of the test cluster would then trip over.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
PR_SET_CHILD_SUBREAPER = 36


def reap_orphans(guard: float = 30.0) -> None:
    """Wait for the processes Ray left behind (reparented to us) until none is left."""
    deadline = time.monotonic() + guard  # a hang guard, not a measurement
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.1)


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    parser.add_argument("--workers", type=int, default=None, help="--ray-workers (default: Ray's)")
    args = parser.parse_args()
    if ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("needs Linux (prctl PR_SET_CHILD_SUBREAPER)")
    scorer = [sys.executable, "-c", "from scorer.cli import main; main()"]
    walls: list[float] = []
    cpus: list[float] = []
    with FakeOpenAI() as fake:
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as folder:
                home = Path(folder)
                skip = ("OPENAI_", "SCORER_", "RAY_")
                env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
                env |= {
                    "HOME": str(home),
                    "OPENAI_BASE_URL": fake.base_url,
                    "OPENAI_API_KEY": "sk-bench-0123456789",
                    "SCORER_MODEL": "fake-model",
                    "SCORER_CACHE_DIR": str(home / "cache"),
                }
                command = [*scorer, "batch", str(ROOT / "fixtures" / "seed_papers.csv")]
                command += ["--rubric", "llm-inference", "-o", str(home / "ray.csv")]
                command += ["-o", str(home / "ray.md"), "--ray"]
                if args.workers is not None:
                    command += ["--ray-workers", str(args.workers)]
                fake.reset()
                cpu = cpu_of_children()
                started = time.perf_counter()
                done = subprocess.run(
                    command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
                )
                wall = time.perf_counter() - started
                reap_orphans()
                cpu = cpu_of_children() - cpu
                if done.returncode != 0 or fake.count != 43:
                    sys.exit(f"run {run + 1} failed ({fake.count} calls):\n{done.stderr[-3000:]}")
            walls.append(wall)
            cpus.append(cpu)
            load = os.getloadavg()[0]
            print(
                f"run {run + 1}: wall {wall:.1f} s, CPU {cpu:.1f} s (load {load:.1f})", flush=True
            )
    print(f"median: wall {statistics.median(walls):.1f} s, CPU {statistics.median(cpus):.1f} s")


if __name__ == "__main__":
    main()
