"""First-call and warm latency of the embedded model (prints numbers; not a test).

    uv run python bench/embedded_latency.py

Measures, in one fresh process with the cache off: importing scorer, starting
the in-process llama.cpp server, the first scored paper (server start + cold
prompt), and the next papers (the rubric prefix is then in llama.cpp's
prompt cache).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

started = time.perf_counter()
import scorer  # noqa: E402
from scorer.backends._embedded import EmbeddedServer  # noqa: E402

imported = time.perf_counter()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "seed_papers.jsonl"
papers = [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def main() -> None:
    t0 = time.perf_counter()
    EmbeddedServer.base_url()
    server_up = time.perf_counter() - t0
    EmbeddedServer.stop()

    t0 = time.perf_counter()
    first = scorer.score(papers[0], "llm-inference", use_cache=False)
    first_call = time.perf_counter() - t0
    warm = []
    for paper in papers[1:] + papers[:1]:
        t0 = time.perf_counter()
        scorer.score(paper, "llm-inference", use_cache=False)
        warm.append(time.perf_counter() - t0)
    print(f"import scorer:                     {imported - started:6.2f} s")
    print(f"embedded server start:             {server_up:6.2f} s")
    tokens = f"{first.usage.prompt_tokens} prompt + {first.usage.completion_tokens} completion"
    print(f"first call (start + cold prompt):  {first_call:6.2f} s  ({tokens} tokens)")
    print(f"warm calls (median of {len(warm)}):         {statistics.median(warm):6.2f} s")


if __name__ == "__main__":
    main()
