"""The Markdown digest against the real seed digest, and its rules one by one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from scorer import Paper, ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer._settings import EMBEDDED_MODEL
from scorer.digest._markdown import Digest, render_markdown

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED = (FIXTURES / "seed_digest.md").read_text(encoding="utf-8")
SEED_ROWS = [
    json.loads(line)
    for line in (FIXTURES / "seed_digest_scored.jsonl").read_text(encoding="utf-8").splitlines()
]
SEED_UNIQUE_PAPERS = 31
TIMES = " \N{MULTIPLICATION SIGN} "


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


# The embedded demo model, the best papers below the threshold, and failures.


def demo(scored: ScoredPaper) -> ScoredPaper:
    return scored.model_copy(update={"model": EMBEDDED_MODEL})


def header(markdown: str) -> list[str]:
    return markdown.split("\n---\n")[0].splitlines()


def test_demo_model_is_named_in_the_header(rubric: Rubric) -> None:
    out = render_markdown(Digest.of([demo(result(rubric, relevance=90))], rubric))
    assert header(out)[4:7] == [
        "*Scored offline by the embedded demo model (SmolLM2-135M): scores show the "
        "pipeline working, not expert judgement.*",
        "",
        "**1** paper above threshold (70/100) out of **1** total scanned.",
    ]


def test_other_models_get_no_demo_note(rubric: Rubric) -> None:
    local_gguf = result(rubric).model_copy(update={"model": "/models/qwen2.5-7b-q4.gguf"})
    out = render_markdown(Digest.of([local_gguf, result(rubric, "b", id="2")], rubric))
    assert "demo model" not in out


def test_demo_model_lists_the_top_10_when_none_pass(rubric: Rubric) -> None:
    results = [
        demo(result(rubric, f"p{score}", relevance=score, id=str(score))) for score in range(12)
    ]
    out = render_markdown(Digest.of(results, rubric))
    assert "**0** papers above threshold (70/100) out of **12** total scanned." in out
    assert "## Top 10 by score (none reached the threshold of 70)" in out.splitlines()
    assert titles(out) == [f"p{score}" for score in range(11, 1, -1)]
    marked = [line for line in out.splitlines() if line.startswith("**Relevance")]
    assert marked[0] == "**Relevance: 11/100 | Hype: 50/100** (below threshold) — Why."
    assert len(marked) == 10 and all("(below threshold)" in line for line in marked)
    assert out.endswith("> An abstract.\n\n---\n")


def test_demo_model_fills_up_to_top_n_after_the_papers_that_pass(rubric: Rubric) -> None:
    results = [
        demo(result(rubric, "below 40", relevance=40, id="1")),
        demo(result(rubric, "pass 80", relevance=80, id="2")),
        demo(result(rubric, "below 60", relevance=60, id="3")),
        demo(result(rubric, "below 50", relevance=50, id="4")),
        demo(result(rubric, "below 50 later", relevance=50, id="5")),
    ]
    out = render_markdown(Digest.of(results, rubric, top_n=3))
    assert titles(out) == ["pass 80", "below 60", "below 50"]
    lines = out.splitlines()
    heading = lines.index("## Below the threshold of 70: the next 2 by score")
    assert lines.index("### pass 80") < heading < lines.index("### below 60")
    assert "**Relevance: 80/100 | Hype: 50/100** — Why." in lines  # passing: not marked


def test_top_n_lists_a_duplicate_below_the_threshold_once(rubric: Rubric) -> None:
    results = [
        demo(result(rubric, "first", relevance=30, id="2602.21548v1")),
        demo(result(rubric, "again", relevance=60, id="arXiv:2602.21548v2")),
        demo(result(rubric, "other", relevance=20, id="2602.00002")),
    ]
    out = render_markdown(Digest.of(results, rubric))
    assert titles(out) == ["first", "other"]
    assert "## Top 2 by score (none reached the threshold of 70)" in out


def test_top_n_is_off_for_other_models_unless_asked(rubric: Rubric) -> None:
    results = [result(rubric, "a", relevance=50, id="1"), result(rubric, "b", relevance=60, id="2")]
    assert titles(render_markdown(Digest.of(results, rubric))) == []
    assert titles(render_markdown(Digest.of(results, rubric, top_n=1))) == ["b"]
    demo_results = [demo(r) for r in results]
    assert titles(render_markdown(Digest.of(demo_results, rubric, top_n=0))) == []
    with pytest.raises(ValueError, match="top_n"):
        Digest(rubric, top_n=-1)


def test_failures_are_counted_with_their_reasons_in_one_line(rubric: Rubric) -> None:
    results = [
        result(rubric, "ok", relevance=90),
        result(rubric, "t1", error="gave up after 6 attempt(s): request timed out", id="1"),
        result(rubric, "t2", error="gave up after 3 attempt(s): request timed out", id="2"),
        result(rubric, "t1", error="gave up after 6 attempt(s): request timed out", id="1"),
        result(
            rubric,
            "bad",
            error="the model's answer failed validation after 2 attempt(s): relevance: "
            "Input should be less than or equal to 100",
            id="3",
        ),
        result(rubric, "recovered", error="gave up after 4 attempt(s): HTTP 503: busy", id="4"),
        result(rubric, "recovered", relevance=10, id="4"),
    ]
    out = render_markdown(Digest.of(results, rubric))
    assert header(out)[4:] == [
        "**1** paper above threshold (70/100) out of **5** total scanned.",
        "",
        f"3 papers could not be scored (2{TIMES}request timed out, "
        f"1{TIMES}the model's answer failed validation).",
    ]
    assert titles(out) == ["ok"]


def test_one_failure_and_many_reasons(rubric: Rubric) -> None:
    one = [result(rubric, "x", error="gave up after 4 attempt(s): HTTP 500: boom", id="1")]
    assert f"1 paper could not be scored (1{TIMES}HTTP 500)." in render_markdown(
        Digest.of(one, rubric)
    )
    many = [result(rubric, f"p{i}", error=f"reason {i}: detail", id=str(i)) for i in range(6)]
    assert (
        f"6 papers could not be scored (1{TIMES}reason 0, 1{TIMES}reason 1, 1{TIMES}reason 2, "
        f"1{TIMES}reason 3, 2{TIMES}other)."
    ) in render_markdown(Digest.of(many, rubric))


def test_failure_reasons_are_escaped(rubric: Rubric) -> None:
    evil = [result(rubric, "x", error="<img src=x onerror=alert`1`>*", id="1")]
    out = render_markdown(Digest.of(evil, rubric))
    assert f"1 paper could not be scored (1{TIMES}\\<img src=x onerror=alert\\`1\\`>\\*)." in out
