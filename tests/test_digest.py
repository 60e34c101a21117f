"""The Markdown digest against the real seed digest, and its rules one by one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from scorer import Paper, ScoredPaper
from scorer.digest import Digest, render_markdown
from scorer.rubric import Rubric, load_rubric

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED = (FIXTURES / "seed_digest.md").read_text(encoding="utf-8")
SEED_ROWS = [
    json.loads(line)
    for line in (FIXTURES / "seed_digest_scored.jsonl").read_text(encoding="utf-8").splitlines()
]
SEED_UNIQUE_PAPERS = 31


@pytest.fixture(scope="module")
def rubric() -> Rubric:
    return load_rubric("llm-inference")


def scored_from_row(row: dict[str, Any], rubric: Rubric) -> ScoredPaper:
    """A scored row (``relevance``, ``hype``, ``justification`` + paper fields) as a result."""
    fields = dict(row)
    scores = {d.name: fields.pop(d.name) for d in rubric.dimensions}
    justification = fields.pop("justification")
    return ScoredPaper(
        paper=Paper.model_validate(fields),
        rubric=rubric.name,
        rubric_fingerprint=rubric.fingerprint,
        model="seed-digest",
        scores=scores,
        justification=justification,
        passed=scores[rubric.primary.name] >= rubric.threshold,
    )


def result(
    rubric: Rubric,
    title: str = "A paper",
    *,
    relevance: int = 80,
    hype: int = 50,
    published: str | None = "2026-02-24",
    authors: list[str] | None = None,
    abstract: str = "An abstract.",
    justification: str = "Why.",
    error: str | None = None,
    id: str | None = None,
) -> ScoredPaper:
    row = {
        "id": id,
        "title": title,
        "abstract": abstract,
        "authors": authors if authors is not None else ["A. Author"],
        "published": published,
        "url": "https://arxiv.org/abs/x",
        "pdf_url": "https://arxiv.org/pdf/x",
        "relevance": relevance,
        "hype": hype,
        "justification": justification,
    }
    scored = scored_from_row(row, rubric)
    if error is not None:
        scored = scored.model_copy(update={"scores": {}, "justification": "", "error": error})
    return scored


def blocks(markdown: str) -> list[str]:
    """The paper blocks of a digest: what lies between its ``---`` separators."""
    return markdown.split("\n---\n")[1:-1]


def titles(markdown: str) -> list[str]:
    return [line[4:] for line in markdown.splitlines() if line.startswith("### ")]


# The golden test: the seed digest, byte for byte, without its duplicates.


def test_every_seed_block_comes_out_once(rubric: Rubric) -> None:
    out = render_markdown(Digest.of((scored_from_row(r, rubric) for r in SEED_ROWS), rubric))
    rendered = blocks(out)
    assert len(rendered) == SEED_UNIQUE_PAPERS
    seed_blocks = blocks(SEED)
    assert len(seed_blocks) == SEED_UNIQUE_PAPERS + 7  # the seed's bug
    for block in seed_blocks:
        assert rendered.count(block) == 1, block.splitlines()[1]


def test_header_counts_unique_papers(rubric: Rubric) -> None:
    out = render_markdown(Digest.of((scored_from_row(r, rubric) for r in SEED_ROWS), rubric))
    scanned = len({r["id"].split("v")[0] for r in SEED_ROWS})
    assert scanned == len(SEED_ROWS) - 7
    lines = out.splitlines()
    assert lines[:4] == SEED.splitlines()[:4]
    assert lines[4] == (
        f"**{SEED_UNIQUE_PAPERS}** papers above threshold (70/100) "
        f"out of **{scanned}** total scanned."
    )


def test_output_is_the_seed_without_duplicates(rubric: Rubric) -> None:
    header, *seed_blocks, tail = SEED.split("\n---\n")
    unique_blocks = list(dict.fromkeys(seed_blocks))
    scanned = len(SEED_ROWS) - 7
    header = header.replace("**38**", f"**{len(unique_blocks)}**").replace(
        "**654**", f"**{scanned}**"
    )
    expected = "\n---\n".join([header, *unique_blocks, tail])

    out = render_markdown(Digest.of((scored_from_row(r, rubric) for r in SEED_ROWS), rubric))

    assert out == expected
    assert out.endswith("...\n\n---\n")


# The rules one by one.


def test_sorted_by_first_dimension_then_second_then_date(rubric: Rubric) -> None:
    results = [
        result(rubric, "low", relevance=71, hype=99),
        result(rubric, "hype 50 old", relevance=90, hype=50, published="2026-01-01"),
        result(rubric, "hype 60", relevance=90, hype=60),
        result(rubric, "hype 50 new", relevance=90, hype=50, published="2026-02-01"),
        result(rubric, "tie first", relevance=90, hype=50, published="2026-01-01"),
        result(rubric, "top", relevance=99, hype=0),
    ]
    out = render_markdown(Digest.of(results, rubric))
    assert titles(out) == ["top", "hype 60", "hype 50 new", "hype 50 old", "tie first", "low"]


def test_threshold_counts_equal_scores_as_above(rubric: Rubric) -> None:
    results = [result(rubric, "at", relevance=70), result(rubric, "under", relevance=69)]
    out = render_markdown(Digest.of(results, rubric))
    assert titles(out) == ["at"]
    assert "**1** paper above threshold (70/100) out of **2** total scanned." in out


def test_threshold_override(rubric: Rubric) -> None:
    results = [result(rubric, "a", relevance=95), result(rubric, "b", relevance=85)]
    out = render_markdown(Digest.of(results, rubric, threshold=90))
    assert titles(out) == ["a"]
    assert "**1** paper above threshold (90/100) out of **2** total scanned." in out


@pytest.mark.parametrize(
    ("authors", "line"),
    [
        (["A", "B"], "*Authors: A, B*"),
        (["A", "B", "C"], "*Authors: A, B, C*"),
        (["A", "B", "C", "D"], "*Authors: A, B, C et al.*"),
    ],
)
def test_first_three_authors_and_et_al(rubric: Rubric, authors: list[str], line: str) -> None:
    out = render_markdown(Digest.of([result(rubric, authors=authors)], rubric))
    assert line in out.splitlines()


def test_no_authors_no_author_line(rubric: Rubric) -> None:
    out = render_markdown(Digest.of([result(rubric, authors=[])], rubric))
    assert "*Authors:" not in out


def test_abstract_cut_at_200_characters(rubric: Rubric) -> None:
    long = render_markdown(Digest.of([result(rubric, abstract="x" * 201)], rubric))
    assert f"> {'x' * 200}..." in long.splitlines()
    whole = render_markdown(Digest.of([result(rubric, abstract="y" * 200)], rubric))
    assert f"> {'y' * 200}" in whole.splitlines()  # complete: no "..."


def test_failed_results_counted_not_listed(rubric: Rubric) -> None:
    results = [
        result(rubric, "ok", relevance=90),
        result(rubric, "failed", error="BackendError: 500", id="2602.00001"),
    ]
    out = render_markdown(Digest.of(results, rubric))
    assert titles(out) == ["ok"]
    assert "**1** paper above threshold (70/100) out of **2** total scanned." in out


def test_duplicates_first_seen_wins(rubric: Rubric) -> None:
    results = [
        result(rubric, "first", relevance=80, id="2602.21548v1"),
        result(rubric, "second", relevance=99, id="arXiv:2602.21548v2"),
    ]
    out = render_markdown(Digest.of(results, rubric))
    assert titles(out) == ["first"]
    assert "out of **1** total scanned." in out


def test_success_replaces_an_earlier_failure(rubric: Rubric) -> None:
    results = [
        result(rubric, "failed", error="timeout", id="2602.21548"),
        result(rubric, "retried", relevance=80, id="2602.21548v1"),
    ]
    out = render_markdown(Digest.of(results, rubric))
    assert titles(out) == ["retried"]
    assert "out of **1** total scanned." in out


def test_empty_input(rubric: Rubric) -> None:
    out = render_markdown(Digest.of([], rubric))
    assert out == "\n".join(
        [
            f"# {rubric.title}",
            "",
            f"Automatically discovered papers scored for relevance to: {rubric.description}",
            "",
            "**0** papers above threshold (70/100) out of **0** total scanned.",
            "",
        ]
    )
    assert "---" not in out


def test_newlines_inside_fields_collapse(rubric: Rubric) -> None:
    scored = result(
        rubric,
        "A title\n\n### Injected heading",
        abstract="Line one.\n\n> quoted\tline " + "z" * 300,
        justification="Because\n---\nreasons.",
        authors=["A\nB"],
    )
    out = render_markdown(Digest.of([scored], rubric))
    lines = out.splitlines()
    assert "### A title \\### Injected heading" in lines  # escaped: text, not a heading
    assert "**Relevance: 80/100 | Hype: 50/100** — Because --- reasons." in lines
    assert "*Authors: A B*" in lines
    assert any(line.startswith("> Line one. > quoted line zzz") for line in lines)
    assert len(blocks(out)) == 1


def test_missing_date_omits_the_line(rubric: Rubric) -> None:
    out = render_markdown(Digest.of([result(rubric, published=None)], rubric))
    assert "*Published:" not in out
    assert dt.date.min.isoformat() not in out
