"""Two scorer processes on the embedded model at once, against one alone (prints numbers).

    uv run python bench/embedded_two_processes.py [--papers 20]

Runs ``scorer batch`` on the first ``--papers`` unique papers of the seed
fixture, each run with an empty cache of its own: first one process alone,
then two started together. Prints each run's wall time, failures, and the
slowdown of the pair against the single run (2.0 x is a fair share of the
machine; much more means the two fight over the cores).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quickstart import FIXTURE, load, quickstart_env


def subset(out: Path, count: int) -> Path:
    """The first ``count`` rows of the seed fixture with distinct titles."""
    with FIXTURE.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows, seen = [], set()
        for row in reader:
            if row["title"] not in seen:
                seen.add(row["title"])
                rows.append(row)
        fields = list(reader.fieldnames or [])
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows[:count])
    return out


def start(source: Path, folder: Path) -> tuple[subprocess.Popen[str], float]:
    folder.mkdir(parents=True)
    cmd = [sys.executable, "-m", "scorer", "batch", str(source), "-r", "llm-inference"]
    cmd += ["-o", str(folder / "out.csv")]
    process = subprocess.Popen(
        cmd, env=quickstart_env(folder / "cache"), stderr=subprocess.PIPE, text=True
    )
    return process, time.perf_counter()


def finish(process: subprocess.Popen[str], started: float) -> float:
    """Wait for ``process``; print its wall time and summary line; return the wall time."""
    _, stderr = process.communicate()
    wall = time.perf_counter() - started
    summary = next((line for line in stderr.splitlines() if "failed" in line), stderr[-300:])
    print(f"  wall {wall:6.1f} s, exit {process.returncode}; {summary.strip()}", flush=True)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=20)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {args.papers} papers per process")
    with tempfile.TemporaryDirectory(prefix="scorer-two-") as tmp:
        source = subset(Path(tmp) / "papers.csv", args.papers)
        print(f"one process alone (load before: {load()})", flush=True)
        process, started = start(source, Path(tmp) / "alone")
        alone = finish(process, started)
        print(f"two processes at once (load before: {load()})", flush=True)
        pair = [start(source, Path(tmp) / name) for name in ("first", "second")]
        slowest = max(finish(process, started) for process, started in pair)
        print(f"slowdown of the pair: {slowest / alone:.2f} x one process alone")


if __name__ == "__main__":
    main()
