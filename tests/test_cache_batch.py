"""Cached re-runs of many papers: the engine's batched look-up keeps the cache's promises.

A re-run reads the cache a window of papers at a time (one SQLite query, no
task per paper); these tests hold it to what a single look-up does: nothing is
sent twice, and an entry that is corrupt, stale or claimed is handled as
before. Real HTTP to the fake server, real cache folders.
"""

from __future__ import annotations

import asyncio
import csv
import random
from pathlib import Path
from typing import Any

import diskcache
import pytest
from in_process import run_scorer

import scorer
from scorer import Paper, Sampling, Score, ScoredPaper, Usage, load_rubric
from scorer.engine import Scorer
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
    # Five windows of papers at concurrency 4 (a window is 2 x concurrency, engine/_scorer.py).
    records = papers(40)
    first = score_all(fake, tmp_path / "cache", records)
    assert fake.count == 40

    again = score_all(fake, tmp_path / "cache", records)

    assert fake.count == 40
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


def test_batched_keys_match_single_keys_on_random_hostile_text() -> None:
    # The batched keys write plain text into the key's JSON without the encoder;
    # quotes, backslashes and control characters (\x00-\x1f, \x7f, \x85, \u2028) must
    # still come out as json.dumps writes them, or an older cache stops hitting.
    rng = random.Random(16)
    alphabet = 'ab c"\\\x00\x01\t\n\r\x1f\x7f\x85\u2028\u00e9\uff26\u2603 '
    rubric, same = load_rubric("llm-inference"), {"prompt_hash": "p", "model_id": "m"}
    keys = cache_keys(rubric, sampling=Sampling(), **same)
    for _ in range(2000):
        title = "T" + "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        abstract = "A" + "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        paper = Paper(title=title, abstract=abstract)
        expected = cache_key(paper, rubric, sampling=Sampling(), **same)
        assert keys(paper.title, paper.abstract) == expected, (title, abstract)


def test_batched_keys_match_single_keys_on_random_ascii_text() -> None:
    # ASCII text takes a shorter path (no NFKC, lower() for casefold(), spaces folded
    # only when there are two together or at an end): the keys must not move.
    rng = random.Random(16)
    # Mostly text without control characters (the short path), some with.
    alphabet = 'aB Z~\x7f"\\' * 20 + "\x00\x08\t\n\x0b\x0c\r\x1b\x1c\x1f"
    rubric, same = load_rubric("llm-inference"), {"prompt_hash": "p", "model_id": "m"}
    keys = cache_keys(rubric, sampling=Sampling(), **same)
    for _ in range(2000):
        title = "T" + "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        abstract = "".join(rng.choices(alphabet, k=rng.randint(1, 40))) + "A"
        paper = Paper(title=title, abstract=abstract)
        expected = cache_key(paper, rubric, sampling=Sampling(), **same)
        assert keys(title, abstract) == expected, (title, abstract)


