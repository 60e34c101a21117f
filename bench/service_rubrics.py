"""Memory of the HTTP service across thousands of distinct inline rubrics (prints numbers).

    uv run python bench/service_rubrics.py [--rubrics 5000] [--concurrency 16]

``python -m scorer.testing.fake_openai`` answers at once; ``python -m scorer
serve`` (its own cache folder) gets one ``POST /v1/score`` per rubric, each
rubric distinct (its own fingerprint, so its own answer model, system text
and schema), from an async client keeping ``--concurrency`` requests in
flight. The server's resident memory (VmRSS, Linux /proc) is printed after
0, 1000, 2000, ... rubrics: with per-rubric objects in bounded LRUs it
levels off once the caches are full (256 rubrics) instead of growing with
every rubric.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from service_throughput import service
from throughput import fake_server

PAPER = {"title": "A paper on KV-cache offloading", "abstract": "We move KV caches to SSDs."}


def rubric(i: int) -> dict[str, Any]:
    """A realistic inline rubric, distinct for each ``i``."""
    scale = {str(p): f"Anchor text for point {p} of rubric {i}." for p in (0, 50, 100)}
    return {
        "name": f"bench-{i}",
        "title": f"Benchmark topic {i}",
        "description": f"Papers about benchmark topic number {i}: " + "context words " * 40,
        "dimensions": [
            {"name": "relevance", "description": f"Fit to topic {i}.", "scale": scale},
            {"name": "rigor", "description": "How careful the evaluation is.", "scale": scale},
        ],
        "include": [f"include criterion {k} of {i}" for k in range(5)],
        "exclude": [f"exclude criterion {k} of {i}" for k in range(5)],
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def post_rubrics(url: str, first: int, last: int, concurrency: int) -> None:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=600, trust_env=False) as ac:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                answer = await ac.post("/v1/score", json={"paper": PAPER, "rubric": rubric(i)})
            answer.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(first, last)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rubrics", type=int, default=5000)
    parser.add_argument("--step", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, fake_server(0.0) as base_url:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "bench",
            "SCORER_CACHE_DIR": str(Path(tmp) / "cache"),
        }
        env.pop("SCORER_API_TOKEN", None)
        with service(env, args.concurrency, max_batch=10) as (url, pid):
            asyncio.run(post_rubrics(url, 0, 20, args.concurrency))  # warm up: imports, first calls
            print(f"{'rubrics':>8} {'server RSS (MiB)':>17} {'rubrics/s':>10}")
            print(f"{0:>8} {rss_mib(pid):>17.1f} {'':>10}")
            done = 0
            while done < args.rubrics:
                upto = min(done + args.step, args.rubrics)
                started = time.perf_counter()
                asyncio.run(post_rubrics(url, 20 + done, 20 + upto, args.concurrency))
                rate = (upto - done) / (time.perf_counter() - started)
                done = upto
                print(f"{done:>8} {rss_mib(pid):>17.1f} {rate:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
