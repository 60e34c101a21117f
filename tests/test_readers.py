import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from scorer import InputError, Paper
from scorer.io._readers import MAX_LINE_BYTES, RowProblem, read_papers

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "fixtures" / "input_kitchenham_sample.csv"
KITCHENHAM = ROOT.parent / "shared" / "data" / "kitchenham_2010" / "Kitchenham.csv"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_all(source: str | Path, **options: object) -> tuple[list[Paper], list[RowProblem]]:
    problems: list[RowProblem] = []
    papers = list(read_papers(source, on_problem=problems.append, **options))  # type: ignore[arg-type]
    return papers, problems


def test_recognised_headers_fill_paper_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path / "papers.CSV",
        "Document Title,Summary,Author,Year,DOI,link,PDF Link,categories\n"
        "A title,An abstract,A. One; B. Two,2021,10.1/x,https://a,https://a.pdf,cs.LG\n",
    )
    [paper], problems = read_all(path)
    assert problems == []
    assert paper.title == "A title"
    assert paper.abstract == "An abstract"
    assert paper.authors == ["A. One", "B. Two"]
    assert paper.published == dt.date(2021, 1, 1)
    assert paper.id == "10.1/x"
    assert (paper.url, paper.pdf_url) == ("https://a", "https://a.pdf")
    assert paper.categories == ["cs.LG"]
    assert paper.extra_fields == {}


def test_pdf_link_is_the_url_when_there_is_no_other(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "title,abstract,PDF Link\nT,A,https://x.pdf\n")
    [paper], _ = read_all(path)
    assert (paper.url, paper.pdf_url) == ("https://x.pdf", None)


def test_tsv_and_headers_with_spaces(tmp_path: Path) -> None:
    path = write(tmp_path / "p.tsv", " Title \t ABSTRACT \tnote\nT\tA, with comma\tkeep me\n")
    [paper], _ = read_all(path)
    assert (paper.title, paper.abstract) == ("T", "A, with comma")
    assert paper.extra_fields == {"note": "keep me"}


def test_utf8_bom_is_not_part_of_the_first_header(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "title,abstract\nCafé,Naïve\n", encoding="utf-8-sig")
    [paper], problems = read_all(path)
    assert (paper.title, paper.abstract) == ("Café", "Naïve")
    assert problems == []


def test_embedded_newlines_keep_line_numbers_right(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        'title,abstract\r\nFirst,"line one\r\nline two\r\nline three"\r\n,no title here\r\n'
        'Third,"x\ny"\n',
    )
    papers, problems = read_all(path)
    assert papers[0].abstract == "line one\r\nline two\r\nline three"
    assert [p.title for p in papers] == ["First", "Third"]
    assert problems == [RowProblem(5, "missing title")]


def test_rows_without_title_or_abstract_are_reported_and_skipped(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        "title,abstract,published\n"
        "One,Abstract one,2020-01-02\n"
        "Two,   ,\n"
        ",,\n"
        "\n"
        "Four,Abstract four,2026-13-45\n"
        "Five,Abstract five,2024\n",
    )
    papers, problems = read_all(path)
    assert [p.title for p in papers] == ["One", "Five"]
    assert [(p.line, p.message) for p in problems[:1]] == [(3, "missing abstract")]
    assert problems[1].line == 6
    assert problems[1].message.startswith("published: invalid date '2026-13-45'")
    assert len(problems) == 2  # the all-empty row and the blank line are not records


def test_the_default_skips_bad_rows_silently(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "title,abstract\nT,\nT,A\n")
    assert [p.title for p in read_papers(path)] == ["T"]


def test_extra_columns_are_carried_through_under_their_own_names(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "title,abstract,label,Source,\nT,A,yes,IEEE,\n")
    [paper], _ = read_all(path)
    assert paper.extra_fields == {"label": "yes", "Source": "IEEE", "column 5": ""}


def test_column_overrides_win_over_recognised_names(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "title,abstract,Name,Text\nold,old abs,new,new abs\n")
    [paper], _ = read_all(path, columns={"title": "name", "abstract": "Text"})
    assert (paper.title, paper.abstract) == ("new", "new abs")
    # The recognised columns it displaced are still carried through, renamed.
    assert paper.extra_fields == {
        "title (column 1)": "old",
        "abstract (column 2)": "old abs",
    }


def test_an_override_naming_a_missing_header_lists_the_headers(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "Name,Text\nT,A\n")
    with pytest.raises(InputError, match=r"--column title=Nmae.*'Name', 'Text'"):
        list(read_papers(path, columns={"title": "Nmae"}))
    with pytest.raises(InputError, match="unknown field in --column: titel"):
        read_papers(path, columns={"titel": "Name"})


def test_a_file_without_title_or_abstract_column_fails_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "Name,abstract\nT,A\n")
    with pytest.raises(InputError, match=r"no title column.*'Name'.*--column title="):
        next(read_papers(path))


