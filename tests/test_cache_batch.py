"""Cached re-runs of many papers: the engine's batched look-up keeps the cache's promises.

A re-run reads the cache a window of papers at a time (one SQLite query, no
task per paper); these tests hold it to what a single look-up does: nothing is
sent twice, and an entry that is corrupt, stale or claimed is handled as
before. Real HTTP to the fake server, real cache folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diskcache
import pytest

import scorer
from scorer import Paper, Sampling, Score, ScoredPaper, Usage, load_rubric
from scorer.engine._cache import ResultCache, cache_key, cache_keys
from scorer.testing import FakeOpenAI

API_KEY = "sk-test-cache-batch-0123456789abcdef"


def papers(count: int) -> list[dict[str, str]]:
    return [
        {"id": f"2602.{i:05d}", "title": f"Paper {i} on KV caches", "abstract": f"Serving {i}."}
        for i in range(count)
    ]


def score_all(fake: FakeOpenAI, cache_dir: Path, records: list[dict[str, str]]) -> list[Any]:
    results = scorer.score_many(
        records,
        "llm-inference",
        base_url=fake.base_url,
        api_key=API_KEY,
        model="fake-model",
        cache_dir=cache_dir,
        concurrency=4,
    )
    return sorted(results, key=lambda r: str(r.paper.id))


def answers(results: list[ScoredPaper]) -> list[tuple[Any, ...]]:
    return [(r.paper.id, r.scores, r.justification, r.passed) for r in results]


def test_a_rerun_sends_nothing_and_gives_the_same_answers(fake: FakeOpenAI, tmp_path: Path) -> None:
    records = papers(300)  # more than one window of papers at concurrency 4
    first = score_all(fake, tmp_path / "cache", records)
    assert fake.count == 300

    again = score_all(fake, tmp_path / "cache", records)

    assert fake.count == 300
    assert all(r.cached and r.ok and r.usage == Usage() for r in again)
    assert answers(again) == answers(first)


def test_corrupt_and_stale_entries_are_scored_again_and_only_they(
    fake: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = papers(20)
    score_all(fake, tmp_path / "cache", records)
    with diskcache.Cache(str(tmp_path / "cache")) as store:
        corrupt, stale = list(store)[:2]
        store[corrupt] = "{not json"
        only_one = Score(scores={"relevance": 50}, justification="Old schema.", model="m")
        store[stale] = only_one.model_dump_json()

    again = score_all(fake, tmp_path / "cache", records)

    assert fake.count == 20 + 2
    assert sum(not r.cached for r in again) == 2
    assert all(r.ok and set(r.scores) == {"relevance", "hype"} for r in again)
    assert sum("unreadable entry" in m for m in caplog.messages) == 1


def test_a_paper_another_process_is_scoring_is_not_answered_from_its_claim(
    tmp_path: Path,
) -> None:
    cache = ResultCache(tmp_path / "cache")
    score = Score(scores={"relevance": 1, "hype": 2}, justification="J.", model="m")
    cache.put("stored", score)
    assert cache.claim("claimed", ttl=60)
    store = diskcache.Cache(str(tmp_path / "cache"))
    store["corrupt"] = "not a score"
    store["expired"] = score.model_dump_json()
    store.touch("expired", expire=-1)

    found = cache.get_many(["stored", "claimed", "corrupt", "expired", "missing"])

    assert found == {"stored": score.model_dump_json()}
    store.close()
    cache.close()


@pytest.mark.parametrize("method", ["generate", "logprob", "samples=3"])
@pytest.mark.parametrize(
    ("title", "abstract"),
    [
        ("KV caches", "Serving."),
        (
            "  Ünïcödé\tKV-Cache \n Offloading ",
            '\uff26\uff35\uff2c\uff2c width (NFKC folds it), "quotes", \\ and \u2603',
        ),
        ("Title", "x" * 5000),
    ],
)
def test_batched_keys_are_the_keys_of_single_look_ups(
    method: str, title: str, abstract: str
) -> None:
    # A cache filled one paper at a time (older runs, the service) must still hit.
    rubric, sampling = load_rubric("llm-inference"), Sampling(temperature=0.3, seed=None)
    same = {"prompt_hash": "abc", "model_id": "gpt-x", "sampling": sampling, "method": method}
    paper = Paper(title=title, abstract=abstract)
    assert cache_keys(rubric, **same)(title, abstract) == cache_key(paper, rubric, **same)
