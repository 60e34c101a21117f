"""Papers without scores (``scorer fetch``'s outputs) as RIS, BibTeX and Excel, read back whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scorer import Paper
from scorer.io import read_papers, save_papers

PAPERS = [
    Paper(
        id="2602.21548",
        title="DualPath: =1+1 {braces} and 50% of the KV cache",
        abstract="Line one.\nLine two, with & and $x$.",
        authors=["Wang, Song", "Simon and Schuster"],
        published=dt.date(2026, 2, 24),
        url="https://arxiv.org/abs/2602.21548",
        pdf_url="https://arxiv.org/pdf/2602.21548",
        categories=["cs.DC", "cs.LG"],
    ),
    Paper(
        id="10.1145/1234.5678",
        title="Müller's café",
        abstract="Ünïcödé abstract",
        # Two: one "Last, First" alone in a "; "-joined column (CSV, Excel) reads
        # back as two names, as it always has in CSV.
        authors=["Müller, Jörg", "Smith, John"],
        published=dt.date(2019, 1, 1),
    ),
]


@pytest.mark.parametrize("suffix", [".ris", ".bib", ".xlsx"])
def test_fetched_papers_written_as_reference_files_read_back_the_same(
    suffix: str, tmp_path: Path
) -> None:
    path = tmp_path / f"papers{suffix}"

    assert save_papers(PAPERS, path) == 2

    again = list(read_papers(path, on_problem=pytest.fail))
    assert [p.title for p in again] == [p.title for p in PAPERS]
    assert [p.authors for p in again] == [p.authors for p in PAPERS]
    assert [p.published for p in again] == [p.published for p in PAPERS]
    assert [p.categories for p in again] == [p.categories for p in PAPERS]
    assert again[1].id == "10.1145/1234.5678"  # a DOI is the paper's id in every format
    assert again[0].url == PAPERS[0].url
    assert " ".join(again[0].abstract.split()) == "Line one. Line two, with & and $x$."


def test_a_windows_1252_ris_export_is_read_with_one_notice(tmp_path: Path) -> None:
    path = tmp_path / "endnote.ris"
    text = "TY  - JOUR\r\nTI  - Café\r\nAB  - Naïve résumé\r\nER  - \r\n"
    path.write_bytes(text.encode("cp1252"))
    problems: list[str] = []

    [paper] = read_papers(path, on_problem=lambda p: problems.append(p.message))

    assert (paper.title, paper.abstract) == ("Café", "Naïve résumé")
    assert len(problems) == 1 and "reading such lines as Windows-1252" in problems[0]
