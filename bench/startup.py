"""Start-up time of the ``scorer`` command (prints numbers; not a test).

    uv run python bench/startup.py [--runs 15]

Runs each command ``--runs`` times in a fresh process with this venv's
``scorer`` script (what ``uv run scorer`` starts, without uv's own start-up),
alternating the commands so that drift on a shared machine hits all alike,
and prints the median wall time of each next to the median of
``python -c pass`` measured in the same loop (the interpreter's own floor),
with the ratio to it and the load average, so runs on a busy machine can be
compared with runs on an idle one.

Every command runs once untimed first, with ``PYTHONDONTWRITEBYTECODE``
unset, so Python has written its bytecode caches (``__pycache__``) as it
does on a user's machine after the first run; with that variable set every
start compiles about a hundred modules from source again (about 1 s here).

The cached ``scorer score`` is primed first against the fake OpenAI server
(in this process): every timed run then answers from the cache without
sending anything.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scorer.testing import FakeOpenAI

TITLE = "Speculative Decoding for Disaggregated LLM Serving"
ABSTRACT = "We pair a draft model with prefill/decode disaggregation and cut p99 latency 2.3x."


def scorer_command() -> list[str]:
    script = Path(sys.executable).with_name("scorer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scorer"]


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args()

    scorer = scorer_command()
    score = [*scorer, "score", "--rubric", "llm-inference", "--title", TITLE]
    score += ["--abstract", ABSTRACT]
    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as cache_dir:
        skip = ("OPENAI_", "SCORER_", "PYTHONDONTWRITEBYTECODE")
        env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        env |= {
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "sk-bench-0123456789",
            "SCORER_CACHE_DIR": cache_dir,
        }
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "scorer --version": [*scorer, "--version"],
            "scorer --help": [*scorer, "--help"],
            "scorer score (cached)": score,
            "python -c 'import scorer._api'": [sys.executable, "-c", "import scorer._api"],
        }
        for command in commands.values():  # fills the cache and writes bytecode caches
            timed(command, env)
        assert fake.count == 1, fake.count
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                walls[name].append(timed(command, env))
        assert fake.count == 1, f"the timed scorer score runs were not cached ({fake.count})"

    floor = statistics.median(walls["python -c pass"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.runs} runs each, {os.cpu_count()} CPUs, load average {load}")
    print(f"{'command':34} {'median':>8} {'min':>8} {'x python':>9}")
    for name, values in walls.items():
        median = statistics.median(values)
        print(f"{name:34} {median:7.3f}s {min(values):7.3f}s {median / floor:8.1f}x")


if __name__ == "__main__":
    main()
