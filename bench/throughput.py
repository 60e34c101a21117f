"""Batch throughput against the fake OpenAI server (prints numbers; not a test).

    uv run python bench/throughput.py [--papers 5000] [--concurrency 64] [--latency 0.1]
                                      [--big 100000] [--repeat 5] [--profile]

In one run, side by side, against ``python -m scorer.testing.fake_openai``
(a separate process) answering every request after a fixed latency:

1. a bare loop over ``openai.AsyncOpenAI`` with its default (httpx)
   transport (no instructor, no engine, no cache) sending the same requests
   as scorer, at the same concurrency; and the same loop on the SDK's
   aiohttp transport (``openai.DefaultAioHttpClient``);
2. ``scorer batch papers.csv -o out.csv`` with an empty cache, on its
   default transport (aiohttp) and with ``--transport httpx``: papers/s, the
   ratio to the bare loop and to the ideal ``concurrency / latency``;
3. the same command again, every paper cached;
4. ``scorer batch`` over a ``--big``-row CSV whose papers are all in the
   cache: wall time and peak memory (ru_maxrss of the child process);
5. with ``--profile``: CPU time per scored paper of the bare loops and of an
   in-process batch on each transport, and each batch's CPU split by the
   package the time is spent in (cProfile).

papers/s for the ``scorer batch`` runs is measured from the run's own summary
(reading, scoring and writing; not interpreter start-up, which is printed
separately as the command's wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import csv
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import openai

from scorer import Paper, Rubric, Score, Settings, Usage, load_rubric
from scorer.engine._cache import ResultCache, cache_key
from scorer.methods._answer import response_model_for
from scorer.prompt._messages import load_prompt

RUBRIC = "llm-inference"
TRANSPORTS = ("aiohttp", "httpx")  # scorer's default first
BARE_TRANSPORTS = ("httpx", "aiohttp")  # the SDK's default first
CACHED_TARGET = 20_000  # papers/s of an all-cached re-run (issue 16)
LAST_CPU_S = 0.0  # CPU seconds of the last run_batch_cli command
WORDS = [
    "speculative",
    "decoding",
    "kv",
    "cache",
    "paged",
    "attention",
    "serving",
    "throughput",
    "latency",
    "quantization",
    "mixture",
    "experts",
    "scheduling",
    "batching",
    "prefill",
    "decode",
    "memory",
    "bandwidth",
    "accelerator",
    "kernel",
]


def synthetic_papers(n: int, offset: int = 0) -> Iterator[dict[str, str]]:
    for i in range(offset, offset + n):
        words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(40))
        yield {
            "id": f"{2600 + i // 100000}.{i % 100000:05d}",
            "title": f"Paper {i}: {WORDS[i % len(WORDS)]} at scale",
            "abstract": f"We study {words}. Result number {i}.",
            "authors": "A. Author; B. Author",
            "published": "2026-02-24",
        }


def write_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=["id", "title", "abstract", "authors", "published"])
        out.writeheader()
        out.writerows(synthetic_papers(n))


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


async def bare_sdk_loop(
    base_url: str, n: int, concurrency: int, rubric: Rubric, http: str = "httpx"
) -> float:
    """The same chat requests scorer makes, through the bare SDK: papers/s.

    ``http``: the SDK's default transport (httpx) or its aiohttp one.
    """
    template = load_prompt()
    schema = response_model_for(rubric).model_json_schema()
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": schema, "strict": True},
    }
    client = openai.AsyncOpenAI(
        base_url=base_url,
        api_key="bench",
        max_retries=0,
        http_client=openai.DefaultAioHttpClient() if http == "aiohttp" else None,
    )
    gate = asyncio.Semaphore(concurrency)
    sampling = Settings().sampling.as_request()

    async def one(raw: dict[str, str]) -> None:
        messages = template.messages(rubric, Paper.model_validate(raw))
        async with gate:
            reply = await client.chat.completions.create(
                model="fake-model",
                messages=messages,  # type: ignore[arg-type]
                response_format=response_format,  # type: ignore[arg-type]
                **sampling,
            )
        json.loads(reply.choices[0].message.content or "")

    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in synthetic_papers(n)))
    elapsed = time.perf_counter() - started
    await client.close()
    return n / elapsed


def run_batch_cli(
    source: Path, env: dict[str, str], concurrency: int, *extra: str
) -> tuple[float, float, int]:
    """``scorer batch``: (papers/s from its summary, command wall s, its peak RSS in MiB).

    The command's CPU seconds (user + system, start-up included) are left in
    ``LAST_CPU_S``: on a shared machine they move far less than its wall time.
    """
    global LAST_CPU_S
    out = source.with_suffix(".out.csv")
    cmd = [sys.executable, "-m", "scorer", "batch", str(source), "-r", RUBRIC, "-o", str(out)]
    cmd += ["--concurrency", str(concurrency), *extra]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        stderr.seek(0)
        log = stderr.read()
    if proc.returncode != 0:
        sys.exit(f"scorer batch failed ({proc.returncode}):\n{log[-2000:]}")
    summary = re.search(r"unique (\d+).*, ([\d.]+) s$", log.strip().splitlines()[-1])
    assert summary, log
    unique, seconds = int(summary[1]), float(summary[2])
    LAST_CPU_S = usage.ru_utime + usage.ru_stime
    return unique / seconds, wall, usage.ru_maxrss // 1024


def fill_cache(cache_dir: Path, n: int, rubric: Rubric, settings: Settings) -> None:
    """Put a result for each of ``n`` synthetic papers straight into the cache."""
    template = load_prompt()
    cache = ResultCache(cache_dir)
    names = [d.name for d in rubric.dimensions]
    # One SQLite transaction for them all (diskcache's own): a commit per put
    # would take minutes for 100,000 papers.
    with cache._store.transact():
        _fill(cache, n, rubric, settings, template.content_hash, names)
    cache.close()


def _fill(
    cache: ResultCache,
    n: int,
    rubric: Rubric,
    settings: Settings,
    prompt_hash: str,
    names: list[str],
) -> None:
    for raw in synthetic_papers(n):
        key = cache_key(
            Paper.model_validate(raw),
            rubric,
            prompt_hash=prompt_hash,
            model_id=settings.model_id,
            sampling=settings.sampling,
        )
        score = Score(
            scores=dict.fromkeys(names, 50),
            justification="A synthetic cached result for the benchmark.",
            model=settings.model_id,
            usage=Usage(),
        )
        cache.put(key, score)


async def _in_process_batch(
    base_url: str, source: Path, cache_dir: Path, concurrency: int, transport: str
) -> int:
    from scorer.engine._batch import run_batch
    from scorer.engine._scorer import Scorer
    from scorer.io._readers import read_papers
    from scorer.io._writers import CsvWriter

    settings = Settings.resolve(
        base_url=base_url, api_key="bench", cache_dir=cache_dir, transport=transport
    )
    rubric = load_rubric(RUBRIC)
    with Path(os.devnull).open("w", newline="") as sink:  # noqa: ASYNC230 (no real I/O)
        async with Scorer(settings) as scorer:
            summary = await run_batch(
                read_papers(source),
                rubric,
                scorer,
                sinks=[CsvWriter(sink, rubric)],
                concurrency=concurrency,
            )
    return summary.scored


def cpu_per_paper(base_url: str, source: Path, work: Path, n: int, concurrency: int) -> None:
    """CPU ms per paper of the bare loop and of run_batch on each transport (no profiler)."""
    rubric = load_rubric(RUBRIC)
    line = "\nCPU per paper:"
    for http in BARE_TRANSPORTS:
        cpu0 = time.process_time()
        asyncio.run(bare_sdk_loop(base_url, n, concurrency, rubric, http))
        line += f" bare SDK loop ({http}) {(time.process_time() - cpu0) / n * 1000:.2f} ms,"
    for transport in TRANSPORTS:
        cache = work / f"cpu-cache-{transport}"
        cpu0 = time.process_time()
        scored = asyncio.run(_in_process_batch(base_url, source, cache, concurrency, transport))
        line += f" run_batch on {transport} {(time.process_time() - cpu0) / scored * 1000:.2f} ms,"
    print(line.rstrip(","))


def profile_in_process(
    base_url: str, source: Path, cache_dir: Path, concurrency: int, transport: str
) -> None:
    """Where run_batch's CPU goes, by package (cProfile inflates every number)."""
    profiler = cProfile.Profile()
    profiler.enable()
    n = asyncio.run(_in_process_batch(base_url, source, cache_dir, concurrency, transport))
    profiler.disable()
    by_package: dict[str, float] = defaultdict(float)
    stats = pstats.Stats(profiler)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_package[_package_of(filename)] += tottime
    total = sum(by_package.values())
    print(f"profile of {n} papers on {transport} (share of CPU time, by where it is spent):")
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {package:<26} {seconds / total:5.1%}")


