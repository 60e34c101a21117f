"""scorer.eval._metrics: agreement metrics checked against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from scorer._errors import InputError
from scorer._models import Usage
from scorer._settings import EMBEDDED_MODEL
from scorer.eval._metrics import EvalReport, LabelledScore, evaluate, parse_label
from scorer.eval._prices import estimate_cost, parse_price, price_usage
from scorer.eval._text import format_score, format_table


def points(*pairs: tuple[float, float]) -> list[LabelledScore]:
    return [LabelledScore(score, label) for score, label in pairs]


# Ranking quality.


def test_perfect_ranking_has_auc_and_average_precision_one() -> None:
    report = evaluate(points((90, 1), (80, 1), (30, 0), (20, 0)), threshold=50)
    assert report.auc == 1.0
    assert report.average_precision == 1.0


def test_reversed_ranking_has_auc_zero() -> None:
    report = evaluate(points((90, 0), (80, 0), (30, 1), (20, 1)), threshold=50)
    assert report.auc == 0.0
    # relevant at ranks 3 and 4: (1/3 + 2/4) / 2
    assert report.average_precision == pytest.approx(5 / 12)


def test_tied_scores_count_half_for_auc() -> None:
    # Relevant 80, 50 against irrelevant 50, 20: pairs won 1 + 1 + 1/2 (the tie) + 1 of 4.
    # AP: at score >= 80 precision 1/1 finds half; at >= 50 precision 2/3 finds the rest.
    report = evaluate(points((80, 1), (50, 1), (50, 0), (20, 0)), threshold=50)
    assert report.auc == pytest.approx(3.5 / 4)
    assert report.average_precision == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_interleaved_ranking() -> None:
    # Relevant at ranks 1, 3 and 5 of 5.
    report = evaluate(points((90, 1), (70, 0), (60, 1), (40, 0), (10, 1)), threshold=50)
    assert report.auc == pytest.approx(3 / 6)  # 90 beats both, 60 beats 40, 10 beats none
    assert report.average_precision == pytest.approx((1 / 1 + 2 / 3 + 3 / 5) / 3)


def test_spearman_only_for_graded_labels() -> None:
    graded = evaluate(points((10, 0), (40, 1), (70, 2), (90, 2)), threshold=50)
    # Label ranks 1, 2, 3.5, 3.5 against score ranks 1, 2, 3, 4.
    assert graded.graded and graded.spearman == pytest.approx(3 / math.sqrt(10))
    assert graded.positives == 3  # any label above 0 counts as relevant
    assert graded.label_range == (0.0, 2.0)

    binary = evaluate(points((10, 0), (40, 1), (70, 1)), threshold=50)
    assert not binary.graded and binary.spearman is None
    assert evaluate(points((10, 0), (70, 2)), threshold=50).spearman is None  # two values


def test_graded_labels_with_constant_scores_have_no_spearman() -> None:
    report = evaluate(points((50, 0), (50, 1), (50, 2)), threshold=50)
    assert report.spearman is None
    assert report.auc == 0.5


# At the threshold.


def test_confusion_counts_at_threshold_inclusive() -> None:
    report = evaluate(
        points((95, 1), (70, 1), (69.9, 1), (10, 1), (70, 0), (85, 0), (20, 0), (0, 0), (5, 0)),
        threshold=70,
    )
    assert (report.tp, report.fp, report.fn, report.tn) == (2, 2, 2, 3)
    assert report.precision == 0.5
    assert report.recall == report.recall_at_threshold == 0.5
    assert report.f1 == 0.5
    assert report.missed_at_threshold == 2


def test_nothing_predicted_relevant_leaves_precision_undefined() -> None:
    report = evaluate(points((10, 1), (20, 0)), threshold=90)
    assert (report.tp, report.fp, report.fn, report.tn) == (0, 0, 1, 1)
    assert report.precision is None
    assert report.recall == 0.0
    assert report.f1 == 0.0  # relevant papers exist and none is found


def test_threshold_for_95_recall_and_share_screened() -> None:
    # 20 relevant papers scored 5, 10, ..., 100: 95% of 20 is 19, so the 19th best (10).
    relevant = [(5.0 * k, 1.0) for k in range(1, 21)]
    others = [(0, 0), (3, 0), (8, 0), (12, 0), (50, 0)]
    report = evaluate(points(*relevant, *others), threshold=50)
    assert report.threshold_for_95_recall == 10
    # At score >= 10: 19 relevant + the 12 and the 50 of the others, out of 25 papers.
    assert report.screened_at_95_recall == pytest.approx(21 / 25)


def test_threshold_for_95_recall_with_few_relevant_papers_keeps_them_all() -> None:
    # 95% of 10 is 9.5: finding 9 is not enough, so the lowest relevant score.
    report = evaluate(points(*[(10.0 * k, 1.0) for k in range(1, 11)], (0, 0)), threshold=50)
    assert report.threshold_for_95_recall == 10
    assert report.screened_at_95_recall == pytest.approx(10 / 11)


def test_threshold_for_95_recall_with_tied_scores() -> None:
    report = evaluate(points(*[(40, 1)] * 19, (5, 1), (40, 0), (30, 0)), threshold=50)
    assert report.threshold_for_95_recall == 40  # 19 of 20 score 40
    assert report.screened_at_95_recall == pytest.approx(20 / 22)


# Buckets.


def test_calibration_and_histograms_use_buckets_of_ten() -> None:
    report = evaluate(
        points((0, 0), (9.9, 1), (10, 0), (55, 1), (55, 1), (59, 0), (90, 1), (100, 1)),
        threshold=50,
    )
    edges = [(b.low, b.high) for b in report.calibration]
    assert edges == [(10 * i, 10 * i + 9) for i in range(9)] + [(90, 100)]
    assert [b.count for b in report.calibration] == [2, 1, 0, 0, 0, 3, 0, 0, 0, 2]
    means = [b.mean_label for b in report.calibration]
    assert means[0] == 0.5 and means[1] == 0.0 and means[5] == pytest.approx(2 / 3)
    assert means[9] == 1.0 and means[2] is None
    assert report.histogram_positive == [1, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert report.histogram_negative == [1, 1, 0, 0, 0, 1, 0, 0, 0, 0]


def test_graded_calibration_is_the_mean_label() -> None:
    report = evaluate(points((72, 2), (75, 0), (78, 1)), threshold=50)
    assert report.calibration[7].mean_label == 1.0


# Edge cases: never an exception.


def test_single_class_has_no_auc_but_the_rest_works() -> None:
    report = evaluate(points((90, 1), (40, 1)), threshold=50)
    assert report.auc is None and report.average_precision is None
    assert report.recall == 0.5 and report.threshold_for_95_recall == 40

    report = evaluate(points((90, 0), (40, 0)), threshold=50)
    assert report.auc is None and report.average_precision is None
    assert report.recall is None and report.precision == 0.0
    assert report.threshold_for_95_recall is None and report.screened_at_95_recall is None


def test_empty_input_gives_zeros_and_nones() -> None:
    report = evaluate([], threshold=50)
    assert (report.n, report.positives, report.tp, report.fp, report.fn, report.tn) == (0,) * 6
    assert report.auc is None and report.average_precision is None and report.spearman is None
    assert report.precision is None and report.recall is None and report.f1 is None
    assert report.threshold_for_95_recall is None and report.screened_at_95_recall is None
    assert [b.count for b in report.calibration] == [0] * 10
    assert report.histogram_positive == report.histogram_negative == [0] * 10
    assert "papers scored" in format_table(report)


def test_nan_scores_are_refused() -> None:
    with pytest.raises(InputError, match="finite"):
        evaluate(points((math.nan, 1)), threshold=50)


def test_report_round_trips_through_json() -> None:
    report = evaluate(points((90, 1), (20, 0)), threshold=50).model_copy(
        update={"model": "gpt-4o-mini", "failed": 2, "tokens_prompt": 10}
    )
    assert EvalReport.model_validate_json(report.model_dump_json()) == report


# Labels.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", 1.0),
        (" YES ", 1.0),
        ("y", 1.0),
        ("True", 1.0),
        ("include", 1.0),
        ("Included", 1.0),
        ("no", 0.0),
        ("N", 0.0),
        ("false", 0.0),
        ("exclude", 0.0),
        ("EXCLUDED", 0.0),
        ("1", 1.0),
        ("0", 0.0),
        ("2", 2.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("-1", -1.0),
        ("", None),
        ("   ", None),
    ],
)
def test_labels_without_positive_values(text: str, expected: float | None) -> None:
    assert parse_label(text, ()) == expected


@pytest.mark.parametrize("text", ["maybe", "nan", "inf", "1e3", "1_000", "0x1", "yes!"])
def test_unreadable_label_names_the_value_and_the_fix(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_label(text, ())
    message = str(caught.value)
    assert repr(text) in message and "--positive" in message


def test_positive_values_decide_and_everything_else_is_negative() -> None:
    positive = {"I", " included ", "Maybe"}
    assert parse_label("i", positive) == 1.0
    assert parse_label("INCLUDED", positive) == 1.0
    assert parse_label(" maybe ", positive) == 1.0
    assert parse_label("E", positive) == 0.0
    assert parse_label("yes", positive) == 0.0  # only the named values count
    assert parse_label("", positive) is None
    assert parse_label("  ", positive) is None


# Cost.


def test_cost_from_the_price_library() -> None:
    assert estimate_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert estimate_cost("gpt-4o", 2_000, 500) == pytest.approx(0.005 + 0.005)
    assert estimate_cost("GPT-4.1-nano", 1_000_000, 0) == pytest.approx(0.10)
    assert estimate_cost("gpt-4o-mini-2024-07-18", 0, 1_000_000) == pytest.approx(0.60)


def test_cached_input_and_the_batch_api_cost_less() -> None:
    fresh = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    cached = fresh.model_copy(update={"cached_prompt_tokens": 1_000_000})
    assert price_usage("gpt-4.1-nano", fresh) == pytest.approx(0.10 + 0.40)
    assert price_usage("gpt-4.1-nano", cached) == pytest.approx(0.025 + 0.40)
    assert price_usage("gpt-4.1-nano", fresh, batch=True) == pytest.approx(0.05 + 0.20)
    # A price the user names bills every prompt token at the input price.
    assert price_usage("my-model", cached, price=(1.0, 2.0)) == pytest.approx(3.0)
    assert price_usage("my-model", cached) is None


def test_local_model_is_free_and_unknown_model_unpriced() -> None:
    assert estimate_cost(EMBEDDED_MODEL, 10**6, 10**6) == 0.0
    assert estimate_cost("smollm2-135m-instruct", 10**6, 10**6) == 0.0
    assert estimate_cost("llama-3-70b", 10**6, 10**6) is None


def test_price_override() -> None:
    prices = {"my-model": parse_price("1,2")}
    assert estimate_cost("my-model", 500_000, 250_000, prices) == pytest.approx(1.0)
    assert estimate_cost("gpt-4o-mini", 1, 1, prices) is None  # the table is replaced


def test_parse_price() -> None:
    assert parse_price("0.15,0.60") == (0.15, 0.6)
    assert parse_price(" 2.5 , 10 ") == (2.5, 10.0)
    for bad in ["0.15", "a,b", "1,2,3", "-1,2", "nan,1", ""]:
        with pytest.raises(InputError, match=r"e\.g\. 0\.15,0\.60"):
            parse_price(bad)


# The terminal table.


def test_format_table_shows_the_numbers_a_reviewer_looks_for() -> None:
    relevant = [(5.0 * k, 1.0) for k in range(1, 21)]
    others = [(0, 0), (3, 0), (8, 0), (12, 0), (50, 0)]
    report = evaluate(points(*relevant, *others), threshold=50).model_copy(
        update={
            "model": "gpt-4o-mini",
            "failed": 3,
            "tokens_prompt": 1_234_567,
            "tokens_completion": 8_900,
            "cost_usd": 0.1905,
        }
    )
    text = format_table(report)
    lines = text.splitlines()
    assert f"{report.auc:.3f}" in text and f"{report.average_precision:.3f}" in text
    assert "gpt-4o-mini" in text and "1,234,567 prompt + 8,900 completion" in text
    assert "$0.1905" in text and "3 (left out of every metric)" in text
    assert "55.0% (11 of 20 relevant)" in text  # recall: 50, 55, ..., 100
    assert "91.7% (11 of 12 at or above 50)" in text  # precision
    assert "Score >= 10 finds at least 95% of the relevant papers" in text
    assert "a human still reads 84.0% of all papers (21 of 25)" in text
    # Two aligned columns: every value starts in the same column.
    metric_lines = lines[: lines.index("")]
    starts = {len(line) - len(line[line.index("  ") :].lstrip()) for line in metric_lines}
    assert len(starts) == 1
    grid = [line.split() for line in lines[-5:-2]]
    assert grid == [
        ["score", ">=", "50", "score", "<", "50"],
        ["relevant", "11", "TP", "9", "FN"],
        ["not", "relevant", "1", "FP", "4", "TN"],
    ]


def test_format_score_rounds_thresholds_down() -> None:
    assert [format_score(x) for x in (50.0, 6.2379, 2.3, 99.99)] == ["50", "6.2", "2.3", "99.9"]