def test_an_explicit_utf8_encoding_rejects_a_latin1_row_with_the_place(tmp_path: Path) -> None:
    lines = ["title,abstract"] + [f"T{i},A{i}" for i in range(10)] + ["Café,Résumé", "Z,z"]
    path = write(tmp_path / "papers.csv", "\n".join(lines) + "\n", encoding="latin-1")
    papers, problems = read_all(path, encoding="utf-8")
    assert [p.title for p in papers] == [f"T{i}" for i in range(10)] + ["Z"]
    [problem] = problems
    assert (problem.line, problem.skipped) == (12, True)
    assert "not utf-8 text (byte 0xe9 at line 12)" in problem.message


def test_an_explicit_encoding_that_fails_on_the_header_stops_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "papers.csv", "títle,abstract\nT,A\n", encoding="latin-1")
    with pytest.raises(InputError, match=r"header: not utf-8 text \(byte 0xed") as e:
        list(read_papers(path, encoding="utf-8"))
    assert e.value.line == 1


def test_by_default_non_utf8_lines_are_read_as_windows_1252_with_a_notice(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "p.csv", "title,abstract\nT,A\nCafé,don\u2019t\n", encoding="cp1252")
    papers, problems = read_all(path)
    assert [(p.title, p.abstract) for p in papers] == [("T", "A"), ("Café", "don\u2019t")]
    [notice] = problems
    assert (notice.line, notice.skipped) == (3, False)
    assert "not UTF-8 text (byte 0xe9 at line 3)" in notice.message


def test_utf16_is_an_error_naming_the_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "title,abstract\nT,A\n", encoding="utf-16")
    with pytest.raises(InputError, match="UTF-16 text, not UTF-8"):
        list(read_papers(path))


def test_jsonl_with_aliases_blank_and_bad_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.jsonl",
        '{"Title": "One", "summary": "S1", "authors": ["A", "B"], "year": 2020, "x": 1}\n'
        "\n"
        "not json\n"
        "[1, 2]\n"
        '{"title": "Three"}\n'
        '{"paper_title": "Four", "abstract": "S4", "x": {"nested": true}}\n',
    )
    papers, problems = read_all(path)
    assert [p.title for p in papers] == ["One", "Four"]
    assert papers[0].authors == ["A", "B"]
    assert papers[0].published == dt.date(2020, 1, 1)
    assert papers[1].extra_fields == {"x": {"nested": True}}
    assert [p.line for p in problems] == [3, 4, 5]
    assert problems[0].message.startswith("not valid JSON")
    assert problems[1].message == "not a JSON object but list"
    assert problems[2].message == "missing abstract"


def test_jsonl_overrides_are_checked_against_the_first_record(tmp_path: Path) -> None:
    path = write(tmp_path / "p.ndjson", '{"name": "T", "text": "A"}\n')
    [paper], _ = read_all(path, columns={"title": "name", "abstract": "text"})
    assert (paper.title, paper.abstract) == ("T", "A")
    with pytest.raises(InputError, match=r"--column title=nope.*'name', 'text'"):
        list(read_papers(path, columns={"title": "nope"}))


def test_dash_reads_jsonl_from_stdin() -> None:
    stdin = io.StringIO('\ufeff{"title": "T", "abstract": "A"}\n{bad\n')
    problems: list[RowProblem] = []
    papers = list(read_papers("-", stdin=stdin, on_problem=problems.append))
    assert [p.title for p in papers] == ["T"]
    assert [p.line for p in problems] == [2]


def test_dash_decodes_stdin_bytes_like_a_file() -> None:
    stdin = io.TextIOWrapper(io.BytesIO('{"title": "Café", "abstract": "A"}\n'.encode("cp1252")))
    papers, problems = read_all("-", stdin=stdin)
    assert papers[0].title == "Café"
    assert problems[0].skipped is False


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("p.csv", ""),
        ("p.csv", "title,abstract\n"),
        ("p.csv", "\n\n"),
        ("p.jsonl", ""),
        ("p.jsonl", "\n \n"),
    ],
)
def test_empty_and_header_only_files_yield_nothing(tmp_path: Path, name: str, content: str) -> None:
    assert read_all(write(tmp_path / name, content)) == ([], [])


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"'\.pdf'.*\.csv, \.tsv, \.jsonl, \.ndjson, \.ris"):
        read_papers(write(tmp_path / "p.pdf", ""))
    with pytest.raises(InputError, match=r"nowhere\.csv: no such file"):
        read_papers(tmp_path / "nowhere.csv")


def test_long_fields_are_read(tmp_path: Path) -> None:
    abstract = "word " * 100_000  # above csv's default field size limit
    path = write(tmp_path / "p.csv", f'title,abstract\nT,"{abstract}"\n')
    [paper], _ = read_all(path)
    assert len(paper.abstract) == len(abstract.strip())


def test_the_kitchenham_sample_loads_without_options() -> None:
    papers, problems = read_all(SAMPLE)
    assert len(papers) == 60
    assert all(p.title and p.abstract for p in papers)
    assert {p.extra_fields["label"] for p in papers} <= {"yes", "no"}
    assert papers[0].extra_fields["label"] == "yes"
    assert papers[0].url == "http://ieeexplore.ieee.org/stamp/stamp.jsp?arnumber=4031306"
    assert papers[0].published == dt.date(2006, 1, 1)
    # Stray Windows-1252 bytes: read, and said once; no record is lost to them.
    assert [(p.line, p.skipped) for p in problems] == [(9, False)]
    assert any("don\u2019t" in p.abstract for p in papers)


