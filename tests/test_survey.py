"""The survey of a CSV or TSV input stops once its columns are known, and finds the same columns.

``survey_papers`` reads a table only as far as it needs (the first paper, or
the first with categories when the table has that column); what it returns is
pinned equal to :func:`paper_columns` over every paper of the file, on tables
whose early rows are bad, blank, or lack categories.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from scorer.io._batch_outputs import paper_columns, survey_papers
from scorer.io._readers import read_papers

HEADERS = ["id", "published", "categories", "venue", "notes", "status"]
CELLS = ["", " ", "T", "A b", "cs.LG", "cs.LG; cs.AI", ";", "2026-02-30", "2026", "x,y", 'q"t']


def whole_file_columns(path: Path) -> list[str]:
    return paper_columns(read_papers(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("title,abstract,venue\nT,A,OSDI\nU,B,\n", ["venue"]),
        ("title,abstract,categories,venue\nT,A,,x\nU,B,,y\nV,C,cs.LG,z\n", ["venue", "categories"]),
        ("title,abstract,categories,venue\nT,A,cs.LG,x\nU,B,,y\n", ["categories", "venue"]),
        # a bad first row (no abstract) and a bad row with categories count for nothing
        ("title,abstract,categories,venue\nT,,cs.LG,x\nU,B,,y\nV,C,,z\n", ["venue"]),
        ("title,abstract,categories\nT,A,;\n", []),
        ("title,abstract,venue\nT,,x\n\n", []),
        ("title,abstract\n", []),
    ],
)
def test_a_tables_survey_finds_the_columns_a_whole_read_finds(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    source = tmp_path / "papers.csv"
    source.write_text(text, encoding="utf-8")
    assert survey_papers(source) == expected == whole_file_columns(source)


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_the_survey_equals_a_whole_read_on_random_tables(tmp_path: Path, suffix: str) -> None:
    rng = random.Random(16)
    for n in range(300):
        header = ["title", "abstract", *rng.sample(HEADERS, rng.randint(0, len(HEADERS)))]
        rng.shuffle(header)
        source = tmp_path / f"t{n}{suffix}"
        with source.open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f, delimiter="\t" if suffix == ".tsv" else ",")
            out.writerow(header)
            for _ in range(rng.randint(0, 8)):
                out.writerow([rng.choice(CELLS) for _ in header])
        assert survey_papers(source) == whole_file_columns(source), source.read_text()


def test_the_survey_of_a_jsonl_file_still_reads_every_record(tmp_path: Path) -> None:
    source = tmp_path / "papers.jsonl"
    source.write_text(
        '{"title": "T", "abstract": "A"}\n'
        '{"title": "U", "abstract": "B", "categories": "cs.LG"}\n'
        '{"title": "V", "abstract": "C", "venue": "OSDI"}\n',
        encoding="utf-8",
    )
    assert survey_papers(source) == ["categories", "venue"]