def test_a_cached_rerun_reports_the_same_bad_rows_and_writes_the_same_rows(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # Most rows are built without Paper's validators (scorer._plain_paper); the rows
    # that need them (a date to refuse, a title to strip) must come out as before.
    rows = [
        f'2602.{i:05d},Paper {i} on KV caches,"Serving, at scale {i}.",A. Author; B. Author,'
        f"2026-02-24,to read\n"
        for i in range(300)
    ]
    rows[149] = "2602.99999,Bad date,Serving.,X,2026-02-30,x\n"  # line 151
    rows[199] = '2602.88888, Padded title ,=cmd|calc,Y,2024,"note, ""quoted"""\n'
    source = tmp_path / "papers.csv"
    source.write_text("id,title,abstract,authors,published,notes\n" + "".join(rows))
    env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": API_KEY}
    outs = [tmp_path / "first.csv", tmp_path / "again.csv"]

    runs = [
        run_scorer(["batch", str(source), "-r", "llm-inference", "-o", str(out)], env=env)
        for out in outs
    ]

    assert fake.count == 299
    assert "scored 299, cached 0" in runs[0].stderr and "scored 0, cached 299" in runs[1].stderr
    for done in runs:
        assert done.returncode == 1
        assert f"{source}:151: skipped: published: invalid date '2026-02-30'" in done.stderr
    first, again = (
        [
            {k: v for k, v in row.items() if k not in ("status", "tokens")}
            for row in csv.DictReader(out.open(encoding="utf-8", newline=""))
        ]
        for out in outs
    )
    assert sorted(first, key=str) == sorted(again, key=str) and len(first) == 299
    padded = next(row for row in again if row["id"] == "2602.88888")
    assert padded["title"] == "Padded title" and padded["abstract"] == "'=cmd|calc"
    assert padded["published"] == "2024-01-01" and padded["notes"] == 'note, "quoted"'


def test_results_asked_and_cached_are_what_validation_builds(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    # Results are built without validating their parts again (scorer._trusted).
    records = papers(40)
    asked = score_all(fake, tmp_path / "cache", records)
    cached = score_all(fake, tmp_path / "cache", records)

    assert all(not r.cached for r in asked) and all(r.cached for r in cached)
    for result in [*asked, *cached]:
        validated = ScoredPaper(**{name: getattr(result, name) for name in result.model_fields_set})
        assert result == validated
        assert result.model_fields_set == validated.model_fields_set
        assert list(result.__dict__) == list(ScoredPaper.model_fields)
        assert result.model_dump_json() == validated.model_dump_json()


def test_cached_papers_read_before_an_invalid_one_are_answered_before_its_error(
    fake: FakeOpenAI, fake_settings: scorer.Settings
) -> None:
    # Hits are handed out a window at a time; a record that is not a paper still stops
    # the run where it was read, after the answers of the records read before it.
    rubric = load_rubric("llm-inference")
    cached = [Paper.model_validate(record) for record in papers(2)]
    items = [(0, cached[0]), (1, cached[1]), (2, {"title": "", "abstract": "untitled"})]
    got: list[int] = []

    async def run(tagged: list[tuple[int, Any]]) -> None:
        async for tag, _ in Scorer(fake_settings).ascore_tagged(tagged, rubric):
            got.append(tag)

    asyncio.run(run(items[:2]))  # fills the cache
    got.clear()
    with pytest.raises(scorer.InputError, match="title"):
        asyncio.run(run(items))
    assert got == [0, 1]
    assert fake.count == 2


@pytest.mark.parametrize(
    "raw",
    [
        '{"scores": {"relevance": 90, "hype": 10}, "justification": "j", "model": "m"}',
        '{"scores": {"relevance": "90"}, "justification": "j", "model": "m", "extra": 1}',
        '{"scores": {"relevance": 90}, "justification": "j", "model": "m", "certainty": 0.5,'
        ' "usage": {"prompt_tokens": 3, "completion_tokens": 4, "requests": 1}}',
        '{"scores": {"relevance": 101}, "justification": "j", "model": "m"}',
        '{"scores": {"relevance": -1}, "justification": "j", "model": "m"}',
        '{"scores": {"relevance": 9.5}, "justification": "j", "model": "m"}',
        '{"scores": {"relevance": 90}, "model": "m"}',
        '{"scores": {"relevance": 90}, "justification": "j", "model": "m", "certainty": 2}',
        '{"scores": {"relevance": 90}, "justification": "j", "model": "m",'
        ' "usage": {"requests": "x"}}',
        '{"scores": [], "justification": "j", "model": "m"}',
        '{"scores": {"relevance": 90}, "justification": "j", "model": "m"',
        "[]",
    ],
)
@pytest.mark.parametrize("layout", ["pydantic's own", "another"])
def test_a_cached_entry_is_read_as_score_validation_reads_it(raw: str, layout: str) -> None:
    # The hit path validates a cached Score's fields without making the Score:
    # the same entries must pass (with the same values) and fail. A schema laid out
    # otherwise (a pydantic upgrade) falls back to Score's own validator.
    from pydantic import ValidationError

    from scorer.engine._scorer import _SCORE_FIELDS, _score_fields_validator

    validate = _SCORE_FIELDS
    if layout == "another":
        validate = _score_fields_validator({"type": "definitions"})
    try:
        expected: dict[str, Any] | None = Score.model_validate_json(raw).__dict__
    except ValidationError:
        expected = None
    try:
        got: dict[str, Any] | None = validate(raw)[0]
    except ValidationError:
        got = None
    assert got == expected
