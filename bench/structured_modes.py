"""What each structured-output mode costs against each kind of endpoint the fake plays.

For every endpoint personality (cooperating, refusing json_schema, refusing
json_schema and tools, text only) and every mode (json_schema, tools, json,
auto), scores ``--papers`` unique papers with ``score_many`` at
``--concurrency`` against an in-process fake answering after ``--latency``
seconds, with the cache off, after one warm-up run (imports, connections),
and prints one row: papers scored, requests the
endpoint received, requests per paper, wall time and papers/s. A mode the
endpoint refuses prints its one error instead.

What to read: ``auto`` against a cooperating endpoint sends exactly as many
requests as ``json_schema``; where it falls back, it sends one (or two)
refused requests per run, and its first paper waits for the probe, so the
run is about one latency longer.

    uv run python bench/structured_modes.py [--papers 200] [--concurrency 16] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import scorer
from scorer import ScorerError, Settings
from scorer.testing import FakeOpenAI, Personality

PERSONALITIES = {
    "cooperating": Personality(),
    "no json_schema": Personality.refusing("json_schema"),
    "no json_schema, no tools": Personality.refusing("json_schema", "tools"),
    "text only": Personality.text_only(),
}
MODES = ("json_schema", "tools", "json", "auto")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    papers = [
        {"title": f"Paper {i} on paged attention", "abstract": f"KV cache trick number {i}."}
        for i in range(args.papers)
    ]
    print(
        f"{args.papers} papers, concurrency {args.concurrency}, "
        f"{args.latency * 1000:.0f} ms per answer, cache off\n"
    )
    print(
        f"{'endpoint':26} {'mode':12} {'scored':>6} {'requests':>8} {'req/paper':>9} "
        f"{'wall s':>7} {'papers/s':>8}"
    )
    with FakeOpenAI(latency=args.latency) as fake, tempfile.TemporaryDirectory() as cache:
        base = Settings.resolve(
            env={},
            base_url=fake.base_url,
            api_key="sk-bench",
            model="fake-model",
            cache_dir=cache,
            use_cache=False,
        )
        list(scorer.score_many(papers[:32], "llm-inference", settings=base))  # warm-up
        rows = [(n, p, m) for n, p in PERSONALITIES.items() for m in MODES]
        for run, (name, personality, mode) in enumerate(rows):
            fake.reset()
            fake.play(personality)
            # Its own settings, so its own scorer: a scorer remembers, for as long as
            # it lives, what its endpoint accepted (and here the "endpoint" changes
            # its personality between rows).
            settings = replace(base, mode=mode, cache_dir=base.cache_dir / str(run))
            started = time.perf_counter()
            try:
                results = list(
                    scorer.score_many(
                        papers, "llm-inference", settings=settings, concurrency=args.concurrency
                    )
                )
            except ScorerError as exc:
                print(f"{name:26} {mode:12} error after {fake.count} request(s): {exc}"[:130])
                continue
            wall = time.perf_counter() - started
            scored = sum(r.ok for r in results)
            print(
                f"{name:26} {mode:12} {scored:6d} {fake.count:8d} "
                f"{fake.count / len(papers):9.3f} {wall:7.2f} {scored / wall:8.1f}"
            )


if __name__ == "__main__":
    main()
