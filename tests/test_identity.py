import pytest

from scorer import Paper
from scorer.engine._identity import (
    _searched_identity,
    dedupe_papers,
    normalize_text,
    paper_identity,
)


def paper(**fields: str) -> Paper:
    return Paper.model_validate({"title": "A title", "abstract": "An abstract.", **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "2602.21548"},
        {"id": "2602.21548v2"},
        {"id": "arXiv:2602.21548"},
        {"id": "https://arxiv.org/abs/2602.21548v1"},
        {"url": "https://arxiv.org/abs/2602.21548v1"},
        {"pdf_url": "https://arxiv.org/pdf/2602.21548v3"},
        {"id": "10.48550/arXiv.2602.21548"},
    ],
)
def test_arxiv_forms_are_one_paper(fields: dict[str, str]) -> None:
    assert paper_identity(paper(**fields)) == "arxiv:2602.21548"


def test_old_style_arxiv_ids() -> None:
    assert paper_identity(paper(id="astro-ph/0601001v1")) == "arxiv:astro-ph/0601001"
    assert paper_identity(paper(id="math.GT/0309136")) == "arxiv:math.gt/0309136"


@pytest.mark.parametrize(
    "doi",
    [
        "10.1145/3600006.3613165",
        "https://doi.org/10.1145/3600006.3613165",
        "DOI:10.1145/3600006.3613165",
    ],
)
def test_doi_forms_are_one_paper(doi: str) -> None:
    assert paper_identity(paper(id=doi.upper() if "http" not in doi else doi)) == (
        "doi:10.1145/3600006.3613165"
    )


def test_without_an_id_the_normalized_title_is_the_key() -> None:
    a = paper(title="DualPath:  Breaking the Storage Bandwidth  Bottleneck")
    b = paper(title="dualpath — breaking the storage bandwidth bottleneck")
    assert paper_identity(a) == paper_identity(b)
    assert paper_identity(a) != paper_identity(paper(title="Another paper"))


def test_dedupe_keeps_the_first_record_in_order() -> None:
    papers = [
        paper(id="2602.21548v1", title="First"),
        paper(id="2602.20217v1", title="Second"),
        paper(id="arXiv:2602.21548v2", title="First again"),
        paper(title="Third"),
        paper(title="  THIRD "),
    ]
    assert [p.title for p in dedupe_papers(papers)] == ["First", "Second", "Third"]


def test_normalize_text() -> None:
    fullwidth_full = "\uff26\uff55\uff4c\uff4c"
    assert normalize_text(f"{fullwidth_full}\u00a0width\n TEXT") == "full width text"


# Ids of every shape paper_identity meets: bare new-style ids (its fast path) and
# everything around them that the general search must still decide.
_ID_FORMS = [
    "2602.21548",
    "2602.21548v2",
    "2602.21548V2",
    "2602.2154",
    "2602.2154v12",
    "0704.0001",
    "1001.12345",  # starts with "10" but is no DOI
    "2602.21548v",
    "2602.215481",
    "12602.21548",
    "2602..21548",
    "2602.21548v2v3",
    "2602.21548.",
    "2602.21548 x",
    "\u0662\u0666\u0660\u0662.\u0662\u0661\u0665\u0664\u0668",  # Arabic-Indic digits
    "\uff12\uff16\uff10\uff12.\uff12\uff11\uff15\uff14\uff18v\uff12",  # full-width digits
    "arXiv:2602.21548v2",
    "ARXIV:2602.21548",
    "https://arxiv.org/abs/2602.21548v1",
    "astro-ph/0601001v1",
    "math.GT/0309136",
    "10.48550/arXiv.2602.21548",
    "https://doi.org/10.48550/arXiv.2602.21548",
    "10.1145/3600006.3613165",
    "10.2602.21548",
    "DOI:10.1145/ABC.1",
    "1234",
    "x",
]


@pytest.mark.parametrize("id_", _ID_FORMS)
@pytest.mark.parametrize(
    "url", [None, "https://arxiv.org/abs/2501.00001", "https://doi.org/10.1/X"]
)
def test_every_id_form_has_the_identity_the_general_search_gives(id_: str, url: str | None) -> None:
    record = paper(id=id_, **({"url": url} if url else {}))
    assert paper_identity(record) == _searched_identity(record.__dict__)


@pytest.mark.parametrize(
    ("id_", "identity"),
    [
        ("2602.21548V3", "arxiv:2602.21548"),
        ("1001.12345v1", "arxiv:1001.12345"),
        ("2602.215481", "title:a title"),
        (
            "\uff12\uff16\uff10\uff12.\uff12\uff11\uff15\uff14\uff18",
            "arxiv:\uff12\uff16\uff10\uff12.\uff12\uff11\uff15\uff14\uff18",
        ),
    ],
)
def test_bare_arxiv_ids(id_: str, identity: str) -> None:
    assert paper_identity(paper(id=id_)) == identity
