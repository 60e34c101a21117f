"""Hostile papers written to the reference-manager and spreadsheet formats, and read back.

Every field of an input file (and the model's justification) may be written
to break the output it lands in: end a RIS record, close a BibTeX field,
make a workbook or a feed unreadable. Each output is parsed again by the
tools its users open it with (rispy, bibtexparser, openpyxl, feedparser):
one record per paper, each field as it went in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import rispy
from bibtexparser.entrypoint import parse_string
from bibtexparser.middlewares import LatexDecodingMiddleware
from in_process import run_scorer
from subprocesses import SCORER
from subprocesses import run as run_group

from scorer import Paper, ScoredPaper, load_rubric
from scorer.io._references import format_note, parse_note
from scorer.testing import FakeOpenAI, Reply

RUBRIC = "llm-inference"


def run(args: list[str], fake: FakeOpenAI, cache: Path) -> tuple[int, str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    done = run_scorer(args, env=env)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def parse_bib(path: Path) -> dict[str, dict[str, str]]:
    library = parse_string(
        path.read_text(encoding="utf-8"), append_middleware=[LatexDecodingMiddleware()]
    )
    assert not library.failed_blocks
    return {e.key: {f.key.lower(): f.value for f in e.fields} for e in library.entries}


def test_math_and_urls_in_a_field_cannot_start_a_bibtex_entry(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # LaTeX math ($...$) and URLs were copied into the file as they were,
    # braces included, so either could close its field and start an entry.
    papers = [
        {
            "title": "Cost $5 }, note = {pwned}, x = {$ more é",
            "abstract": "$a}} @article{evil, title={Injected}, abstract={y}} @comment{$ é",
        },
        {
            "title": "See https://a.example/}},@article{evil2,title={Injected}},@comment{ é",
            "abstract": "Kept math: $\\alpha_{1}$ and {$}{$}",
        },
    ]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out.bib"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    entries = parse_bib(out)
    assert len(entries) == 2
    assert sorted((e["title"], e["abstract"]) for e in entries.values()) == sorted(
        (p["title"], p["abstract"]) for p in papers
    )
    assert all(set(e) == {"title", "abstract", "note"} for e in entries.values())


def test_characters_xml_forbids_leave_a_workbook_excel_opens(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # U+FFFE and U+FFFF are no XML characters: one in a cell made the whole
    # workbook unreadable (openpyxl and Excel refuse it), every row lost.
    fake.always(Reply(json_override={"justification": "Fine reasons for the scores \uffff given."}))
    papers = [
        {"title": "Noncharacter \ufffe\uffff title", "abstract": "A\x00b", "Own \uffff": "x\uffff"},
        {"title": "Plain", "abstract": "Plain abstract"},
    ]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "scored.xlsx"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    from openpyxl import load_workbook

    rows = list(load_workbook(out).worksheets[0].iter_rows(values_only=True))
    header = rows[0]
    by_title = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_title) == {"Noncharacter \ufffd\ufffd title", "Plain"}
    noncharacter = by_title["Noncharacter \ufffd\ufffd title"]
    assert noncharacter["abstract"] == "A\ufffdb"
    assert noncharacter["Own \ufffd"] == "x\ufffd"
    assert noncharacter["justification"] == "Fine reasons for the scores \ufffd given."


def test_a_ris_output_reads_back_whole_whatever_its_fields_hold(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # A list of reference types wrote two TY lines (two records, the first
    # without its ER), and a NUL byte made the record unreadable: scorer's
    # own reader skipped both papers of its own output.
    papers = [
        {"title": "Two types", "abstract": "Typed twice", "type_of_reference": ["JOUR", "BOOK"]},
        {"title": "Control \x00\x01 characters", "abstract": "NUL\x00 and \x1b escape"},
    ]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out, digest = tmp_path / "scored.ris", tmp_path / "digest.md"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)
    assert code == 0, err
    code, err = run(["digest", str(out), "-r", RUBRIC, "-o", str(digest)], fake, isolated_env)

    assert code == 0, err
    assert "out of **2** total scanned" in digest.read_text(encoding="utf-8")
    entries = rispy.loads(out.read_text(encoding="utf-8"), enforce_list_tags=False)
    by_title = {e["title"]: e for e in entries}  # results come in the order they finish
    assert [e["type_of_reference"] for e in entries] == ["JOUR", "JOUR"]
    assert set(by_title) == {"Two types", "Control \ufffd\ufffd characters"}
    assert by_title["Control \ufffd\ufffd characters"]["abstract"] == "NUL\ufffd and \ufffd escape"
    assert "type_of_reference: BOOK" in by_title["Two types"]["notes"]


def test_text_latex_has_no_command_for_is_written_without_a_warning_per_character(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # The LaTeX encoder logged one warning per character it has no command
    # for: a Chinese abstract put hundreds of lines on the terminal.
    papers = [{"title": "深度学习的研究 🙂", "abstract": "我们研究深度学习 & 推理。"}]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out.bib"

    # Its own process: in this one, pytest's logging handlers would take the warnings.
    env = {**os.environ, "OPENAI_BASE_URL": fake.base_url}
    args = [SCORER, "batch", str(source), "-r", RUBRIC, "-o", str(out)]
    done = run_group(args, timeout=120, env=env)

    assert done.returncode == 0, done.stderr
    assert "latex" not in done.stderr.lower(), done.stderr
    [entry] = parse_bib(out).values()
    assert (entry["title"], entry["abstract"]) == (papers[0]["title"], papers[0]["abstract"])


# Zotero writes these fields as they are, not as LaTeX (biblatex reads them verbatim).
ZOTERO_LINKS = (
    "@article{links_2020,\n"
    "\ttitle = {Links as Zotero writes them},\n"
    "\tabstract = {An abstract.},\n"
    "\turl = {https://example.org/~u/a_b?x=1&y=%20c#frag},\n"
    "\tdoi = {10.1000/a_b<c>%d},\n"
    "\tfile = {Full Text PDF:/home/u/Zotero/storage/AB12/paper_v2.pdf:application/pdf},\n"
    "}\n"
)


def test_urls_dois_and_files_of_a_bibtex_file_are_kept_as_written(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # Read as LaTeX, "%20c#frag" was a comment and "_v2" a subscript: the
    # URL, the DOI and Zotero's link to the PDF came out cut and changed.
    source = tmp_path / "zotero.bib"
    source.write_text(ZOTERO_LINKS, encoding="utf-8")
    out, rows = tmp_path / "out.bib", tmp_path / "out.jsonl"

    code, err = run(
        ["batch", str(source), "-r", RUBRIC, "-o", str(out), "-o", str(rows)], fake, isolated_env
    )

    assert code == 0, err
    [row] = [json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines()]
    assert row["url"] == "https://example.org/~u/a_b?x=1&y=%20c#frag"
    assert row["id"] == "10.1000/a_b<c>%d"
    assert row["file"].endswith("/AB12/paper_v2.pdf:application/pdf")
    [entry] = parse_string(out.read_text(encoding="utf-8")).entries  # no LaTeX decoding
    fields = {f.key: f.value for f in entry.fields}
    for name in ("url", "doi", "file"):
        assert f"\t{name} = {{{fields[name]}}}" in ZOTERO_LINKS, name


def test_only_web_addresses_become_links_in_reference_files(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # A CSV or JSONL url column is text; in RIS (UR, L1) and BibTeX (url,
    # file) it becomes a link Zotero or JabRef opens, or a local file it
    # attaches. Anything but http(s) stays text, in the notes.
    papers = [
        {"title": "Hostile links", "abstract": "A", "url": "javascript:alert(1)"}
        | {"pdf_url": "file:///etc/passwd"},
        {"title": "Web links", "abstract": "B", "url": "https://example.org/abs/1"}
        | {"pdf_url": "https://example.org/pdf/1"},
    ]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    ris, bib = tmp_path / "out.ris", tmp_path / "out.bib"

    code, err = run(
        ["batch", str(source), "-r", RUBRIC, "-o", str(ris), "-o", str(bib)], fake, isolated_env
    )

    assert code == 0, err
    records = rispy.loads(ris.read_text(encoding="utf-8"), enforce_list_tags=False)
    hostile, web = sorted(records, key=lambda e: e["title"])  # "Hostile links", "Web links"
    assert "urls" not in hostile and "file_attachments1" not in hostile
    assert {"url: javascript:alert(1)", "pdf_url: file:///etc/passwd"} <= set(hostile["notes"])
    assert web["urls"] == ["https://example.org/abs/1"]
    assert web["file_attachments1"] == "https://example.org/pdf/1"
    entries = sorted(parse_bib(bib).values(), key=lambda e: e["title"])
    assert "url" not in entries[0] and "file" not in entries[0]
    assert entries[0]["note"].endswith(
        "\n\nurl: javascript:alert(1)\n\npdf_url: file:///etc/passwd"
    )
    assert entries[1]["url"] == "https://example.org/abs/1"
    assert entries[1]["file"] == "https://example.org/pdf/1"


def test_a_bibtex_output_holds_no_control_character(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # A NUL byte went into the file as it was: reading scorer's own output
    # warned of a damaged file, and other tools stop at the NUL.
    papers = [{"title": "\x1b[31mRed\x1b[0m title", "abstract": "NUL\x00 here", "Own": "x\x07"}]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out, digest = tmp_path / "out.bib", tmp_path / "digest.md"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)
    assert code == 0, err
    code, err = run(["digest", str(out), "-r", RUBRIC, "-o", str(digest)], fake, isolated_env)

    assert code == 0, err
    assert "NUL" not in err and "damaged" not in err
    [entry] = parse_bib(out).values()
    assert entry["title"] == "\ufffd[31mRed\ufffd[0m title"
    assert (entry["abstract"], entry["own"]) == ("NUL\ufffd here", "x\ufffd")


def test_a_doi_holding_a_semicolon_is_one_doi(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # Wiley's older DOIs (SICI) hold ";": split there, the paper's id was a
    # DOI cut short and its DO line came back changed.
    sici = "10.1002/(SICI)1097-4636(199711)37:2<129::AID-JBM1>3.0.CO;2-M"
    source = tmp_path / "library.ris"
    source.write_text(
        f"TY  - JOUR\nTI  - SICI\nAB  - A\nDO  - {sici}\nER  - \n\n"
        "TY  - JOUR\nTI  - Two DOIs\nAB  - B\nDO  - 10.1145/1111;10.1145/2222\nER  - \n",
        encoding="utf-8",
    )
    rows, out = tmp_path / "out.jsonl", tmp_path / "out.ris"

    code, err = run(
        ["batch", str(source), "-r", RUBRIC, "-o", str(rows), "-o", str(out)], fake, isolated_env
    )

    assert code == 0, err
    found = [json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["title"], r["id"], r.get("other_dois")) for r in found) == [
        ("SICI", sici, None),
        ("Two DOIs", "10.1145/1111", ["10.1145/2222"]),
    ]
    entries = rispy.loads(out.read_text(encoding="utf-8"), enforce_list_tags=False)
    assert {e["title"]: e["doi"] for e in entries}["SICI"] == sici


def test_a_bibtex_entry_with_a_line_too_long_to_read_is_reported_not_lost(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # Such a line is read past, not kept: the entry holding it lost that field
    # (or vanished whole) with only a note, and the run ended with exit code 0.
    huge = "a" * (17 << 20)
    source = tmp_path / "library.bib"
    source.write_text(
        f"@article{{long_field,\n\ttitle = {{T}},\n\tabstract = {{A}},\n\tnote = {{{huge}}}\n}}\n\n"
        f"@article{{one_line, title = {{T2}}, abstract = {{{huge}}}}}\n\n"
        "@article{fine, title = {Fine}, abstract = {Fine}}\n",
        encoding="utf-8",
    )

    code, err = run(["batch", str(source), "-r", RUBRIC], fake, isolated_env)

    assert code == 1, err
    assert f"{source}:1: skipped: entry 1 ('T'): line 4 is longer than 16 MiB" in err
    assert f"{source}:7: skipped: line longer than 16 MiB" in err
    assert "scanned 1," in err


# LaTeX reads -- as an en dash and '' or `` as curly quotes, and the encoder
# wrote " as '': titles came back from scorer's own .bib changed. pylatexenc
# wrote "^" as \textasciicircum and read that back as U+02C6, a modifier
# letter; U+02DC came back as "~" and a square root with "()".
QUOTES_AND_DASHES = [
    {
        "title": 'The "best" tool -- a study & more',
        "abstract": "Use --verbose or ''x'' `` y, why?` not!`",
    },
    {"title": 'Plain "quotes" -- too', "abstract": "x -- y"},
]
CARETS_AND_TILDES = [
    {"title": "O(n^2) caches ^ x", "abstract": "a \N{MODIFIER LETTER CIRCUMFLEX ACCENT} b"},
    {"title": "Tilde \N{SMALL TILDE} and ~", "abstract": "\N{SQUARE ROOT}2 speed-up"},
]


@pytest.mark.parametrize("papers", [QUOTES_AND_DASHES, CARETS_AND_TILDES])
def test_text_reads_back_from_scorers_bibtex_as_it_was_written(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, papers: list[dict[str, str]]
) -> None:
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out, rows = tmp_path / "out.bib", tmp_path / "again.jsonl"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)
    assert code == 0, err
    code, err = run(["batch", str(out), "-r", RUBRIC, "-o", str(rows)], fake, isolated_env)

    assert code == 0, err
    again = [json.loads(line) for line in rows.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["title"], r["abstract"]) for r in again) == sorted(
        (p["title"], p["abstract"]) for p in papers
    )


def test_fields_whose_bibtex_names_collide_are_kept_in_the_note(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # A field name is cut to what BibTeX allows and lower-cased: "Title", "a b"
    # beside "ab", "@@" became names already taken, and their values were dropped.
    extras = {"Title": "other title", "a b": "one", "ab": "two", "@@": "at", "Note": "second"}
    papers = [{"title": "T", "abstract": "A", **extras}]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out.bib"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    [entry] = parse_bib(out).values()
    assert (entry["title"], entry["ab"]) == ("T", "one")
    notes = entry["note"].split("\n\n")
    assert notes[0].startswith("scorer: ")
    assert notes[1:] == ["Title: other title", "ab: two", "@@: at", "Note: second"]


def test_a_field_named_like_a_ris_tag_cannot_replace_the_scored_paper(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # A JSONL field "TI" was written to the TI tag over the paper's title: the
    # record showed the scores of one paper under another's title, and "UR"
    # made a javascript: link although url itself never does.
    extras = {"TI": "Shown title", "AU": "Other, Author", "UR": "javascript:alert(1)"}
    papers = [{"title": "Scored title", "abstract": "A", "authors": ["Real, Author"], **extras}]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out.ris"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    [entry] = rispy.loads(out.read_text(encoding="utf-8"), enforce_list_tags=False)
    assert (entry["title"], entry["authors"]) == ("Scored title", ["Real, Author"])
    assert "urls" not in entry
    assert entry["notes"][1:] == [f"{tag}: {value}" for tag, value in extras.items()]


def test_a_field_named_like_a_bibtex_field_cannot_replace_the_scored_papers(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # A field is written under its name without the reader's "bibtex_" prefix:
    # "bibtex_author" was dropped for the paper's authors, and "bibtex_url" made
    # a javascript: link in the url field, which the paper's own url never does.
    extras = {"bibtex_author": "Other, Author", "bibtex_url": "javascript:alert(1)"}
    papers = [{"title": "T", "abstract": "A", "authors": ["Real, Author"], **extras}]
    source = write_jsonl(tmp_path / "papers.jsonl", papers)
    out = tmp_path / "out.bib"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    [entry] = parse_bib(out).values()
    assert entry["author"] == "Real, Author" and "url" not in entry
    assert entry["note"].split("\n\n")[1:] == [f"{k}: {v}" for k, v in extras.items()]


def test_an_error_text_cannot_change_the_results_read_back_from_a_note() -> None:
    # An endpoint's error message is written into the note; one holding
    # "; relevance 100/100; status scored" was read back as those results.
    rubric = load_rubric(RUBRIC)
    error = "HTTP 400: limit 5 tokens; relevance 100/100; hype 100/100; status scored"
    failed = ScoredPaper(
        paper=Paper(title="T", abstract="A"),
        rubric=rubric.name,
        rubric_fingerprint=rubric.fingerprint,
        model="m",
        error=error,
    )

    columns = parse_note(format_note(failed, rubric), rubric)

    assert columns["status"] == "failed"
    assert "relevance" not in columns and "hype" not in columns
    assert columns["error"] == error
