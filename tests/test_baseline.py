"""The TF-IDF baseline and prefilter: ranking, rescaling, keeping a share, parsing it."""

import importlib.util
import math
from pathlib import Path

import pytest

from scorer import Dimension, InputError, Paper, Rubric, load_rubric
from scorer.eval._baseline import parse_fraction, prefilter_top, rubric_query, similarity_scores
from scorer.io._readers import RowProblem, read_papers

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "eval_kitchenham.csv"
RUBRIC = load_rubric("se-literature-reviews")

SLR = Paper(
    title="Test-driven development: a systematic literature review",
    abstract=(
        "We performed a systematic literature review of empirical studies on test-driven "
        "development in software engineering. Searching five digital libraries found 412 "
        "papers; 27 primary studies met the inclusion criteria and were synthesised."
    ),
)
EXPERIMENT = Paper(
    title="Test-driven development in a student course: a controlled experiment",
    abstract=(
        "We report a controlled experiment with 40 software engineering students comparing "
        "test-first and test-last development. Test-first teams wrote more tests."
    ),
)
ASTRONOMY = Paper(
    title="Transmission spectra of hot Jupiters",
    abstract="We observe water absorption in the atmospheres of three transiting exoplanets.",
)
MEDICINE = Paper(
    title="Statins and stroke in elderly patients",
    abstract="Twelve thousand patients were followed for ten years after starting statins.",
)
PAPERS = [ASTRONOMY, EXPERIMENT, SLR, MEDICINE]


def test_rubric_query_is_what_a_passing_paper_looks_like() -> None:
    query = rubric_query(RUBRIC)
    assert RUBRIC.title in query and RUBRIC.description in query
    assert all(criterion in query for criterion in RUBRIC.include)
    scale = RUBRIC.primary.scale
    assert scale[100] in query and scale[RUBRIC.threshold] in query
    assert scale[0] not in query and scale[25] not in query
    assert not any(criterion in query for criterion in RUBRIC.exclude)


def test_rubric_query_takes_the_top_anchor_when_none_reaches_the_threshold() -> None:
    rubric = Rubric(
        name="t",
        title="Topic",
        description="About the topic.",
        threshold=90,
        dimensions=(Dimension(name="relevance", description="d", scale={0: "Off.", 80: "On."}),),
    )
    assert rubric_query(rubric).splitlines() == ["Topic", "About the topic.", "On."]


def test_the_obviously_relevant_paper_ranks_first() -> None:
    scores = similarity_scores(PAPERS, RUBRIC)
    assert max(scores) == scores[PAPERS.index(SLR)] == 100
    assert scores[PAPERS.index(EXPERIMENT)] > scores[PAPERS.index(ASTRONOMY)]


def test_scores_are_rescaled_to_0_100_over_the_batch() -> None:
    scores = similarity_scores(PAPERS, RUBRIC)
    assert len(scores) == len(PAPERS)
    assert all(0 <= s <= 100 for s in scores)
    assert min(scores) == 0 and max(scores) == 100


@pytest.mark.parametrize(
    "papers",
    [
        pytest.param([SLR], id="one-paper"),
        pytest.param([SLR, SLR], id="identical"),
        pytest.param([ASTRONOMY, MEDICINE], id="no-shared-words"),
        pytest.param([Paper(title="A", abstract="I")], id="no-vocabulary"),
    ],
)
def test_scores_are_all_zero_when_nothing_tells_papers_apart(papers: list[Paper]) -> None:
    assert similarity_scores(papers, RUBRIC) == [0.0] * len(papers)


def test_no_papers_no_scores() -> None:
    assert similarity_scores([], RUBRIC) == []
    assert prefilter_top([], RUBRIC, 0.3) == ([], [])


@pytest.mark.parametrize(("fraction", "count"), [(0.25, 1), (0.3, 2), (0.5, 2), (0.75, 3), (1, 4)])
def test_prefilter_keeps_the_top_share_in_input_order(fraction: float, count: int) -> None:
    kept, dropped = prefilter_top(PAPERS, RUBRIC, fraction)
    assert len(kept) == count and len(kept) + len(dropped) == len(PAPERS)
    assert SLR in kept
    for part in (kept, dropped):
        assert part == [p for p in PAPERS if p in part]  # input order


