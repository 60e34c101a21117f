"""Digests a first-time user sees: the demo model's scores, papers below the threshold, failures.

Run as a user types it (`scorer digest`, `scorer batch`), on real files.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from scorer._settings import EMBEDDED_MODEL
from scorer.cli import cli
from scorer.testing import FakeOpenAI, Reply

DEMO_NOTE = (
    "Scored offline by the embedded demo model (SmolLM2-135M): "
    "scores show the pipeline working, not expert judgement."
)
TIMES = " \N{MULTIPLICATION SIGN} "


def scored_rows(tmp_path: Path, *, model: str = EMBEDDED_MODEL) -> Path:
    """Rows as `scorer batch` writes them: 14 scored below 70, one at 75, three failed."""
    rows = [
        {
            "id": f"2602.{i:05d}v1",
            "title": f"Paper {i}",
            "abstract": f"Abstract {i}.",
            "url": f"https://arxiv.org/abs/2602.{i:05d}v1",
            "status": "scored",
            "model": model,
            "relevance": 75 if i == 14 else i * 4,
            "hype": 10,
            "justification": f"Because {i}.",
        }
        for i in range(15)
    ]
    failures = ["gave up after 6 attempt(s): request timed out"] * 2 + [
        "the model's answer failed validation after 2 attempt(s): relevance: too big"
    ]
    rows += [
        {
            "id": f"2602.{100 + i:05d}v1",
            "title": f"Failed {i}",
            "abstract": "Never scored.",
            "status": "failed",
            "model": model,
            "error": error,
        }
        for i, error in enumerate(failures)
    ]
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def headings(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith(("## ", "### "))]


def test_digest_of_demo_scores_says_so_and_fills_up_to_ten(tmp_path: Path) -> None:
    args = ["digest", str(scored_rows(tmp_path)), "-r", "llm-inference"]
    done = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    out = done.stdout
    assert f"*{DEMO_NOTE}*" in out.splitlines()
    assert "**1** paper above threshold (70/100) out of **18** total scanned." in out
    assert (
        f"3 papers could not be scored (2{TIMES}request timed out, "
        f"1{TIMES}the model's answer failed validation)."
    ) in out.splitlines()
    assert headings(out) == [
        "### Paper 14",
        "## Below the threshold of 70: the next 9 by score",
        *(f"### Paper {i}" for i in range(13, 4, -1)),
    ]
    assert out.count("(below threshold)") == 9


def test_digest_top_flag_sets_how_many(tmp_path: Path) -> None:
    source = str(scored_rows(tmp_path))
    three = CliRunner().invoke(cli, ["digest", source, "-r", "llm-inference", "--top", "3"])
    assert headings(three.stdout)[1:] == [
        "## Below the threshold of 70: the next 2 by score",
        "### Paper 13",
        "### Paper 12",
    ]
    off = CliRunner().invoke(cli, ["digest", source, "-r", "llm-inference", "--top", "0"])
    assert headings(off.stdout) == ["### Paper 14"]
    bad = CliRunner().invoke(cli, ["digest", source, "-r", "llm-inference", "--top", "-1"])
    assert bad.exit_code == 2 and "--top" in bad.stderr


def test_digest_of_another_model_keeps_the_seed_layout(tmp_path: Path) -> None:
    source = str(scored_rows(tmp_path, model="gpt-4o-mini"))
    done = CliRunner().invoke(cli, ["digest", source, "-r", "llm-inference"])
    assert "demo model" not in done.stdout
    assert headings(done.stdout) == ["### Paper 14"]
    assert "3 papers could not be scored" in done.stdout  # failures are never hidden
    with_top = CliRunner().invoke(cli, ["digest", source, "-r", "llm-inference", "--top", "2"])
    assert headings(with_top.stdout)[1:] == [
        "## Below the threshold of 70: the next 1 by score",
        "### Paper 13",
    ]


def test_html_digest_of_demo_scores_says_the_same(tmp_path: Path) -> None:
    html = tmp_path / "digest.html"
    args = ["digest", str(scored_rows(tmp_path)), "-r", "llm-inference", "-o", str(html)]
    done = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert done.exit_code == 0, done.stderr
    page = html.read_text(encoding="utf-8")
    assert f'<p class="demo">{DEMO_NOTE}</p>' in page
    assert (
        f'<p class="failures">3 papers could not be scored (2{TIMES}request timed out, '
        f"1{TIMES}the model&#x27;s answer failed validation).</p>"
    ) in page
    assert ">Below the threshold of 70: the next 9 by score</h2>" in page
    assert page.count('<article class="paper below"') == 9


def test_batch_digest_counts_the_papers_that_failed(fake: FakeOpenAI, tmp_path: Path) -> None:
    source = tmp_path / "papers.jsonl"
    papers = [{"title": f"Paper {i}", "abstract": f"About topic {i}."} for i in range(4)]
    source.write_text("".join(json.dumps(p) + "\n" for p in papers), encoding="utf-8")
    # The first paper gets an out-of-range answer twice (the answer and the re-ask): it fails.
    fake.enqueue(Reply.out_of_range(), Reply.out_of_range())
    md, html = tmp_path / "digest.md", tmp_path / "digest.html"
    args = ["batch", str(source), "-r", "llm-inference", "--concurrency", "1"]
    env = {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": "sk-test-0123456789"}
    done = CliRunner().invoke(cli, [*args, "-o", str(md), "-o", str(html)], env=env)
    assert done.exit_code == 1, done.stderr
    line = f"1 paper could not be scored (1{TIMES}the model's answer failed validation)."
    assert line in md.read_text(encoding="utf-8").splitlines()
    assert "out of **4** total scanned." in md.read_text(encoding="utf-8")
    assert line.replace("'", "&#x27;") in html.read_text(encoding="utf-8")