def _package_of(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if "/scorer/" in filename:
        return "scorer." + filename.split("/scorer/")[-1].split("/")[0].removesuffix(".py")
    if filename.startswith(("<", "~")) or "/lib/python3" in filename:
        return "python stdlib/builtins"
    return filename


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--big", type=int, default=100_000, help="rows of the all-cached CSV")
    parser.add_argument("--repeat", type=int, default=5, help="uncached runs of each side")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["uncached", "cached", "big"],
        default=["uncached", "cached", "big"],
        help="what to measure (default: all)",
    )
    args = parser.parse_args()
    rubric = load_rubric(RUBRIC)
    ideal = args.concurrency / args.latency

    with tempfile.TemporaryDirectory() as tmp, fake_server(args.latency) as base_url:
        work = Path(tmp)
        env = {
            **os.environ,
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "bench",
            "SCORER_CACHE_DIR": str(work / "cache"),
        }
        papers = work / "papers.csv"
        write_csv(papers, args.papers)
        print(f"{args.papers} papers, concurrency {args.concurrency}, latency {args.latency} s")
        print(f"ideal: {ideal:.0f} papers/s")

        bares: list[float] = []
        bare_aiohttp: list[float] = []
        ours: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
        walls: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
        # The sides alternate, so drift hits every side alike.
        for run in range(args.repeat if "uncached" in args.parts else 0):
            bares.append(
                asyncio.run(bare_sdk_loop(base_url, args.papers, args.concurrency, rubric))
            )
            bare_aiohttp.append(
                asyncio.run(
                    bare_sdk_loop(base_url, args.papers, args.concurrency, rubric, "aiohttp")
                )
            )
            for transport in TRANSPORTS:
                run_env = {**env, "SCORER_CACHE_DIR": str(work / f"cache-{transport}{run}")}
                extra = ("--transport", transport)
                rate, wall, _ = run_batch_cli(papers, run_env, args.concurrency, *extra)
                ours[transport].append(rate)
                walls[transport].append(wall)
        bare = statistics.median(bares) if bares else float("nan")
        if bares:
            print(
                f"bare AsyncOpenAI loop (httpx): {bare:7.0f} papers/s ({bare / ideal:.2f} x ideal)"
                f"   runs: {', '.join(f'{b:.0f}' for b in bares)}"
            )
            aio = statistics.median(bare_aiohttp)
            print(
                f"bare AsyncOpenAI loop (aiohttp): {aio:5.0f} papers/s ({aio / bare:.2f} x bare "
                f"SDK, {aio / ideal:.2f} x ideal)   runs: "
                f"{', '.join(f'{b:.0f}' for b in bare_aiohttp)}"
            )
        for transport in TRANSPORTS if bares else ():
            rate = statistics.median(ours[transport])
            print(
                f"scorer batch on {transport:<7}:  {rate:7.0f} papers/s ({rate / bare:.2f} x bare "
                f"SDK, {rate / aio:.2f} x bare aiohttp SDK, {rate / ideal:.2f} x ideal)   runs: "
                f"{', '.join(f'{o:.0f}' for o in ours[transport])}; "
                f"command wall {statistics.median(walls[transport]):.1f} s"
            )
        if "cached" in args.parts:
            env["SCORER_CACHE_DIR"] = str(work / f"cache-{TRANSPORTS[0]}0")
            if not bares:  # the uncached runs did not fill it
                settings = Settings.resolve(
                    base_url=base_url, api_key="bench", cache_dir=work / "cache-aiohttp0"
                )
                fill_cache(work / "cache-aiohttp0", args.papers, rubric, settings)
            cached, wall, _ = run_batch_cli(papers, env, args.concurrency)
            print(f"scorer batch (all cached): {cached:7.0f} papers/s (command wall {wall:.1f} s)")

        if args.big and "big" in args.parts:
            big, big_cache = work / "big.csv", work / "big-cache"
            write_csv(big, args.big)
            settings = Settings.resolve(base_url=base_url, api_key="bench", cache_dir=big_cache)
            fill_cache(big_cache, args.big, rubric, settings)
            big_env = {**env, "SCORER_CACHE_DIR": str(big_cache)}
            rate, wall, peak = run_batch_cli(big, big_env, args.concurrency)
            big_cpu = LAST_CPU_S
            _, _, small_peak = run_batch_cli(_head(big, 1000), big_env, args.concurrency)
            print(
                f"{args.big} rows, all cached:  {rate:7.0f} papers/s "
                f"({rate / CACHED_TARGET:.2f} x the {CACHED_TARGET:,}/s target), "
                f"command wall {wall:.1f} s, command CPU {big_cpu:.1f} s "
                f"({big_cpu / args.big * 1e6:.0f} us/row, start-up and survey included), "
                f"peak RSS {peak} MiB (1,000 rows: {small_peak} MiB)"
            )

        if args.profile:
            cpu_per_paper(base_url, papers, work, args.papers, args.concurrency)
            for transport in TRANSPORTS:
                cache = work / f"profile-cache-{transport}"
                profile_in_process(base_url, papers, cache, args.concurrency, transport)


def _head(source: Path, rows: int) -> Path:
    target = source.with_name(f"head{rows}.csv")
    with source.open(encoding="utf-8") as f, target.open("w", encoding="utf-8") as out:
        for i, line in enumerate(f):
            if i > rows:
                break
            out.write(line)
    return target


if __name__ == "__main__":
    main()
