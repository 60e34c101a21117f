"""Batch API mode at scale: build and submit N papers, then collect them, against the fake.

    uv run python bench/batch_api.py [--papers 100000] [--rubric llm-inference]

The fake server runs in its own process (``python -m scorer.testing.fake_openai``),
as a provider would. Phases, each timed apart:

1. submit: read the papers, look each up in the (empty) cache, build each
   request body with the backend, write the JSONL (split under OpenAI's
   limits: 50,000 requests and 200 MB per file), upload it, create the
   batches, write the state file;
2. the fake answers the batches (the provider's work, not scorer's);
3. collect: download the output files, validate every answer with the
   rubric's response model, store it in the cache;
4. outputs: the normal pipeline writes the JSONL results from the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openai

from scorer import Paper, Settings
from scorer._models import Usage
from scorer._rubric import load_rubric
from scorer.engine._batch import run_batch
from scorer.engine._batch_api import BatchApiRun, batch_answers_scorer, submit_or_collect
from scorer.engine._scorer import Scorer
from scorer.eval._prices import price_usage
from scorer.io._writers import JsonlWriter


def synthetic_papers(n: int) -> list[Paper]:
    words = ("paged", "attention", "kv", "cache", "speculative", "decoding", "batching", "serving")
    return [
        Paper(
            id=f"bench-{i}",
            title=f"{words[i % len(words)].title()} {i}: serving large language models faster",
            abstract=(
                f"We present method {i}, which combines {words[i % 7]} with {words[(i + 3) % 8]} "
                "to cut the latency of LLM inference on commodity GPUs, and evaluate it on "
                f"{10 + i % 90} workloads against three strong baselines."
            ),
            authors=["A. Author", "B. Author"],
        )
        for i in range(n)
    ]


def start_fake() -> tuple[subprocess.Popen[str], str]:
    fake = subprocess.Popen(
        [sys.executable, "-m", "scorer.testing.fake_openai"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None
    return fake, fake.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--rubric", default="llm-inference")
    args = parser.parse_args()
    rubric = load_rubric(args.rubric)
    papers = synthetic_papers(args.papers)
    price_usage("gpt-4.1-nano", Usage(prompt_tokens=1))  # loads the price database: not timed
    fake, base_url = start_fake()
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = Settings.resolve(
                env={},
                base_url=base_url,
                api_key="sk-bench",
                model="gpt-4.1-nano",
                cache_dir=Path(folder) / "cache",
            )

            async def step() -> BatchApiRun:
                async with Scorer(settings) as scorer:
                    return await submit_or_collect(papers, rubric, scorer)

            started, cpu = time.perf_counter(), time.process_time()
            submitted = asyncio.run(step())
            submit_s = time.perf_counter() - started
            sizes = [n for _, n in submitted.submitted]
            print(
                f"submit: {args.papers} papers in {submit_s:.1f} s = "
                f"{args.papers / submit_s:,.0f} requests/s (CPU {time.process_time() - cpu:.1f} s; "
                f"{len(sizes)} batches: {sizes})"
            )

            started = time.perf_counter()
            client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
            for batch_id, _ in submitted.submitted:  # the fake answers on first retrieval
                client.with_options(timeout=3600).batches.retrieve(batch_id)
            print(f"fake answers the batches: {time.perf_counter() - started:.1f} s")

            started, cpu = time.perf_counter(), time.process_time()
            collected = asyncio.run(step())
            collect_s = time.perf_counter() - started
            print(
                f"collect: {collected.collected} answers in {collect_s:.1f} s = "
                f"{collected.collected / collect_s:,.0f} answers/s "
                f"(CPU {time.process_time() - cpu:.1f} s), failed "
                f"{len(collected.failed)}; {collected.line()}"
            )

            async def outputs() -> None:
                out = Path(folder) / "out.jsonl"
                with out.open("w", encoding="utf-8") as stream:
                    scorer = batch_answers_scorer(Scorer(settings), collected)
                    summary = await run_batch(
                        papers, rubric, scorer, sinks=[JsonlWriter(stream, rubric)], concurrency=16
                    )
                    assert summary.cached == args.papers, summary.line()

            started = time.perf_counter()
            asyncio.run(outputs())
            outputs_s = time.perf_counter() - started
            print(
                f"outputs from the cache: {outputs_s:.1f} s = "
                f"{args.papers / outputs_s:,.0f} papers/s"
            )
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak memory of this process: {peak:,.0f} MiB")
            state = list((Path(folder) / "cache" / "batch-api").glob("*.json"))
            print(f"state files left: {len(state)} ({json.loads(state[0].read_text())['batches']})")
    finally:
        fake.terminate()
        fake.wait(timeout=30)


if __name__ == "__main__":
    main()
