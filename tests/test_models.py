import datetime as dt

import pytest
from pydantic import ValidationError

from scorer import Paper, Usage
from scorer._errors import InputError
from scorer.engine._scorer import to_paper


def test_paper_accepts_the_csv_shapes() -> None:
    paper = Paper.model_validate(
        {
            "title": " DualPath ",
            "abstract": "KV-cache I/O.",
            "authors": "Yongtong Wu; Shaoyuan Chen; Yinmin Zhong",
            "published": "2026-02-25T18:00:00Z",
            "id": "2602.21548v1",
            "url": "",
            "venue": "arXiv",
        }
    )
    assert paper.title == "DualPath"
    assert paper.authors == ["Yongtong Wu", "Shaoyuan Chen", "Yinmin Zhong"]
    assert paper.published == dt.date(2026, 2, 25)
    assert paper.url is None
    assert paper.extra_fields == {"venue": "arXiv"}


def test_paper_year_only() -> None:
    assert Paper(title="t", abstract="a", published="2007").published == dt.date(2007, 1, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["title", "abstract"])
def test_paper_requires_title_and_abstract(missing: str) -> None:
    data = {"title": "t", "abstract": "a", missing: "   "}
    with pytest.raises(ValidationError):
        Paper.model_validate(data)
    with pytest.raises(InputError, match=missing):
        to_paper(data)


def test_usage_adds_up() -> None:
    total = Usage(prompt_tokens=10, completion_tokens=2, requests=1) + Usage(
        prompt_tokens=5, completion_tokens=1, requests=1
    )
    assert (total.prompt_tokens, total.completion_tokens, total.requests) == (15, 3, 2)
    assert total.total_tokens == 18


@pytest.mark.parametrize("year", [30159744364, 0, -5, "99999"])
def test_an_impossible_year_is_an_invalid_paper_not_a_crash(year: object) -> None:
    with pytest.raises(InputError, match="published"):
        to_paper({"title": "T", "abstract": "A.", "published": year})


def test_a_numeric_id_is_text_and_a_fractional_one_is_refused() -> None:
    assert Paper.model_validate({"title": "T", "abstract": "A", "id": 12}).id == "12"
    with pytest.raises(InputError, match=r"id: .*text, not the number 2602\.1"):
        to_paper({"title": "T", "abstract": "A", "id": 2602.1})


@pytest.mark.parametrize("value", [True, 86400.5, [2024], {"year": 2024}, 20240102])
def test_dates_of_the_wrong_type_are_refused_not_guessed(value: object) -> None:
    with pytest.raises(InputError, match="published"):
        to_paper({"title": "T", "abstract": "A", "published": value})


def test_a_year_written_as_a_float_is_that_year() -> None:
    assert to_paper({"title": "T", "abstract": "A", "published": 2020.0}).published == dt.date(
        2020, 1, 1
    )


def test_authors_as_objects_with_a_name() -> None:
    paper = to_paper({"title": "T", "abstract": "A", "authors": [{"name": "A. One"}, "B. Two"]})
    assert paper.authors == ["A. One", "B. Two"]


def test_values_nested_too_deep_are_an_invalid_paper_not_a_recursion_error() -> None:
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(InputError, match="x: nested deeper than 32 levels"):
        to_paper({"title": "T", "abstract": "A", "x": deep})
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    with pytest.raises(InputError, match="nested deeper"):
        to_paper({"title": "T", "abstract": "A", "x": cyclic})


def test_lone_surrogates_become_replacement_characters_anywhere() -> None:
    paper = to_paper({"title": "T\ud800", "abstract": "A", "x": {"k\udfff": ["\ud83d"]}})
    assert paper.title == "T\ufffd" and paper.extra_fields == {"x": {"k\ufffd": ["\ufffd"]}}
    assert "\ufffd" in paper.model_dump_json()
