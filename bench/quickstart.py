"""The README quick start, timed as a new user runs it (prints numbers; not a test).

    uv run python bench/quickstart.py [--busy N] [--repeat R] [--reference 45]

Copies ``fixtures/seed_papers.csv`` into a temporary folder, points
``SCORER_CACHE_DIR`` at an empty folder there, and runs

    scorer batch seed_papers.csv --rubric llm-inference -o digest.md -o digest.html

on the embedded model (``OPENAI_*`` removed from the environment), printing
the command's wall time (interpreter start-up included), failures, tokens per
paper and the ratio of the wall time to ``--reference`` seconds (the target
for an idle 2-core machine). ``--busy N`` keeps N extra processes spinning
(``while True: pass``) for the whole run, the way another job on a shared
machine would. The machine's load average is printed before each run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "seed_papers.csv"
SPIN = "while True: pass"


def quickstart_env(cache: Path) -> dict[str, str]:
    """The environment of a new user: no endpoint configured, an empty cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCORER_"))}
    env["SCORER_CACHE_DIR"] = str(cache)
    return env


def run_once(folder: Path, extra: list[str] | None = None) -> dict[str, float | int | str]:
    """One quick start in ``folder`` (fresh cache); wall time and the summary's numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, folder / "seed_papers.csv")
    cmd = [sys.executable, "-m", "scorer", "batch", "seed_papers.csv", "--rubric"]
    cmd += ["llm-inference", "-o", "digest.md", "-o", "digest.html", *(extra or [])]
    started = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=folder, env=quickstart_env(folder / "cache"), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    summary = next(
        (line for line in done.stderr.splitlines() if "unique" in line and "failed" in line), ""
    )

    def number(name: str) -> int:
        match = re.search(rf"\b{name} (\d+)", summary)
        return int(match[1]) if match else -1

    unique = number("unique")
    return {
        "wall": wall,
        "exit": done.returncode,
        "unique": unique,
        "failed": number("failed"),
        "tokens_per_paper": number("tokens") / max(unique, 1),
        "summary": summary or done.stderr.strip()[-500:],
    }


def spinners(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
        process.wait()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=0, help="extra spinning processes")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--reference", type=float, default=45.0, help="target seconds")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, {args.busy} busy-loop process(es) running alongside")
    walls = []
    with tempfile.TemporaryDirectory(prefix="scorer-quickstart-") as tmp:
        for i in range(args.repeat):
            print(f"run {i + 1}: load average before: {load()}", flush=True)
            busy = spinners(args.busy)
            try:
                result = run_once(Path(tmp) / f"run{i}")
            finally:
                stop(busy)
            walls.append(float(result["wall"]))
            print(
                f"  wall {result['wall']:.1f} s ({float(result['wall']) / args.reference:.2f} x "
                f"the {args.reference:.0f} s reference), exit {result['exit']}, "
                f"unique {result['unique']}, failed {result['failed']}, "
                f"tokens/paper {result['tokens_per_paper']:.0f}"
            )
            print(f"  {result['summary']}", flush=True)
    if len(walls) > 1:
        median = statistics.median(walls)
        print(f"median wall {median:.1f} s ({median / args.reference:.2f} x reference)")


if __name__ == "__main__":
    main()
