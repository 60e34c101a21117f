import datetime as dt

import pytest
from pydantic import ValidationError

from scorer import Paper, Usage
from scorer.engine import to_paper
from scorer.errors import InputError


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
