"""A cached re-run writes the rows the first run wrote, and a CSV row is the Paper validation makes.

A cached re-run takes its own path (scorer.engine._scorer.Scorer.cached_results:
one look-up for many papers, results built without validation) and the CSV
reader builds plain rows straight from their cells (scorer._plain_paper.plain_rows).
Both are shortcuts for speed (issue 16); these tests hold them to the slow paths
on hostile rows: formula cells, odd dates, duplicates, bad rows, unknown and
colliding columns, quotes and newlines in cells, non-ASCII text.
"""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

from in_process import run_scorer

from scorer import Paper, load_rubric
from scorer.io._readers import RowProblem, read_papers
from scorer.io._writers import CsvWriter
from scorer.testing import FakeOpenAI

HEADER = ["id", "title", "abstract", "authors", "published", "url", "categories", "status", "notes"]
ROWS = [
    [
        "2602.00001",
        "Plain title",
        "Plain abstract",
        "A; B",
        "2026-02-24",
        "",
        "cs.LG",
        "to read",
        "",
    ],
    ["arXiv:2602.00001v2", "Its duplicate", "Other", "C", "2026", "", "", "", ""],
    [
        "https://doi.org/10.1145/ABC.1",
        '=HYPERLINK("x")',
        "+1 formula",
        "@e; -m",
        "",
        "",
        "",
        "",
        "",
    ],
    ["", "  Spaced title ", " spaced abstract", "X, Y", "", "http://a ", "", "", "'=quoted"],
    ["", "Quotes", 'Abstract, with "quotes"\nand a newline', "", "", "", "", "", "\ttab"],
    ["10.48550/arXiv.2602.00003", "Naïve café — “quotes”", "Ünïcödé ﬁ", "Ø; Ü", "", "", "", "", ""],
    ["", "Missing abstract", "", "", "", "", "", "", ""],
    ["2602.00004", "Bad date", "Abstract", "", "2026-02-30", "", "", "", ""],
    ["2602.00005", "A datetime", "Abstract", "", "2026-02-24T10:00:00Z", "", "", "", ""],
    [" 2602.00006 ", "Id with spaces", "Abstract", "; ;A;", "1999", "", "cs.AI, cs.CL", "", ""],
    ["2602.00007", "Control\x01char", "Abstract\x02", "", "", "", "", "done", "n"],
    ["2602.00001", "Duplicate again", "Abstract", "", "", "", "", "", ""],
]
# Lines (the header is line 1; the newline cell makes row 5 two lines) that are not papers.
SKIPPED_LINES = [9, 10]
RESULT_COLUMNS = ("scorer_status", "tokens")  # what a cached row says differently


def _write_source(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, *ROWS])


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8", newline="")))


def _without_status(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(
        ({k: v for k, v in row.items() if k not in RESULT_COLUMNS} for row in rows),
        key=json.dumps,
    )


def test_a_cached_rerun_writes_the_rows_the_first_run_wrote(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "hostile.csv"
    _write_source(source)
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(isolated_env)}
    runs = {}
    for name in ("first", "again"):
        outs = [tmp_path / f"{name}.csv", tmp_path / f"{name}.jsonl"]
        args = ["batch", str(source), "-r", "llm-inference", *(f"-o{o}" for o in outs)]
        runs[name] = (run_scorer(args, env=env), outs)
    first, again = runs["first"][0], runs["again"][0]
    assert "scanned 10, unique 8, scored 8, cached 0" in first.stderr
    assert "scanned 10, unique 8, scored 0, cached 8" in again.stderr
    assert fake.count == 8  # the re-run asked nothing
    for line in SKIPPED_LINES:
        assert f"{source}:{line}: skipped" in first.stderr
        assert f"{source}:{line}: skipped" in again.stderr

    first_csv, again_csv = _rows(runs["first"][1][0]), _rows(runs["again"][1][0])
    assert list(first_csv[0]) == list(again_csv[0])  # the same header
    assert {r["scorer_status"] for r in again_csv} == {"cached"}
    assert {r["tokens"] for r in again_csv} == {"0"}
    assert _without_status(again_csv) == _without_status(first_csv)
    formula = next(r for r in again_csv if r["id"].startswith("https://doi.org"))
    assert formula["title"] == '\'=HYPERLINK("x")' and formula["authors"] == "'@e; -m"
    assert next(r for r in again_csv if r["id"] == "2602.00001")["status"] == "to read"

    first_lines = runs["first"][1][1].read_text(encoding="utf-8").splitlines()
    again_lines = runs["again"][1][1].read_text(encoding="utf-8").splitlines()
    first_json = _without_status([json.loads(line) for line in first_lines])
    again_json = _without_status([json.loads(line) for line in again_lines])
    assert again_json == first_json


def test_each_csv_row_is_the_paper_validation_makes(tmp_path: Path) -> None:
    source = tmp_path / "hostile.csv"
    _write_source(source)
    problems: list[RowProblem] = []
    papers = list(read_papers(source, on_problem=problems.append))
    assert [p.line for p in problems] == SKIPPED_LINES
    expected = []
    for row in ROWS:
        record = dict(zip(HEADER, row, strict=True))
        try:
            expected.append(Paper.model_validate(record))
        except ValueError:
            continue
    assert len(papers) == len(expected)
    for paper, slow in zip(papers, expected, strict=True):
        assert paper == slow
        assert paper.model_fields_set == slow.model_fields_set
        assert paper.extra_fields == slow.extra_fields
        assert paper.model_dump_json() == slow.model_dump_json()


def test_rows_held_by_a_staged_output_reach_the_file(tmp_path: Path) -> None:
    # A staged output holds rows for a few dozen at a time: every row reaches the file
    # when the loop next gets control, or at finish(), however long the burst; a writer
    # that does not hold rows writes each to the stream as it comes.
    from scorer._models import ScoredPaper

    rubric = load_rubric("llm-inference")
    results = [
        ScoredPaper(
            paper=Paper(title=f"Paper {i}", abstract="A"),
            rubric=rubric.name,
            rubric_fingerprint=rubric.fingerprint,
            model="m",
            scores={"relevance": 50, "hype": 50},
            cached=True,
        )
        for i in range(150)
    ]
    path = tmp_path / "out.csv"

    async def burst(finish: bool) -> int:
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = CsvWriter(stream, rubric, input_columns=[], flush_each=False, hold_rows=True)
            for result in results:  # no await: the loop does not get control meanwhile
                writer.write(result)
            if finish:
                writer.finish()
            else:
                await asyncio.sleep(0)
            on_disk = len(_rows(path))  # read while the stream is still open
        return on_disk

    assert asyncio.run(burst(finish=True)) == 150
    assert asyncio.run(burst(finish=False)) == 150

    async def closed_at_once() -> None:
        # Without hold_rows (a library caller's writer), closing the stream is enough.
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = CsvWriter(stream, rubric, input_columns=[], flush_each=False)
            for result in results:
                writer.write(result)

    asyncio.run(closed_at_once())
    assert len(_rows(path)) == 150
