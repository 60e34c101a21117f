"""Throughput of the HTTP service against the fake OpenAI server (prints numbers; not a test).

    uv run python bench/service_throughput.py [--papers 2000] [--concurrency 64]
                                              [--latency 0.1] [--repeat 3] [--stacks ...]

Three processes: ``python -m scorer.testing.fake_openai`` answering every
request after ``--latency`` seconds, ``python -m scorer serve`` (its own
cache folder, ``--concurrency`` model requests in flight per batch), and this
script as the client. For ``--papers`` unique papers, papers/s:

1. ``POST /v1/score/batch`` with every paper in one request, reading the
   NDJSON stream to its summary line: uncached (fresh papers each repeat),
   then the first set again, all cached;
2. ``POST /v1/score`` once per paper from an async httpx client keeping
   ``--concurrency`` requests in flight: uncached, then cached.

Each line also gives the CPU time per paper of the service process and of
this client (Linux /proc). Every measurement is made on each server stack in
turn (``--stacks``): ``standard`` is what ``scorer serve`` runs, uvicorn on
uvloop (``uvicorn[standard]``; its HTTP parser stays h11); ``pure`` is the
same command with uvloop hidden from it, so uvicorn falls back to asyncio as
on a machine without it (the stack before issue 16).

The ideal for uncached papers is ``concurrency / latency``; on a small
machine the three processes compete for cores, and the httpx client of (2)
costs more CPU per request than the service itself, so its papers/s says as
much about the client as about the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from throughput import fake_server, synthetic_papers

RUBRIC = "llm-inference"
BANNER = re.compile(r"serving on (http://\S+)")
# `scorer serve` as if uvloop and httptools were not installed: uvicorn's "auto" then
# picks asyncio (a module set to None in sys.modules fails to import).
WITHOUT_STANDARD = (
    "import sys; sys.modules['uvloop'] = sys.modules['httptools'] = None; "
    "from scorer.cli import main; sys.argv[0] = 'scorer'; main()"
)
STACKS = {"standard": ["-m", "scorer"], "pure": ["-c", WITHOUT_STANDARD]}


@contextlib.contextmanager
def service(
    env: dict[str, str], concurrency: int, max_batch: int, stack: str = "standard"
) -> Iterator[tuple[str, int]]:
    """``scorer serve`` on a free loopback port; yields its base URL and process id."""
    cmd = [sys.executable, *STACKS[stack], "serve", "--port", "0", "--log-level", "warning"]
    cmd += ["--concurrency", str(concurrency), "--max-batch", str(max_batch)]
    cmd += ["--max-body-mb", "64"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            found = BANNER.search(line)
            if found:
                break
        else:
            sys.exit(f"scorer serve did not start (exit {proc.wait()}):\n{''.join(log)}")
        # Keep reading its stderr, so a chatty server never blocks on a full pipe.
        drain = threading.Thread(target=lambda: log.extend(proc.stderr or ()), daemon=True)
        drain.start()
        yield found[1], proc.pid
    except BaseException:
        print("".join(log[-40:]), file=sys.stderr)
        raise
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, n: int, run: Callable[[], float]) -> tuple[float, float, float]:
    """(papers/s, server CPU ms per paper, this client's CPU ms per paper) of ``run()``."""
    server, client = cpu_seconds(pid), time.process_time()
    rate = run()
    server_ms = (cpu_seconds(pid) - server) / n * 1000
    return rate, server_ms, (time.process_time() - client) / n * 1000


def report(label: str, results: list[tuple[float, float, float]]) -> None:
    rates = [rate for rate, _, _ in results]
    server = statistics.median(s for _, s, _ in results)
    client = statistics.median(c for _, _, c in results)
    each = ", ".join(f"{r:.0f}" for r in rates)
    print(
        f"{label:<37} {statistics.median(rates):6.0f} papers/s   CPU per paper: "
        f"server {server:.2f} ms, client {client:.2f} ms   runs: {each}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--stacks", nargs="+", choices=list(STACKS), default=list(STACKS), help="server stacks"
    )
    args = parser.parse_args()
    n, c = args.papers, args.concurrency

    def fresh(run: int) -> list[dict[str, str]]:
        return list(synthetic_papers(n, offset=run * n))

    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_server(args.latency) as base_url,
        contextlib.ExitStack() as servers,
    ):
        print(f"{n} papers, concurrency {c}, model latency {args.latency} s")
        print(f"ideal (uncached): {c / args.latency:.0f} papers/s")
        running: dict[str, tuple[str, int]] = {}
        for stack in args.stacks:  # all at once, each with its own cache
            env = {
                **os.environ,
                "OPENAI_BASE_URL": base_url,
                "OPENAI_API_KEY": "bench",
                "SCORER_CACHE_DIR": str(Path(tmp) / f"cache-{stack}"),
            }
            env.pop("SCORER_API_TOKEN", None)
            running[stack] = servers.enter_context(service(env, c, max_batch=n, stack=stack))

        def batch(stack: str, papers: list[dict[str, str]]) -> tuple[float, float, float]:
            url, pid = running[stack]
            return measured(pid, n, lambda: batch_rate(url, papers)[0])

        def single(stack: str, papers: list[dict[str, str]]) -> tuple[float, float, float]:
            url, pid = running[stack]
            return measured(pid, n, lambda: asyncio.run(single_rate(url, papers, c)))

        # The stacks take turns at every step, so drift on a shared machine hits them alike.
        results: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
        offset = args.repeat  # papers no batch run has seen
        steps: list[tuple[str, Callable[[str], tuple[float, float, float]]]] = []
        for r in range(args.repeat):
            steps.append(("/v1/score/batch uncached", lambda s, r=r: batch(s, fresh(r))))
        for _ in range(args.repeat):
            steps.append(("/v1/score/batch cached", lambda s: batch(s, fresh(0))))
        for r in range(args.repeat):
            steps.append((f"/v1/score x{c} uncached", lambda s, r=r: single(s, fresh(offset + r))))
        for _ in range(args.repeat):
            steps.append((f"/v1/score x{c} cached", lambda s: single(s, fresh(offset))))
        for label, step in steps:
            for stack in args.stacks:
                results[label, stack].append(step(stack))
        for label in dict.fromkeys(label for label, _ in steps):
            for stack in args.stacks:
                report(f"{label} [{stack}]", results[label, stack])


if __name__ == "__main__":
    main()
