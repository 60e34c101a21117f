"""The result cache, end to end: real HTTP to the fake server, real files, real processes.

What a user pays for is requests, so most tests count what the fake server was
asked (``fake.count``) and look at what is on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import diskcache
import pytest
from prestarted import PrestartedProcess
from subprocesses import PYTHON, started

import scorer
from scorer import CacheError, Sampling, Score, ScoredPaper, Usage, load_rubric
from scorer._resources import resource_dir
from scorer.testing import FakeOpenAI

API_KEY = "sk-test-cache-0123456789abcdef"

PAPER = {
    "id": "2602.21548",
    "title": "PagedAttention Revisited: KV-Cache Offloading to NVMe",
    "abstract": "We offload the KV cache of long-context LLM serving to NVMe and "
    "overlap I/O with decoding, raising throughput 2.1x on Llama-3-70B.",
    "authors": "A. Author; B. Author",
}


def score(fake: FakeOpenAI, cache_dir: Path, paper: Any = None, **options: Any) -> ScoredPaper:
    """The library call as a pipeline would make it, pointed at the fake server."""
    rubric = options.pop("rubric", "llm-inference")
    settings: dict[str, Any] = {
        "base_url": fake.base_url,
        "api_key": API_KEY,
        "model": "fake-model",
        "cache_dir": cache_dir,
        **options,
    }
    return scorer.score(PAPER if paper is None else paper, rubric, **settings)


def stored_values(cache_dir: Path) -> list[Any]:
    """Every value in the cache folder, read with diskcache itself (not through scorer)."""
    with diskcache.Cache(str(cache_dir)) as store:
        return [store[key] for key in store]


def rubric_file(tmp_path: Path, name: str, **replace: str) -> Path:
    """A copy of the built-in llm-inference rubric with some lines replaced."""
    text = (resource_dir("rubrics") / "llm-inference.toml").read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- hits -----------------------------------------------------------------------------------------


def test_second_identical_call_is_served_from_the_cache(fake: FakeOpenAI, tmp_path: Path) -> None:
    first = score(fake, tmp_path / "c")
    assert fake.count == 1
    assert not first.cached and first.usage.requests == 1 and first.usage.total_tokens > 0

    second = score(fake, tmp_path / "c")

    assert fake.count == 1
    assert second.cached
    assert second.usage == Usage()
    assert second.scores == first.scores
    assert second.justification == first.justification
    assert second.passed == first.passed
    assert second.model == first.model == "fake-model"


def test_whitespace_and_case_in_title_and_abstract_still_hit(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    first = score(fake, tmp_path / "c")
    messy = {
        **PAPER,
        "title": "  pagedattention   REVISITED:\nkv-cache offloading to nvme ",
        "abstract": "\n\n" + PAPER["abstract"].upper().replace(" ", "  \t") + "   ",
    }

    again = score(fake, tmp_path / "c", messy)

    assert fake.count == 1
    assert again.cached and again.scores == first.scores
    assert again.paper.title == messy["title"].strip()  # the result is about the paper given


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            {"paper": {**PAPER, "abstract": PAPER["abstract"] + " Code is open."}}, id="abstract"
        ),
        pytest.param({"rubric": "exoplanet-atmospheres"}, id="builtin-rubric"),
        pytest.param({"model": "other-model"}, id="model"),
        pytest.param({"sampling": Sampling(temperature=0.7)}, id="temperature"),
    ],
)
def test_anything_that_changes_the_answer_sends_a_new_request(
    fake: FakeOpenAI, tmp_path: Path, change: dict[str, Any]
) -> None:
    score(fake, tmp_path / "c")
    assert fake.count == 1

    result = score(fake, tmp_path / "c", **change)

    assert fake.count == 2
    assert not result.cached
    assert len(stored_values(tmp_path / "c")) == 2
    if "model" in change:
        assert fake.requests[-1]["model"] == "other-model"
    if "sampling" in change:
        assert fake.requests[-1]["temperature"] == 0.7


def test_an_edited_rubric_description_sends_a_new_request(fake: FakeOpenAI, tmp_path: Path) -> None:
    builtin = load_rubric("llm-inference")
    edited = rubric_file(
        tmp_path,
        "llm-inference",
        **{builtin.description: "Serving and speeding up LLM inference, nothing else."},
    )
    score(fake, tmp_path / "c")

    result = score(fake, tmp_path / "c", rubric=edited)

    assert fake.count == 2 and not result.cached
    assert "nothing else" in json.dumps(fake.requests[-1]["messages"])


def test_renaming_a_rubric_or_moving_its_threshold_keeps_the_cache(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    first = score(fake, tmp_path / "c")
    stricter = rubric_file(tmp_path, "stricter", **{"threshold = 70": "threshold = 1"})
    renamed = rubric_file(tmp_path, "my-copy", **{'name = "llm-inference"': 'name = "my-copy"'})

    by_threshold = score(fake, tmp_path / "c", rubric=stricter)
    by_name = score(fake, tmp_path / "c", rubric=renamed)

    assert fake.count == 1
    assert by_threshold.cached and by_name.cached
    assert by_threshold.scores == by_name.scores == first.scores
    # The threshold still applies to the cached scores: it is the gate, not part of the answer.
    assert by_threshold.passed
    assert by_name.rubric == "my-copy"


def test_an_edited_copy_of_a_rubric_object_sends_a_new_request(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    rubric = load_rubric("llm-inference")
    score(fake, tmp_path / "c", rubric=rubric)  # computes (and caches) rubric.fingerprint
    edited = rubric.model_copy(update={"description": "Exoplanet atmospheres, nothing else."})

    result = score(fake, tmp_path / "c", rubric=edited)

    assert fake.count == 2 and not result.cached


# -- bypass and storage format --------------------------------------------------------------------


def test_use_cache_false_always_asks_and_writes_nothing(fake: FakeOpenAI, tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    results = [score(fake, cache_dir, use_cache=False) for _ in range(3)]

    assert fake.count == 3
    assert not any(r.cached for r in results)
    assert not cache_dir.exists() or not any(cache_dir.iterdir())


def test_cached_values_are_json_and_the_key_is_nowhere_on_disk(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "c"
    papers = [{**PAPER, "id": None, "title": f"Paper {i}"} for i in range(3)]
    results = {r.paper.title: r for r in (score(fake, cache_dir, p) for p in papers)}

    values = stored_values(cache_dir)

    assert len(values) == 3
    for value in values:
        assert isinstance(value, str)  # not a pickle
        data = json.loads(value)
        assert set(data["scores"]) == {"relevance", "hype"}
        assert data["justification"] and data["model"] == "fake-model"
    assert sorted(json.loads(v)["scores"]["relevance"] for v in values) == sorted(
        r.scores["relevance"] for r in results.values()
    )
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path


# -- damage ---------------------------------------------------------------------------------------


def test_a_corrupt_entry_is_a_miss_and_is_rescored(fake: FakeOpenAI, tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    first = score(fake, cache_dir)
    with diskcache.Cache(str(cache_dir)) as store:
        (key,) = list(store)
        store[key] = "{not json at all"

    again = score(fake, cache_dir)

    assert fake.count == 2
    assert not again.cached and again.scores == first.scores
    (value,) = stored_values(cache_dir)
    assert Score.model_validate_json(value).scores == first.scores
    assert score(fake, cache_dir).cached and fake.count == 2


def test_an_entry_without_the_rubrics_dimensions_is_a_miss(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "c"
    score(fake, cache_dir)
    stale = Score(scores={"relevance": 5}, justification="From an older schema.", model="m")
    with diskcache.Cache(str(cache_dir)) as store:
        (key,) = list(store)
        store[key] = stale.model_dump_json()

    again = score(fake, cache_dir)

    assert fake.count == 2
    assert set(again.scores) == {"relevance", "hype"}


def test_a_cache_dir_under_a_regular_file_is_a_cache_error(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("I am a file\n", encoding="utf-8")
    cache_dir = blocker / "cache"

    with pytest.raises(CacheError) as info:
        score(fake, cache_dir)

    assert str(cache_dir) in str(info.value)
    assert fake.count == 0


def test_a_corrupt_database_file_is_a_cache_error(fake: FakeOpenAI, tmp_path: Path) -> None:
    cache_dir = tmp_path / "c"
    cache_dir.mkdir()
    (cache_dir / "cache.db").write_bytes(b"this is not an SQLite database" * 100)

    with pytest.raises(CacheError) as info:
        score(fake, cache_dir)

    assert str(cache_dir) in str(info.value)


# -- several processes ----------------------------------------------------------------------------

WORKER = """
import json, pathlib, sys, time
import scorer

