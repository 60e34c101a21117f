"""``scorer.pandas.score_frame`` against the fake OpenAI server."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from lazy_import import LazyModule

from scorer import InputError, Settings, score
from scorer.pandas import score_frame
from scorer.testing import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[1]
pd = LazyModule("pandas")  # imported by the first test that uses it
ADDED = ["relevance", "hype", "justification", "passed", "status", "error", "cached"]


def papers_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Document Title": [
                "DualPath: Breaking the Storage Bandwidth Bottleneck in Agentic LLM Inference",
                "KnapSpec: Self-Speculative Decoding via Adaptive Layer Selection",
                "A Survey of Retrieval-Augmented Generation Evaluation",
                "Protein folding with diffusion models",
            ],
            "Abstract": [
                "KV-Cache storage I/O dominates multi-turn agentic LLM inference.",
                "Self-speculative decoding picks layers to skip as a knapsack problem.",
                "We survey how retrieval-augmented generation is evaluated.",
                "Diffusion models predict protein structures.",
            ],
            "Authors": ["Yongtong Wu; Shaoyuan Chen", "A; B", "C", "D"],
            "Year": [2026, 2026, 2025, 2024],
            "label": ["yes", "yes", "no", "no"],
        },
        index=pd.Index([40, 10, 30, 20], name="row"),
    )


def test_scores_land_on_their_rows_and_the_index_is_kept(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    df = papers_frame()
    scored = score_frame(df, "llm-inference", settings=fake_settings)

    assert list(scored.index) == [40, 10, 30, 20] and scored.index.name == "row"
    assert list(scored.columns) == [*df.columns, *ADDED]
    pd.testing.assert_frame_equal(scored[df.columns], df)  # the input's columns untouched
    assert list(df.columns) == list(papers_frame().columns)  # and the input frame too
    assert scored["relevance"].dtype == "Int64" and scored["passed"].dtype == bool
    assert fake.count == 4
    for index, row in df.iterrows():
        paper = {"title": row["Document Title"], "abstract": row["Abstract"]}
        alone = score(paper, "llm-inference", settings=fake_settings)  # from the cache
        assert alone.cached
        assert scored.loc[index, "relevance"] == alone.scores["relevance"]
        assert scored.loc[index, "hype"] == alone.scores["hype"]
        assert scored.loc[index, "justification"] == alone.justification
        assert scored.loc[index, "passed"] == alone.passed
    assert scored["relevance"].nunique() > 1  # the comparison above can tell rows apart
    assert set(scored["status"]) == {"scored"} and scored["error"].isna().all()
    assert not scored["cached"].any()

    again = score_frame(df, "llm-inference", settings=fake_settings)
    assert again["cached"].all() and set(again["status"]) == {"cached"}
    assert fake.count == 4


def test_duplicate_rows_are_scored_once_and_share_the_result(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    df = pd.DataFrame(
        {
            "id": ["2602.21548v1", "arXiv:2602.21548v2", None],
            "title": ["DualPath", "DualPath (v2)", "KnapSpec"],
            "abstract": ["KV-cache I/O.", "KV-cache I/O, revised.", "Speculative decoding."],
        },
        index=["a", "b", "a"],  # a non-unique index stays as it was
    )
    scored = score_frame(df, "llm-inference", settings=fake_settings)
    assert fake.count == 2
    assert list(scored.index) == ["a", "b", "a"]
    first, second = scored.iloc[0], scored.iloc[1]
    assert (first["relevance"], first["justification"]) == (
        second["relevance"],
        second["justification"],
    )
    assert scored.iloc[2]["status"] == "scored"


def test_bad_rows_get_an_error_and_the_rest_are_scored(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    df = pd.DataFrame(
        {
            "title": ["Good one", "No abstract", None, "Good two"],
            "abstract": ["Fine abstract.", float("nan"), "No title", "Also fine."],
            "published": ["2026-02-23", "2026-02-24", None, "not a date"],
        }
    )
    scored = score_frame(df, "llm-inference", settings=fake_settings)
    assert list(scored["status"]) == ["scored", "invalid", "invalid", "invalid"]
    assert scored.loc[1, "error"] == "missing abstract"
    assert scored.loc[2, "error"] == "missing title"
    assert "published: invalid date 'not a date'" in scored.loc[3, "error"]
    assert scored.loc[1:, "relevance"].isna().all() and not scored.loc[1:, "passed"].any()
    assert scored.loc[0, "relevance"] is not pd.NA and fake.count == 1


def test_a_paper_the_model_fails_on_keeps_its_error(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    fake.enqueue(Reply.out_of_range("relevance", 150), Reply.out_of_range("relevance", 150))
    df = papers_frame().iloc[:3]
    scored = score_frame(df, "llm-inference", settings=fake_settings, concurrency=1)
    assert sorted(scored["status"]) == ["failed", "scored", "scored"]
    failed = scored[scored["status"] == "failed"].iloc[0]
    assert failed["error"].startswith("the model's answer failed validation")
    assert pd.isna(failed["justification"])
    assert pd.isna(failed["relevance"]) and not failed["passed"]


def test_columns_are_found_by_their_usual_names_or_named(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    df = pd.DataFrame({"Paper Name": ["KnapSpec"], "summary": ["Speculative decoding."]})
    with pytest.raises(InputError, match=r"no title column .* columns=\{'title': COLUMN\}"):
        score_frame(df, "llm-inference", settings=fake_settings)
    with pytest.raises(InputError, match="unknown field in columns: name"):
        score_frame(df, "llm-inference", settings=fake_settings, columns={"name": "Paper Name"})
    scored = score_frame(
        df, "llm-inference", settings=fake_settings, columns={"title": "Paper Name"}
    )
    assert scored.loc[0, "status"] == "scored"
    assert "Speculative decoding." in str(fake.requests[-1])


def test_an_empty_frame_gets_the_columns(fake_settings: Settings) -> None:
    df = pd.DataFrame({"title": pd.Series(dtype=str), "abstract": pd.Series(dtype=str)})
    scored = score_frame(df, "llm-inference", settings=fake_settings)
    assert list(scored.columns) == ["title", "abstract", *ADDED] and scored.empty


def test_without_pandas_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ImportError, match=re.escape("pip install 'scorer[pandas]'")):
        score_frame(object(), "llm-inference")  # type: ignore[arg-type]


def test_readme_example(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    """The README's pandas example, as written, from the repository root."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", readme, re.DOTALL) if "score_frame" in b
    ]
    code = blocks[0] if blocks else README_EXAMPLE
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    scored = namespace["scored"]
    assert isinstance(scored, pd.DataFrame) and len(scored) == 50  # every row, in place
    assert scored["status"].isin(["scored", "cached"]).all()
    assert fake.count == 43  # the file lists seven papers twice


# Proposed for README.md (the test runs the README's block once it is there).
README_EXAMPLE = """\
import pandas as pd
from scorer.pandas import score_frame

df = pd.read_csv("fixtures/seed_papers.csv")  # any frame with title and abstract columns
scored = score_frame(df, "llm-inference", concurrency=8)
top = scored[scored["passed"]].sort_values("relevance", ascending=False)
print(top[["title", "relevance", "hype", "justification"]])
"""