@pytest.mark.skipif(not KITCHENHAM.exists(), reason="shared Kitchenham data not present")
def test_the_whole_kitchenham_file_streams() -> None:
    with KITCHENHAM.open(newline="", encoding="latin-1") as f:
        data_rows = sum(1 for _ in csv.reader(f)) - 1
    papers, problems = read_all(KITCHENHAM)
    skipped = [p for p in problems if p.skipped]
    assert data_rows == 1704
    assert len(papers) + len(skipped) == data_rows
    assert [(p.line, p.message) for p in skipped] == [
        (104, "missing abstract"),
        (161, "missing abstract"),
        (308, "missing abstract"),
        (2562, "missing abstract"),
    ]
    assert sum(p.extra_fields["label"] == "yes" for p in papers) == 45


def test_a_nul_byte_is_one_bad_row_not_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(
        b'{"title": "One", "abstract": "A"}\n'
        b'{"title": "T\x00wo", "abstract": "A"}\n'
        b'{"title": "Three", "abstract": "A"}\n'
    )
    papers, problems = read_all(path)
    assert [p.title for p in papers] == ["One", "Three"]
    assert [(p.line, p.skipped) for p in problems] == [(2, True)]
    assert "NUL byte" in problems[0].message


def test_nul_bytes_on_the_first_line_mean_the_file_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("title,abstract\nT,A\n".encode("utf-16-le"))  # UTF-16 without a BOM
    problems: list[RowProblem] = []
    with pytest.raises(InputError, match=r"NUL byte at line 1: UTF-16 or binary"):
        list(read_papers(path, on_problem=problems.append))
    assert problems == []  # no Windows-1252 notice before the error


def test_a_csv_record_over_several_lines_is_reported_where_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b'title,abstract\nT1,A1\nT2,"line one\nline \x00two"\nT3,A3\n')
    papers, problems = read_all(path)
    assert [p.title for p in papers] == ["T1", "T3"]
    [problem] = problems
    assert problem.line == 3 and problem.message.endswith("(line 4)")


def test_a_stray_carriage_return_is_one_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"title,abstract\nT1,A1\nT2,A\rB\nT3,A3\n")
    papers, problems = read_all(path)
    assert [p.title for p in papers] == ["T1", "T3"]
    assert [p.line for p in problems] == [3]


def test_a_line_over_the_limit_is_one_bad_row_and_never_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    huge = b'{"title": "Huge", "abstract": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n'
    path.write_bytes(
        b'{"title": "One", "abstract": "A"}\n' + huge + b'{"title": "Three", "abstract": "A"}\n'
    )
    papers, problems = read_all(path)
    assert [p.title for p in papers] == ["One", "Three"]
    assert [(p.line, p.message) for p in problems] == [(2, "line longer than 16 MiB")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"title": "T", "abstract": "A", "x": ' + "[" * 5000 + "]" * 5000 + "}",
            "nested too deep",
        ),
        ('{"title": "T", "abstract": "A", "x": ' + "[" * 40 + "]" * 40 + "}", "nested too deep"),
        ('{"title": "T", "abstract": "A", "n": 1' + "0" * 5000 + "}", "not valid JSON"),
        ('{"title": ["T"], "abstract": "A"}', "title: invalid value ['T']"),
        ('{"title": "T", "abstract": {"a": 1}}', "abstract: invalid value"),
        ('{"title": "T", "abstract": "A", "id": 2602.1}', "id: invalid value 2602.1"),
        ('{"title": "T", "abstract": "A", "published": false}', "published: invalid date False"),
        ('{"title": "T", "abstract": "A", "published": {"y": 2020}}', "published: invalid date"),
    ],
)
def test_hostile_json_records_are_one_bad_row_each(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path / "p.jsonl", '{"title": "Ok", "abstract": "A"}\n' + line + "\n")
    papers, problems = read_all(path)
    assert [p.title for p in papers] == ["Ok"]
    [problem] = problems
    assert problem.line == 2 and message in problem.message, problem.message


def test_lone_surrogates_are_read_as_replacement_characters_with_a_note(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.jsonl", '{"title": "Smile \\ud83d", "abstract": "A", "x": ["\\udc00"]}\n'
    )
    [paper], [note] = read_all(path)
    assert paper.title == "Smile \ufffd" and paper.extra_fields == {"x": ["\ufffd"]}
    assert (note.line, note.skipped) == (1, False)
    paper.model_dump_json()  # writable as UTF-8


def test_a_nul_byte_from_a_text_stream_is_one_bad_row() -> None:
    stdin = io.StringIO('{"title": "One", "abstract": "A"}\n{"title": "T\x00", "abstract": "A"}\n')
    papers, problems = read_all("-", stdin=stdin)
    assert [p.title for p in papers] == ["One"]
    assert [p.line for p in problems] == [2]