papers = json.loads(sys.argv[1])
ready, go = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
ready.touch()
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
for result in scorer.score_many(papers, "llm-inference", concurrency=4):
    print(json.dumps({"id": result.paper.id, "error": result.error,
                      "scores": result.scores, "cached": result.cached}), flush=True)
"""


def test_two_processes_share_one_cache_without_corrupting_it(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.latency = 0.05
    cache_dir = tmp_path / "shared-cache"
    papers = [
        {"id": f"p{i}", "title": f"Paper number {i}", "abstract": f"Abstract of paper {i}."}
        for i in range(8)
    ]
    # The same text under another id is the same request: one entry, not two. (A DOI, so
    # the record is another paper by identity, not a duplicate that score_many merges.)
    dup = "10.5555/p0-dup"
    papers.append({"id": dup, "title": "PAPER  number 0", "abstract": "abstract of paper 0. "})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCORER_"))}
    env |= {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": API_KEY,
        "SCORER_MODEL": "fake-model",
        "SCORER_CACHE_DIR": str(cache_dir),
    }
    go = tmp_path / "go"

    def start(name: str) -> tuple[PrestartedProcess, Path]:
        ready = tmp_path / f"ready-{name}"
        argv = [PYTHON, "-c", WORKER, json.dumps(papers), str(ready), str(go)]
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        return stack.enter_context(started(argv, env=env, **pipes)), ready

    def finish(proc: PrestartedProcess) -> list[dict[str, Any]]:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        return [json.loads(line) for line in out.splitlines()]

    with contextlib.ExitStack() as stack:  # both process groups are killed if the test fails
        workers = [start("a"), start("b")]
        deadline = time.monotonic() + 30
        while not all(ready.exists() for _, ready in workers) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()  # both have imported scorer: now they race
        outputs = [finish(proc) for proc, _ in workers]

    for lines in outputs:
        assert sorted(line["id"] for line in lines) == sorted(p["id"] for p in papers)
        for line in lines:
            assert line["error"] is None
            assert set(line["scores"]) == {"relevance", "hype"}
            assert all(0 <= v <= 100 for v in line["scores"].values())
    # Both processes report the same scores for each paper.
    by_id = [{line["id"]: line["scores"] for line in lines} for lines in outputs]
    assert by_id[0] == by_id[1]
    assert by_id[0]["p0"] == by_id[0][dup]
    assert 8 <= fake.count <= 16

    values = stored_values(cache_dir)
    assert len(values) == 8
    stored = sorted(json.dumps(Score.model_validate_json(v).scores, sort_keys=True) for v in values)
    expected = sorted(json.dumps(by_id[0][f"p{i}"], sort_keys=True) for i in range(8))
    assert stored == expected

    # A third run (this process) finds everything: no request at all.
    sent = fake.count
    third = list(
        scorer.score_many(
            papers,
            "llm-inference",
            base_url=fake.base_url,
            api_key=API_KEY,
            model="fake-model",
            cache_dir=cache_dir,
        )
    )
    assert fake.count == sent
    assert len(third) == len(papers) and all(r.cached for r in third)
    assert {r.paper.id: r.scores for r in third} == by_id[0]
