"""A cascade (``--cascade CHEAP,STRONG --margin M``): the strong model only near the threshold."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

from in_process import run_scorer

from scorer.testing import FakeOpenAI, Reply

RUBRIC = "llm-inference"  # threshold 70
# Title -> the cheap model's relevance. Margin 15: 55..85 goes to the strong model.
CHEAP = {
    "Far above": 95,
    "Near above": 80,
    "Near below": 60,
    "On the edge": 55,
    "Just outside": 54,
    "Far below": 10,
}
ESCALATED = {"Near above", "Near below", "On the edge"}


def run(args: list[str], fake: FakeOpenAI, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    return run_scorer(args, env=env)


def script(fake: FakeOpenAI, strong: str = "strong", strong_relevance: int = 99) -> None:
    for title, relevance in CHEAP.items():
        fake.answer_model("cheap", Reply(json_override={"relevance": relevance}), when=title)
    fake.answer_model(strong, Reply(json_override={"relevance": strong_relevance}))


def write_papers(path: Path) -> Path:
    rows = [{"title": f"{t}: a paper", "abstract": f"About {t.lower()}."} for t in CHEAP]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_only_papers_within_the_margin_go_to_the_strong_model(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    script(fake)
    source = write_papers(tmp_path / "papers.jsonl")
    out = tmp_path / "out.csv"
    args = ["batch", str(source), "-r", RUBRIC, "--cascade", "cheap,strong", "--margin", "15"]
    done = run([*args, "-o", str(out)], fake, isolated_env)

    assert done.returncode == 0, done.stderr
    assert (fake.requests_for("cheap"), fake.requests_for("strong")) == (6, 3)
    assert "escalated 3" in done.stderr
    rows = {r["title"].split(":")[0]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    for title, row in rows.items():
        reviews = json.loads(row["reviews"])
        if title in ESCALATED:  # the strong model's answer wins
            assert (row["model"], row["relevance"], len(reviews)) == ("strong", "99", 2)
            assert reviews[0]["scores"]["relevance"] == CHEAP[title]
        else:
            assert (row["model"], row["relevance"]) == ("cheap", str(CHEAP[title]))
            assert len(reviews) == 1
        assert row["needs_human"] == "False"  # a cascade decides; nobody is asked


def test_each_stage_has_its_own_cache_entries(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    script(fake)
    script(fake, strong="stronger")
    source = write_papers(tmp_path / "papers.jsonl")
    args = ["batch", str(source), "-r", RUBRIC, "-o", str(tmp_path / "out.jsonl")]
    first = run([*args, "--cascade", "cheap,strong"], fake, isolated_env)
    assert first.returncode == 0, first.stderr
    assert fake.count == 9

    again = run([*args, "--cascade", "cheap,strong"], fake, isolated_env)
    assert again.returncode == 0, again.stderr
    assert fake.count == 9  # every stage from the cache
    assert "cached 6" in again.stderr

    other = run([*args, "--cascade", "cheap,stronger"], fake, isolated_env)
    assert other.returncode == 0, other.stderr
    assert (fake.requests_for("cheap"), fake.requests_for("stronger")) == (6, 3)
    assert fake.count == 12  # the cheap answers came from the cache


def test_a_wider_margin_from_the_environment_escalates_more(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    script(fake)
    source = write_papers(tmp_path / "papers.jsonl")
    env = {
        "OPENAI_BASE_URL": fake.base_url,
        "SCORER_CACHE_DIR": str(isolated_env),
        "SCORER_CASCADE": "cheap,strong",
        "SCORER_MARGIN": "16",
    }
    done = run_scorer(
        ["batch", str(source), "-r", RUBRIC, "-o", str(tmp_path / "o.jsonl")], env=env
    )
    assert done.returncode == 0, done.stderr
    assert fake.requests_for("strong") == 4  # 54 is within 16 of 70


LABELLED = [
    # title, label, cheap relevance, strong relevance
    ("Clear include", "I", 95, 60),
    ("Borderline include", "I", 65, 90),
    ("Borderline exclude", "E", 75, 20),
    ("Clear exclude one", "E", 10, 5),
    ("Clear exclude two", "E", 20, 10),
    ("Clear exclude three", "E", 5, 70),
]


def test_eval_reports_the_cascade_against_the_strong_model_alone(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "labelled.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["title", "abstract", "label"])
        out.writerows([(t, f"A study: {t.lower()}.", label) for t, label, *_ in LABELLED])
    for title, _, cheap, strong in LABELLED:
        when = f"A study: {title.lower()}."
        fake.answer_model("gpt-4.1-nano", Reply(json_override={"relevance": cheap}), when=when)
        fake.answer_model("gpt-4o", Reply(json_override={"relevance": strong}), when=when)
    args = ["eval", str(source), "-r", "se-literature-reviews", "--positive", "I"]
    args += ["--threshold", "70", "--cascade", "gpt-4.1-nano,gpt-4o", "--margin", "10"]
    done = run(args, fake, isolated_env)

    assert done.returncode == 0, done.stderr
    # The cascade asked gpt-4o about the two borderline papers (65 and 75); the
    # comparison then asked it about the other four.
    assert fake.requests_for("gpt-4.1-nano") == 6
    assert fake.requests_for("gpt-4o") == 6
    assert "cascade gpt-4.1-nano -> gpt-4o (margin 10): 2 of 6 papers sent to gpt-4o" in (
        done.stdout
    )
    # The cascade keeps the clear include gpt-4o would have missed (60 < 70).
    assert "  cascade: recall at 70 1.000, ROC-AUC 1.000, USD $" in done.stdout
    assert "  gpt-4o alone: recall at 70 0.500, ROC-AUC 0.875, USD $" in done.stdout

    again = run([*args, "--json"], fake, isolated_env)
    assert again.returncode == 0, again.stderr
    assert fake.count == 12  # everything from the cache, and the same prices
    cascade = json.loads(again.stdout)["cascade"]
    assert (cascade["escalated"], cascade["papers"]) == (2, 6)
    cost, alone = cascade["cascade"]["usd"], cascade["strong_alone"]["usd"]
    assert 0 < cost < alone
    # gpt-4o alone pays for six gpt-4o answers; the cascade for two of them and six
    # gpt-4.1-nano ones, which cost a twenty-fifth as much per token.
    assert 2 * alone / 6 < cost < 3 * alone / 6
    assert f"USD ${cost:,.4f}" in done.stdout and f"USD ${alone:,.4f}" in done.stdout