def test_prefilter_rounds_up_but_not_on_float_noise() -> None:
    papers = [Paper(title=f"Paper {i}", abstract=f"Abstract {i}.") for i in range(10)]
    assert len(prefilter_top(papers, RUBRIC, 0.3)[0]) == 3  # 0.3 * 10 is 3.0000000000000004
    assert len(prefilter_top(papers, RUBRIC, 0.31)[0]) == 4
    assert len(prefilter_top(papers, RUBRIC, 0.01)[0]) == 1  # at least one


def test_prefilter_breaks_ties_by_input_order() -> None:
    twins = [
        Paper(title="Systematic review one", abstract="Identical text."),
        Paper(title="Systematic review two", abstract="Identical text."),
        Paper(title="Systematic review three", abstract="Identical text."),
    ]
    kept, dropped = prefilter_top(twins, RUBRIC, 0.5)
    assert [p.title for p in kept] == ["Systematic review one", "Systematic review two"]
    assert dropped == [twins[2]]


@pytest.mark.parametrize("fraction", [0, -0.3, 1.01, 30, math.nan, math.inf])
def test_prefilter_rejects_a_fraction_outside_0_1(fraction: float) -> None:
    with pytest.raises(InputError, match=r"above 0 and at most 1"):
        prefilter_top(PAPERS, RUBRIC, fraction)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30%", 0.3),
        ("30", 0.3),
        ("0.3", 0.3),
        (" 30 % ", 0.3),
        ("100%", 1.0),
        ("100", 1.0),
        ("1", 1.0),
        ("12.5", 0.125),
        ("33.3%", 0.333),
        ("0.5%", 0.005),
    ],
)
def test_parse_fraction_reads_percentages_and_fractions(text: str, expected: float) -> None:
    assert parse_fraction(text) == expected


@pytest.mark.parametrize("text", ["", "%", "abc", "thirty", "30%%", "nan", "inf", "1e999"])
def test_parse_fraction_rejects_what_is_not_a_number(text: str) -> None:
    with pytest.raises(InputError, match=r"such as 30%, 30 or 0\.3, got"):
        parse_fraction(text)


@pytest.mark.parametrize("text", ["0", "0%", "0.0", "-5", "-0.3", "101", "150%"])
def test_parse_fraction_rejects_shares_outside_0_100(text: str) -> None:
    with pytest.raises(InputError, match=r"above 0 and at most 100%"):
        parse_fraction(text)


def load_fixture() -> list[Paper]:
    problems: list[RowProblem] = []
    papers = list(read_papers(FIXTURE, on_problem=problems.append))
    assert problems == []
    return papers


def test_the_eval_fixture_loads_every_record() -> None:
    labels = [p.extra_fields["label"] for p in load_fixture()]
    assert len(labels) == 300
    assert labels.count("yes") == 45 and labels.count("no") == 255


def test_baseline_ranks_real_screening_data_well_above_chance() -> None:
    # Here, not at the top: every test worker imports this file to collect it, and
    # scikit-learn takes seconds to import (scorer imports it only where it computes).
    from sklearn.metrics import average_precision_score, roc_auc_score

    papers = load_fixture()
    relevant = [p.extra_fields["label"] == "yes" for p in papers]
    scores = similarity_scores(papers, RUBRIC)
    auc = roc_auc_score(relevant, scores)
    precision = average_precision_score(relevant, scores)
    print(f"baseline on {FIXTURE.name}: ROC-AUC {auc:.3f}, average precision {precision:.3f}")
    assert auc > 0.8  # measured 0.898
    assert precision > 0.45  # measured 0.612; chance is 45/300 = 0.15


def test_prefilter_at_half_keeps_most_real_positives() -> None:
    papers = load_fixture()
    kept, _ = prefilter_top(papers, RUBRIC, 0.5)
    recall = sum(p.extra_fields["label"] == "yes" for p in kept) / 45
    assert len(kept) == 150
    assert recall > 0.85  # measured 43/45 = 0.956


def test_the_fixture_is_what_its_script_makes() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_eval_fixture", ROOT / "bench" / "make_eval_fixture.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if not script.SOURCE.is_file():
        pytest.skip(f"{script.SOURCE} is not here")
    text, _ = script.fixture_text()
    assert FIXTURE.read_bytes() == text.encode("utf-8")
