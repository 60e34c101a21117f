"""The fixtures that the README's examples read hold what the README says they hold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from scorer.io._readers import read_papers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_seed_papers_jsonl_holds_the_same_50_listings_as_the_csv() -> None:
    """``scorer batch`` on either file scores the same papers (the README shows both).

    The JSONL is the CSV's rows, in order, as JSON objects with the CSV's columns.
    """
    with (FIXTURES / "seed_papers.csv").open(encoding="utf-8", newline="") as handle:
        from_csv = list(csv.DictReader(handle))
    lines = (FIXTURES / "seed_papers.jsonl").read_text(encoding="utf-8").splitlines()
    from_jsonl = [json.loads(line) for line in lines]

    assert len(from_csv) == 50
    assert len(from_jsonl) == len(from_csv)
    for row, (listing, obj) in enumerate(zip(from_csv, from_jsonl, strict=True), start=2):
        assert obj == listing, f"seed_papers.csv line {row} differs from its JSONL line"

    papers_csv = list(read_papers(FIXTURES / "seed_papers.csv"))
    papers_jsonl = list(read_papers(FIXTURES / "seed_papers.jsonl"))
    assert papers_jsonl == papers_csv
    assert len({p.title for p in papers_csv}) == 43  # seven listings repeat, as in the seed
