"""Throughput of the HTTP service against the fake OpenAI server (prints numbers; not a test).

    uv run python bench/service_throughput.py [--papers 2000] [--concurrency 64]
                                              [--latency 0.1] [--repeat 3]

Three processes: ``python -m scorer.testing.fake_openai`` answering every
request after ``--latency`` seconds, ``python -m scorer serve`` (its own
cache folder, ``--concurrency`` model requests in flight per batch), and this
script as the client. For ``--papers`` unique papers, papers/s:

1. ``POST /v1/score/batch`` with every paper in one request, reading the
   NDJSON stream to its summary line: uncached (fresh papers each repeat),
   then the first set again, all cached;
2. ``POST /v1/score`` once per paper from an async httpx client keeping
   ``--concurrency`` requests in flight: uncached, then cached.

The ideal for uncached papers is ``concurrency / latency``. Cached numbers
measure the service's per-paper overhead (HTTP, validation, cache lookup,
JSON); client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from throughput import fake_server, synthetic_papers

RUBRIC = "llm-inference"
BANNER = re.compile(r"serving on (http://\S+)")


@contextlib.contextmanager
def service(env: dict[str, str], concurrency: int, max_batch: int) -> Iterator[str]:
    """``scorer serve`` on a free loopback port; yields its base URL."""
    cmd = [sys.executable, "-m", "scorer", "serve", "--port", "0", "--log-level", "warning"]
    cmd += ["--concurrency", str(concurrency), "--max-batch", str(max_batch)]
    cmd += ["--max-body-mb", "64"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            found = BANNER.search(line)
            if found:
                break
        else:
            sys.exit(f"scorer serve did not start (exit {proc.wait()})")
        yield found[1]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def batch_rate(base_url: str, papers: list[dict[str, str]]) -> tuple[float, dict[str, object]]:
    """papers/s of one /v1/score/batch request, read to the end; and its summary."""
    body = {"papers": papers, "rubric": RUBRIC}
    results = 0
    summary: dict[str, object] = {}
    started = time.perf_counter()
    with (
        httpx.Client(base_url=base_url, timeout=600, trust_env=False) as client,
        client.stream("POST", "/v1/score/batch", json=body) as answer,
    ):
        answer.raise_for_status()
        for line in answer.iter_lines():
            record = json.loads(line)
            if "summary" in record:
                summary = record["summary"]
            elif record.get("error") is None:
                results += 1
    elapsed = time.perf_counter() - started
    if results != len(papers):
        sys.exit(f"batch answered {results} of {len(papers)} papers: {summary}")
    return len(papers) / elapsed, summary


async def single_rate(base_url: str, papers: list[dict[str, str]], concurrency: int) -> float:
    """papers/s of one /v1/score request per paper, ``concurrency`` in flight."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=600, trust_env=False
    ) as client:

        async def one(paper: dict[str, str]) -> None:
            async with gate:
                answer = await client.post("/v1/score", json={"paper": paper, "rubric": RUBRIC})
            answer.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in papers))
        return len(papers) / (time.perf_counter() - started)


def runs(rates: list[float]) -> str:
    each = ", ".join(f"{r:.0f}" for r in rates)
    return f"{statistics.median(rates):7.0f} papers/s   runs: {each}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, c = args.papers, args.concurrency

    def fresh(run: int) -> list[dict[str, str]]:
        return list(synthetic_papers(n, offset=run * n))

    with tempfile.TemporaryDirectory() as tmp, fake_server(args.latency) as base_url:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "bench",
            "SCORER_CACHE_DIR": str(Path(tmp) / "cache"),
        }
        env.pop("SCORER_API_TOKEN", None)
        print(f"{n} papers, concurrency {c}, model latency {args.latency} s")
        print(f"ideal (uncached): {c / args.latency:.0f} papers/s")
        with service(env, c, max_batch=n) as url:
            uncached = [batch_rate(url, fresh(run))[0] for run in range(args.repeat)]
            cached, summary = batch_rate(url, fresh(0))
            assert summary["cached"] == n, summary
            print(f"/v1/score/batch uncached:  {runs(uncached)}")
            print(f"/v1/score/batch cached:    {cached:7.0f} papers/s")

            offset = args.repeat  # papers no batch run has seen
            uncached = [
                asyncio.run(single_rate(url, fresh(offset + run), c)) for run in range(args.repeat)
            ]
            again = [asyncio.run(single_rate(url, fresh(offset), c)) for _ in range(args.repeat)]
            print(f"/v1/score x{c} uncached:   {runs(uncached)}")
            print(f"/v1/score x{c} cached:     {runs(again)}")


if __name__ == "__main__":
    main()
