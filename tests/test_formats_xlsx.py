"""Excel workbooks in and out, and the ASReview CSV, through `scorer batch` and `scorer digest`."""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from pathlib import Path

from in_process import run_scorer
from lazy_import import LazyModule

from scorer.testing import FakeOpenAI, Reply

openpyxl = LazyModule("openpyxl")  # imported by the first test that uses it

RUBRIC = "se-literature-reviews"
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)"]


def run(args: list[str], fake: FakeOpenAI, cache: Path) -> tuple[int, str, str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    done = run_scorer(args, env=env)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def by_title_status(rows: list[dict[str, str]]) -> dict[str, str]:
    return {row["title"]: row["status"] for row in rows}


def workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Title", "Abstract", "Year", "Reviewer"])
    sheet.append(["Systematic reviews of reviews", "A tertiary study of SLRs.", 2010, "ann"])
    sheet.append(
        ["A stack machine compiler", "Eight instructions.", dt.datetime(2015, 3, 1), "bob"]
    )
    sheet.append([None, None, None, None])
    sheet.append(["No abstract here", None, 2001, "cy"])
    for i, formula in enumerate(FORMULAS):
        sheet.append([f"Formula paper {i}", formula, 2020, formula])
        for cell in sheet[sheet.max_row][1::2]:
            cell.data_type = "s"  # typed as text (Excel's leading '), not a formula
    book.save(path)


def test_excel_in_excel_out_with_no_formula_cells(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source, out = tmp_path / "papers.xlsx", tmp_path / "scored.xlsx"
    workbook(source)

    code, _, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 1  # the row without abstract
    assert f"{source}:5: skipped: missing abstract" in err
    assert "scored 6" in err, err
    sheet = openpyxl.load_workbook(out).worksheets[0]  # not read-only: formulas would show as such
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header = rows[0]
    assert header[:7] == ["id", "title", "abstract", "authors", "published", "url", "pdf_url"]
    assert "Reviewer" in header and "relevance" in header and "justification" in header
    by_title = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    for i, formula in enumerate(FORMULAS):
        assert by_title[f"Formula paper {i}"]["abstract"] == formula  # text, exactly
        assert by_title[f"Formula paper {i}"]["Reviewer"] == formula
    assert by_title["A stack machine compiler"]["published"] == "2015-03-01"
    assert isinstance(by_title["Systematic reviews of reviews"]["relevance"], int)

    digest = tmp_path / "digest.md"
    code, _, err = run(["digest", str(out), "-r", RUBRIC, "-o", str(digest)], fake, isolated_env)
    assert code == 0, err
    assert "out of **6** total scanned" in digest.read_text(encoding="utf-8")


def test_a_file_that_is_not_a_workbook_is_one_clear_line(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "papers.xlsx"
    source.write_text("title,abstract\nA,B\n", encoding="utf-8")

    code, _, err = run(["batch", str(source), "-r", RUBRIC], fake, isolated_env)

    assert code == 2
    assert "not a readable .xlsx workbook" in err.strip().splitlines()[-1]
    assert fake.count == 0


def test_asreview_csv_marks_included_from_the_threshold(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source, out = tmp_path / "papers.jsonl", tmp_path / "screen.asreview.csv"
    source.write_text(
        '{"title": "High", "abstract": "keep me", "authors": "A, B; C, D", "id": "10.1000/x1"}\n'
        '{"title": "Low", "abstract": "drop me", "id": "2602.21548"}\n'
        '{"title": "=cmd", "abstract": "fails", "url": "https://example.org/p"}\n',
        encoding="utf-8",
    )
    fake.answer_when("keep me", Reply(json_override={"relevance": 90}))
    fake.answer_when("drop me", Reply(json_override={"relevance": 10}))
    fake.answer_when("fails", Reply.context_length_exceeded())

    code, _, err = run(
        ["batch", str(source), "-r", RUBRIC, "-o", str(out), "--threshold", "50"],
        fake,
        isolated_env,
    )

    assert code == 1, err  # one paper failed
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    columns = ["title", "abstract", "authors", "doi", "url", "keywords", "included"]
    assert list(rows[0])[:7] == columns
    assert {"relevance", "justification", "status"} <= set(rows[0])  # scorer's, after them
    assert by_title_status(rows) == {"High": "scored", "Low": "scored", "'=cmd": "failed"}
    by_title = {row["title"]: row for row in rows}
    assert by_title["High"]["included"] == "1"
    assert by_title["High"]["doi"] == "10.1000/x1"
    assert by_title["High"]["authors"] == "A, B; C, D"
    assert by_title["Low"]["included"] == "0"
    assert by_title["Low"]["doi"] == ""  # an arXiv id is no DOI
    assert by_title["'=cmd"]["included"] == ""  # failed: left for a human, as ASReview reads it


def test_a_run_stopped_by_the_model_keeps_a_valid_workbook_of_what_finished(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source, out = tmp_path / "papers.jsonl", tmp_path / "scored.xlsx"
    source.write_text(
        '{"title": "First", "abstract": "scored"}\n{"title": "Second", "abstract": "refused"}\n',
        encoding="utf-8",
    )
    fake.answer_when("refused", Reply.unauthorized())

    code, _, err = run(
        ["batch", str(source), "-r", RUBRIC, "-o", str(out), "--concurrency", "1"],
        fake,
        isolated_env,
    )

    assert code == 3, err
    sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert [row[1] for row in rows] == ["title", "First"]


def test_a_workbook_that_unpacks_to_too_much_is_refused_before_it_is_read(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # A zip bomb: 600 KiB on disk, a 600 MiB cell (openpyxl keeps a
    # workbook's shared strings in memory whole: tens of GiB from a few MiB).
    plain, source = tmp_path / "plain.xlsx", tmp_path / "bomb.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["title", "abstract"])
    book.active.append(["T", "SENTINEL"])
    book.save(plain)
    with (
        zipfile.ZipFile(plain) as inner,
        zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
    ):
        for item in inner.infolist():
            data = inner.read(item)
            if b"SENTINEL" not in data:
                z.writestr(item, data)
                continue
            head, _, tail = data.partition(b"SENTINEL")
            with z.open(item.filename, "w", force_zip64=True) as member:
                member.write(head)
                for _ in range(600):
                    member.write(b"a" * (1 << 20))
                member.write(tail)

    code, _, err = run(["batch", str(source), "-r", RUBRIC], fake, isolated_env)

    assert code == 2
    assert "unpacks to 600 MiB" in err.strip().splitlines()[-1]
    assert fake.count == 0


def test_a_sheet_damaged_past_its_first_rows_is_one_clear_line(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # openpyxl reads a sheet's XML as the rows are asked for: damage below the
    # first rows (a character XML forbids, an entity expansion bomb) came out
    # as a ParseError traceback.
    plain, source = tmp_path / "plain.xlsx", tmp_path / "damaged.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["title", "abstract"])
    book.active.append(["Fine", "Fine abstract"])
    book.active.append(["Damaged", "SENTINEL"])
    book.save(plain)
    with zipfile.ZipFile(plain) as inner, zipfile.ZipFile(source, "w") as damaged:
        for item in inner.infolist():
            damaged.writestr(item, inner.read(item).replace(b"SENTINEL", b"bad \x01 byte"))

    code, _, err = run(["batch", str(source), "-r", RUBRIC], fake, isolated_env)

    assert code == 2
    assert "not a readable .xlsx workbook" in err.strip().splitlines()[-1]
    assert fake.count == 0


def test_a_cell_longer_than_excel_allows_is_cut_in_excels_units(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # Excel's 32,767-character limit counts UTF-16 units: cutting 20,000 emoji
    # by Python characters left 40,000 of them, and Excel "repaired" the file.
    source, out = tmp_path / "papers.jsonl", tmp_path / "scored.xlsx"
    long_abstracts = {"Emoji": "\N{GRINNING FACE}" * 20_000, "Letters": "x" * 40_000}
    lines = [f'{{"title": "{t}", "abstract": "{a}"}}' for t, a in long_abstracts.items()]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, _, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    rows = list(openpyxl.load_workbook(out, read_only=True).worksheets[0].values)
    column = rows[0].index("abstract")
    cut = {row[1]: row[column] for row in rows[1:]}
    for title, abstract in long_abstracts.items():
        assert cut[title].endswith("…")
        assert abstract.startswith(cut[title][:-1])
        assert len(cut[title].encode("utf-16-le")) // 2 in (32_766, 32_767)
