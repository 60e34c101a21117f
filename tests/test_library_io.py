"""What the CLI does with files, done by a library user: the same calls, the same guarantees.

``open_sinks`` (outputs by extension), ``save_papers`` (a papers file, staged),
``read_labelled`` (eval's input) and ``read_paper_json`` (``score --paper``),
with real files in tmp_path and the fake OpenAI server on loopback.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scorer import Paper, Settings, load_rubric
from scorer._errors import ConfigError, InputError
from scorer.engine._batch import run_batch
from scorer.engine._scorer import Scorer
from scorer.io._batch_outputs import BatchOutputs, open_sinks, read_input
from scorer.io._labelled import read_labelled
from scorer.io._outputs import inputs_of
from scorer.io._paper_file import read_paper_json
from scorer.io._readers import RowProblem, read_papers
from scorer.io._writers import save_papers
from scorer.testing import FakeOpenAI

RUBRIC = load_rubric("llm-inference")
OLD = "precious results from last week\n"
PAPERS = [
    Paper(id="2602.00001", title="Paged attention for serving", abstract="KV cache paging."),
    Paper(id="2602.00002", title="Speculative decoding", abstract="Draft models, verified."),
]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def score_into(paths: list[Path], settings: Settings) -> None:
    async def run() -> None:
        async with Scorer(settings) as scorer:
            with open_sinks(paths, RUBRIC) as out:
                await run_batch(PAPERS, RUBRIC, scorer, sinks=out.sinks)

    asyncio.run(run())


def test_open_sinks_writes_each_output_in_the_format_its_extension_names(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path
) -> None:
    rows_csv, rows_jsonl, digest_md, digest_html = (
        tmp_path / name for name in ("rows.csv", "rows.jsonl", "digest.md", "digest.html")
    )
    score_into([rows_csv, rows_jsonl, digest_md, digest_html], fake_settings)

    with rows_csv.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [row["title"] for row in table] == [p.title for p in PAPERS]
    assert all(row["status"] == "scored" and row["relevance"].isdigit() for row in table)
    records = [json.loads(line) for line in rows_jsonl.read_text(encoding="utf-8").splitlines()]
    assert [record["id"] for record in records] == ["2602.00001", "2602.00002"]
    markdown = digest_md.read_text(encoding="utf-8")
    assert markdown.startswith(f"# {RUBRIC.title}")
    assert "out of **2** total scanned" in markdown
    html = digest_html.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert fake.count == 2
    assert leftovers(tmp_path) == []


def test_read_input_surveys_the_file_so_a_late_column_gets_its_own_csv_column(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "papers.jsonl"
    source.write_text(
        '{"title": "Paged attention", "abstract": "KV cache paging."}\n'
        '{"title": "Speculative decoding", "abstract": "Drafts.", "venue": "OSDI"}\n',
        encoding="utf-8",
    )
    papers, columns = read_input(source)
    assert columns == ["venue"]
    rows = tmp_path / "rows.csv"

    async def run() -> None:
        async with Scorer(fake_settings) as scorer:
            with open_sinks([rows], RUBRIC, inputs=[source], input_columns=columns) as out:
                await run_batch(papers, RUBRIC, scorer, sinks=out.sinks, concurrency=1)

    asyncio.run(run())
    with rows.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [row["venue"] for row in table] == ["", "OSDI"]
    assert "extra" not in table[0]


def test_open_sinks_refuses_an_unknown_extension_before_anything_is_written(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "rows.csv"
    kept.write_text(OLD, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        open_sinks([kept, tmp_path / "rows.txt"], RUBRIC)
    assert str(refused.value) == (
        f"{tmp_path / 'rows.txt'}: unknown output format "
        "(use .csv, .jsonl, .ndjson, .ris, .bib, .xlsx, .md, .html or .atom)"
    )
    assert kept.read_text(encoding="utf-8") == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_batch_outputs_made_directly_refuse_an_unknown_extension_too(tmp_path: Path) -> None:
    # It used to take "rows.txt", write nothing into it and leave an empty file.
    with pytest.raises(ConfigError, match="unknown output format"):
        BatchOutputs([tmp_path / "rows.txt"], RUBRIC)
    assert list(tmp_path.iterdir()) == []


def test_open_sinks_refuses_an_output_that_is_the_input(tmp_path: Path) -> None:
    source = tmp_path / "papers.jsonl"
    source.write_text(OLD, encoding="utf-8")
    with pytest.raises(ConfigError, match="output is the input file"):
        open_sinks([tmp_path / "." / "papers.jsonl"], RUBRIC, inputs=inputs_of(str(source)))
    assert source.read_text(encoding="utf-8") == OLD


@pytest.mark.parametrize("name", ["papers.csv", "papers.jsonl"])
def test_saved_papers_read_back_as_the_same_papers(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert save_papers(PAPERS, path) == 2
    back = list(read_papers(path))
    assert [(p.id, p.title, p.abstract) for p in back] == [
        (p.id, p.title, p.abstract) for p in PAPERS
    ]


def test_saving_no_papers_as_csv_still_writes_the_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    assert save_papers([], path) == 0
    assert path.read_text(encoding="utf-8").splitlines() == [
        "id,title,abstract,authors,published,url,pdf_url,categories"
    ]


def test_a_source_failing_midway_leaves_the_old_papers_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "papers.jsonl"
    path.write_text(OLD, encoding="utf-8")

    def flaky() -> Iterator[Paper]:
        yield PAPERS[0]
        raise InputError("arXiv: HTTP 503 on page 2")

    with pytest.raises(InputError, match="page 2"):
        save_papers(flaky(), path)
    assert path.read_text(encoding="utf-8") == OLD
    assert leftovers(tmp_path) == []


def test_save_papers_refuses_an_unknown_format_before_taking_a_paper(tmp_path: Path) -> None:
    taken: list[Paper] = []

    def source() -> Iterator[Paper]:
        for paper in PAPERS:
            taken.append(paper)
            yield paper

    with pytest.raises(ConfigError, match=r"papers\.txt: unknown output format"):
        save_papers(source(), tmp_path / "papers.txt")
    assert taken == []
    assert list(tmp_path.iterdir()) == []


def labelled_csv(tmp_path: Path, rows: list[tuple[str, str]], header: str = "label") -> Path:
    path = tmp_path / "labelled.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["title", "abstract", header])
        for title, label in rows:
            out.writerow([title, f"About {title}.", label])
    return path


def test_read_labelled_reads_labels_and_leaves_out_blank_ones(tmp_path: Path) -> None:
    path = labelled_csv(tmp_path, [("A", "Include"), ("B", ""), ("C", "exclude"), ("D", "2")])
    told: list[int] = []
    labelled = read_labelled(path, on_unlabelled=told.append)
    assert [(item.paper.title, item.label) for item in labelled.papers] == [
        ("A", 1.0),
        ("C", 0.0),
        ("D", 2.0),
    ]
    assert labelled.unlabelled == 1 and told == [1]


def test_read_labelled_takes_the_values_named_as_positive(tmp_path: Path) -> None:
    path = labelled_csv(tmp_path, [("A", "I"), ("B", "E"), ("C", "maybe")], header="verdict")
    labelled = read_labelled(path, label_column="verdict", positives=["i"])
    assert [item.label for item in labelled.papers] == [1.0, 0.0, 0.0]


def test_read_labelled_names_the_columns_when_the_label_column_is_missing(
    tmp_path: Path,
) -> None:
    path = labelled_csv(tmp_path, [("A", "yes")], header="verdict")
    with pytest.raises(InputError) as refused:
        read_labelled(path)
    assert str(refused.value) == (
        f"{path}: no column 'label' (columns beyond the paper fields: verdict); "
        "name it with --label-column"
    )


def test_a_file_without_any_label_is_refused_after_saying_how_many_rows_had_none(
    tmp_path: Path,
) -> None:
    path = labelled_csv(tmp_path, [("A", ""), ("B", " ")])
    told: list[int] = []
    with pytest.raises(InputError, match="no labelled papers to evaluate"):
        read_labelled(path, on_unlabelled=told.append)
    assert told == [2]


def test_read_labelled_reports_bad_rows_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    path.write_text(
        '{"title": "A", "abstract": "x", "label": "yes"}\nnot json\n'
        '{"title": "B", "abstract": "y", "label": "no"}\n',
        encoding="utf-8",
    )
    problems: list[RowProblem] = []
    labelled = read_labelled(path, on_problem=problems.append)
    assert [item.paper.title for item in labelled.papers] == ["A", "B"]
    assert [(p.line, p.skipped) for p in problems] == [(2, True)]


def test_a_paper_json_file_reads_as_the_fields_score_takes(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    path.write_text('\ufeff{"title": "Paged attention", "abstract": "KV."}', encoding="utf-8")
    with path.open("rb") as f:
        assert read_paper_json(f, str(path)) == {"title": "Paged attention", "abstract": "KV."}


def test_a_utf16_paper_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    path.write_text('{"title": "T", "abstract": "A"}', encoding="utf-16")
    with path.open("rb") as f, pytest.raises(InputError) as refused:
        read_paper_json(f, str(path))
    assert str(refused.value) == f"{path}: UTF-16 text, not UTF-8; re-save it as UTF-8"
