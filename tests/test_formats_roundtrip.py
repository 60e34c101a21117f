"""A scored RIS or BibTeX file read again by `scorer batch`: the same papers, ids and identities."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from in_process import run_scorer

from scorer.testing import FakeOpenAI

RUBRIC = "llm-inference"
PAPERS = [
    {
        "id": "2602.21548v2",
        "title": "PagedKV: paging the KV cache",
        "abstract": "We page the KV cache across GPU and host memory.",
    },
    {
        "id": "hep-th/9901001",
        "title": "An old-style arXiv paper on serving strings",
        "abstract": "Strings, served in batches.",
    },
    {
        "id": "10.1145/3600006.3613165",
        "title": "Efficient memory management for LLM serving",
        "abstract": "PagedAttention.",
    },
]
# The first paper again, as a later version under a revised title: one paper by its arXiv id.
REVISED = {
    "ris": "TY  - JOUR\nTI  - PagedKV, revised\nAB  - A later version.\nID  - arXiv:2602.21548v3\n"
    "ER  - \n",
    "bib": "@misc{revised, title = {PagedKV, revised}, abstract = {A later version.},\n"
    "  eprint = {2602.21548v3}}\n",
}


def run(args: list[str], fake: FakeOpenAI, cache: Path) -> tuple[int, str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    done = run_scorer(args, env=env)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8", newline="")))


@pytest.mark.parametrize("kind", ["ris", "bib"])
def test_a_scored_file_read_again_keeps_each_papers_id(
    kind: str, fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source, scored = tmp_path / "papers.jsonl", tmp_path / f"scored.{kind}"
    source.write_text("".join(json.dumps(p) + "\n" for p in PAPERS), encoding="utf-8")
    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(scored)], fake, isolated_env)
    assert code == 0, err
    with scored.open("a", encoding="utf-8") as out:
        out.write("\n" + REVISED[kind])
    again = tmp_path / "again.csv"

    code, err = run(["batch", str(scored), "-r", RUBRIC, "-o", str(again)], fake, isolated_env)

    assert code == 0, err
    # The revised record is the first paper again (its arXiv id), so it is merged, not scored.
    assert "scanned 4, unique 3, scored 0, cached 3" in err, err
    read = rows(again)
    assert sorted(row["id"] for row in read) == sorted(p["id"] for p in PAPERS)
    # The id is the paper's id again, not a column of its own beside an empty one.
    assert not {"reference_id", "eprint"} & set(read[0])
    assert fake.count == 3
