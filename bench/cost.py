"""Cost per 1,000 papers for the built-in rubrics: online vs Batch API, with and without
the provider's prompt cache, at genai-prices' prices (default model gpt-4.1-nano).

    uv run python bench/cost.py [--model gpt-4.1-nano] [--papers fixtures/seed_papers.jsonl]

Token counts are estimates, chars/4 (tiktoken needs its vocabulary from the
network): the prompt is the request body scorer sends (the response_format
schema, the rubric's system message, then the paper), built by the backend
itself for each paper of --papers; the answer is the JSON a model writes,
with the justifications of the seed digest's real answers. The shared prefix
is what every paper's request has in common: the schema, the system message
and the start of the user message. OpenAI caches prompts of at least 1,024
tokens, in steps of 128 tokens of the longest prefix it has seen; cached
tokens below are that rule applied to the shared prefix.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scorer import Paper, Settings
from scorer._models import Usage
from scorer._rubric import builtin_rubric_names, load_rubric
from scorer.backends._openai_compat import OpenAICompatBackend
from scorer.eval._prices import price_usage
from scorer.methods._answer import response_model_for
from scorer.prompt._messages import load_prompt

ROOT = Path(__file__).resolve().parents[1]
CHARS_PER_TOKEN = 4
MIN_CACHED, CACHE_STEP = 1024, 128  # OpenAI's prompt caching


def tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def common_prefix(texts: list[str]) -> str:
    first = texts[0]
    size = next(
        (i for i in range(len(first)) if any(len(t) <= i or t[i] != first[i] for t in texts)),
        len(first),
    )
    return first[:size]


def cached_tokens(shared: int) -> int:
    """OpenAI's rule: nothing below 1,024 tokens, then the longest prefix in steps of 128."""
    if shared < MIN_CACHED:
        return 0
    return MIN_CACHED + (shared - MIN_CACHED) // CACHE_STEP * CACHE_STEP


def answer_tokens(rubric_dims: list[str]) -> int:
    """The answer JSON a model writes, with the seed digest's real justifications."""
    rows = [
        json.loads(line)
        for line in (ROOT / "fixtures" / "seed_digest_scored.jsonl").read_text().splitlines()
    ]
    sizes = []
    for row in rows:
        answer = {"justification": row["justification"], **{d: 75 for d in rubric_dims}}
        sizes.append(tokens(json.dumps(answer)))
    return round(statistics.fmean(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gpt-4.1-nano")
    parser.add_argument("--papers", type=Path, default=ROOT / "fixtures" / "seed_papers.jsonl")
    args = parser.parse_args()
    settings = Settings.resolve(env={}, base_url="http://unused/v1", model=args.model)
    backend = OpenAICompatBackend(
        base_url=settings.base_url, api_key="unused", model=args.model, settings=settings
    )
    papers = [
        Paper.model_validate(json.loads(line))
        for line in args.papers.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    prompt = load_prompt("score")
    print(
        f"model {args.model}, {len(papers)} papers from {args.papers.name}, tokens = chars/4; "
        "USD per 1,000 papers"
    )
    header = (
        f"{'rubric':<26} {'prefix':>6} {'paper':>6} {'out':>4} {'cached':>6} "
        f"{'online':>8} {'+cache':>8} {'batch':>8} {'b+cache':>8}"
    )
    print(header)
    for name in builtin_rubric_names():
        rubric = load_rubric(name)
        model = response_model_for(rubric)
        bodies = [backend.chat_request(prompt.messages(rubric, p), model)[1] for p in papers]
        schema = json.dumps(bodies[0]["response_format"])
        system = bodies[0]["messages"][0]["content"]
        users = [b["messages"][-1]["content"] for b in bodies]
        shared = tokens(schema) + tokens(system) + tokens(common_prefix(users))
        prompt_tokens = round(
            statistics.fmean(tokens(schema) + tokens(system) + tokens(u) for u in users)
        )
        out = answer_tokens([d.name for d in rubric.dimensions])
        cached = cached_tokens(shared)
        plain = Usage(prompt_tokens=prompt_tokens * 1000, completion_tokens=out * 1000)
        with_cache = plain.model_copy(update={"cached_prompt_tokens": cached * 1000})
        costs = [
            price_usage(args.model, plain),
            price_usage(args.model, with_cache),
            price_usage(args.model, plain, batch=True),
            price_usage(args.model, with_cache, batch=True),
        ]
        shown = " ".join(f"{'?' if c is None else f'${c:.4f}':>8}" for c in costs)
        print(f"{name:<26} {shared:>6} {prompt_tokens - shared:>6} {out:>4} {cached:>6} {shown}")
    print(
        "prefix: tokens every paper shares (schema + rubric + start of the paper block); "
        "paper: the rest of the prompt; out: answer; cached: per paper under OpenAI's rule"
    )


if __name__ == "__main__":
    main()
