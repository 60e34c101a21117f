import pytest

from scorer import Paper
from scorer.engine._identity import dedupe_papers, normalize_text, paper_identity


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
