"""Bounded input (issue 10, item 7): a huge field is cut before it is sent, with a notice.

Measured in the request bodies the fake OpenAI server receives.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import jinja2
import pytest
from in_process import run_scorer

from scorer import Paper, Settings, load_rubric
from scorer._errors import ConfigError
from scorer._models import ScoredPaper
from scorer.engine._scorer import Scorer
from scorer.prompt._messages import PromptTemplate
from scorer.testing import FakeOpenAI

RUBRIC = load_rubric("llm-inference")
MB = 1024 * 1024


def score_all(
    settings: Settings, papers: list[Paper], template: PromptTemplate | None = None
) -> list[ScoredPaper]:
    async def run() -> list[ScoredPaper]:
        async with Scorer(settings, template=template) as scorer:
            return [await scorer.ascore(paper, RUBRIC) for paper in papers]

    return asyncio.run(run())


def user_text(fake: FakeOpenAI, index: int = -1) -> str:
    messages = fake.requests[index]["messages"]
    return next(m["content"] for m in messages if m["role"] == "user")


def notices(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "scorer.prompt._paper_limits"]


def test_a_huge_title_and_abstract_are_cut_with_one_notice_naming_the_paper(
    fake: FakeOpenAI, fake_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    paper = Paper(
        id="2401.99999",
        title="\u0416" * 1_000_000,
        abstract="\u0429" * (5 * MB),
        authors=[f"Author {i}" for i in range(5000)],
    )
    with caplog.at_level(logging.WARNING):
        [result] = score_all(fake_settings, [paper])
    sent = user_text(fake)
    assert len(sent) < 1_000 + 20_000 + 100 * 200 + 2_000  # the limits and the template
    # Each cut text ends in "…": the limit counts it.
    assert sent.count("\u0416") == 999 and sent.count("\u0429") == 19_999
    assert "Author 98, Author 99\n" in sent and "Author 100" not in sent
    [notice] = notices(caplog)
    assert notice.startswith("paper 2401.99999: ")
    assert "title cut from 1,000,000 to 1,000 characters" in notice
    assert "abstract cut from 5,242,880 to 20,000 characters" in notice
    assert "5,000 authors cut to the first 100" in notice
    assert result.ok and result.paper.title == paper.title  # outputs keep the whole paper


def test_limits_come_from_the_settings_and_the_environment(
    fake: FakeOpenAI, fake_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"SCORER_MAX_TITLE_CHARS": "50", "SCORER_MAX_ABSTRACT_CHARS": "2_000"}
    limits = Settings.resolve(env=env, max_authors=3, max_author_chars=10)
    settings = dataclasses.replace(
        fake_settings,
        max_title_chars=limits.max_title_chars,
        max_abstract_chars=limits.max_abstract_chars,
        max_authors=limits.max_authors,
        max_author_chars=limits.max_author_chars,
    )
    paper = Paper(
        title="x" * 400, abstract="\u0429" * 9_000, authors=["Ann Longname-Smithson", "B"]
    )
    with caplog.at_level(logging.WARNING):
        score_all(settings, [paper])
    sent = user_text(fake)
    assert sent.count("x") == 49 and sent.count("\u0429") == 1_999  # and the "…" mark
    assert "Authors: Ann Longn…, B" in sent
    [notice] = notices(caplog)
    assert notice.startswith("paper 'xxxxx") and "title cut from 400 to 50" in notice
    with pytest.raises(ConfigError, match="max_title_chars must be a whole number"):
        Settings.resolve(env={"SCORER_MAX_TITLE_CHARS": "lots"})
    with pytest.raises(ConfigError, match="max_abstract_chars must be positive"):
        Settings.resolve(env={}, max_abstract_chars=0)


def test_the_cache_key_names_the_text_that_was_sent(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    head = "We page the KV cache. " * 1_000  # 22,000 characters: over the limit
    first = Paper(title="Paged attention", abstract=head + "Tail one.")
    second = Paper(title="Paged attention", abstract=head + "A different tail.")
    results = score_all(fake_settings, [first, second])
    assert fake.count == 1  # the same 20,000 characters were sent: answered from the cache
    assert results[1].cached and results[1].paper.abstract.endswith("A different tail.")

    wider = dataclasses.replace(fake_settings, max_abstract_chars=30_000)
    score_all(wider, [first, second])
    assert fake.count == 3  # with the whole abstracts sent, they are two requests


def test_only_fields_the_prompt_shows_are_cut_and_reported(
    fake: FakeOpenAI, fake_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    paper = Paper(title="T", abstract="A", full_text="z" * 50_000, venue="v" * 5_000)
    with caplog.at_level(logging.WARNING):
        score_all(fake_settings, [paper])
    assert notices(caplog) == []  # the built-in prompt shows neither extra field

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    shows_venue = PromptTemplate(
        name="venue",
        system=env.from_string("Score it."),
        user=env.from_string("<paper>\n{{ paper.title }} ({{ paper.venue }})\n</paper>"),
        content_hash="venue-template-01",
        paper_fields=frozenset({"title", "venue"}),
    )
    with caplog.at_level(logging.WARNING):
        score_all(fake_settings, [paper], template=shows_venue)
    assert user_text(fake).count("v") <= 1_000
    assert "z" not in user_text(fake)
    assert notices(caplog) == ["paper 'T': venue cut to 1,000 characters"]


def test_the_cli_prints_the_notice_once_on_stderr(fake: FakeOpenAI, isolated_env: Path) -> None:
    env = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test-limits",
        "SCORER_CACHE_DIR": str(isolated_env),
    }
    title = "Paged attention " * 200  # 3,200 characters
    done = run_scorer(
        ["score", "-r", "llm-inference", "--title", title, "--abstract", "A."],
        env=env,
        warnings_to_stderr=True,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("paper 'Paged attention Paged")
    assert line.endswith("title cut from 3,199 to 1,000 characters")
    assert fake.count == 1 and len(user_text(fake)) < 2_000
