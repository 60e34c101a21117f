"""A second reviewer (``--reviewers A,B``): both scores, kappa, needs_human in every output."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import json
import math
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from in_process import run_as_typed, run_scorer

from scorer import FatalBackendError, Scorer, Settings, load_rubric, score_many
from scorer.eval._agreement import Agreement, cohen_kappa
from scorer.service import create_app
from scorer.service._background import serve_in_thread
from scorer.testing import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[1]
EVAL_FIXTURE = ROOT / "fixtures" / "eval_kitchenham.csv"
RUBRIC = "llm-inference"  # threshold 70
DISPUTED = "Disputed <b>paper</b> on KV caches"
PAPERS = [
    {"id": "2601.00001", "title": "Agreed: a fast LLM server", "abstract": "We serve LLMs."},
    {"id": "2601.00002", "title": DISPUTED, "abstract": "Paging the KV cache =1+1."},
    {"id": "2601.00003", "title": "Agreed: a slow compiler", "abstract": "A compiler."},
]


def run(args: list[str], fake: FakeOpenAI, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    return run_scorer(args, env=env)


def write_papers(path: Path) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in PAPERS), encoding="utf-8")
    return path


def script_reviewers(fake: FakeOpenAI, second: str = "model-b") -> None:
    """model-a passes the first two papers; the second reviewer passes only the first."""
    fake.answer_model("model-a", Reply(json_override={"relevance": 90}), when="Agreed: a fast")
    fake.answer_model("model-a", Reply(json_override={"relevance": 80}), when="Disputed")
    fake.answer_model("model-a", Reply(json_override={"relevance": 10}), when="compiler")
    fake.answer_model(second, Reply(json_override={"relevance": 95}), when="Agreed: a fast")
    fake.answer_model(second, Reply(json_override={"relevance": 30}), when="Disputed")
    fake.answer_model(second, Reply(json_override={"relevance": 5}), when="compiler")


def test_kappa_of_known_label_vectors_matches_the_hand_computed_value() -> None:
    a = [True, True, True, False, False, False, False, True, False, False]
    b = [True, True, False, False, False, True, False, True, False, False]
    # Agree on 8 of 10 (p_o = 0.8); A says yes 4/10, B 4/10, so
    # p_e = 0.4 * 0.4 + 0.6 * 0.6 = 0.52 and kappa = (0.8 - 0.52) / 0.48 = 7/12.
    assert cohen_kappa(zip(a, b, strict=True)) == pytest.approx(7 / 12)
    assert cohen_kappa([(True, True), (False, False)]) == 1.0
    assert cohen_kappa([(True, False), (False, True)]) == -1.0
    # Both reviewers put every paper on one side: kappa is undefined, not 1 or 0.
    assert cohen_kappa([(True, True), (True, True)]) is None
    assert Agreement().kappa is None


def test_needs_human_in_csv_jsonl_markdown_and_html(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    script_reviewers(fake)
    source = write_papers(tmp_path / "papers.jsonl")
    outs = [tmp_path / n for n in ("out.csv", "out.jsonl", "digest.md", "digest.html")]
    args = ["batch", str(source), "-r", RUBRIC, "--reviewers", "model-a,model-b"]
    done = run([*args, *(f"-o{o}" for o in outs)], fake, isolated_env)

    assert done.returncode == 0, done.stderr
    # One disagreement in three papers: p_o = 2/3, p_e = 2/3*1/3 + 1/3*2/3 = 4/9, kappa 0.4.
    assert "reviewers kappa 0.40, needs human 1" in done.stderr
    assert (fake.requests_for("model-a"), fake.requests_for("model-b")) == (3, 3)

    rows = {r["id"]: r for r in csv.DictReader(outs[0].open(encoding="utf-8", newline=""))}
    assert {i: r["needs_human"] for i, r in rows.items()} == {
        "2601.00001": "False",
        "2601.00002": "True",
        "2601.00003": "False",
    }
    disputed = rows["2601.00002"]
    assert disputed["relevance"] == "80" and disputed["model"] == "model-a"  # the first's score
    reviews = json.loads(disputed["reviews"])
    assert [(r["model"], r["scores"]["relevance"]) for r in reviews] == [
        ("model-a", 80),
        ("model-b", 30),
    ]

    lines = [json.loads(line) for line in outs[1].read_text(encoding="utf-8").splitlines()]
    flagged = [line["id"] for line in lines if line["needs_human"]]
    assert flagged == ["2601.00002"]
    assert all(len(line["reviews"]) == 2 for line in lines)

    markdown = outs[2].read_text(encoding="utf-8")
    assert "1 paper needs a human: the two reviewers disagree about the threshold." in markdown
    section = markdown.split("## Needs a human", 1)[1]
    assert "### Disputed \\<b>paper\\</b> on KV caches" in section  # escaped, as in the list
    assert "- model-a: **Relevance: 80/100 | Hype:" in section
    assert "- model-b: **Relevance: 30/100 | Hype:" in section
    assert "Agreed" not in section

    html = outs[3].read_text(encoding="utf-8")
    section = html.split('id="needs-human"', 1)[1]
    assert "Disputed &lt;b&gt;paper&lt;/b&gt; on KV caches" in section
    assert "<b>paper</b>" not in html
    assert "<b>model-b</b>: Relevance 30/100" in section

    # scorer digest reads the panel's columns back from the rows.
    again = tmp_path / "again.md"
    redone = run(["digest", str(outs[1]), "-r", RUBRIC, "-o", str(again)], fake, isolated_env)
    assert redone.returncode == 0, redone.stderr
    assert "## Needs a human" in again.read_text(encoding="utf-8")


def test_asreview_export_leaves_a_paper_the_reviewers_disagree_on_unlabelled(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # ASReview reads an empty label as "not screened yet": the disputed paper is left for a
    # human there, not included on the first reviewer's word.
    script_reviewers(fake)
    source, out = write_papers(tmp_path / "papers.jsonl"), tmp_path / "screen.asreview.csv"
    args = ["batch", str(source), "-r", RUBRIC, "--reviewers", "model-a,model-b", "-o", str(out)]
    done = run(args, fake, isolated_env)

    assert done.returncode == 0, done.stderr
    assert "needs human 1" in done.stderr
    rows = {r["title"]: r for r in csv.DictReader(out.open(encoding="utf-8", newline=""))}
    assert {title: row["included"] for title, row in rows.items()} == {
        "Agreed: a fast LLM server": "1",
        DISPUTED: "",
        "Agreed: a slow compiler": "0",
    }
    assert rows[DISPUTED]["needs_human"] == "True"
    assert rows[DISPUTED]["relevance"] == "80"  # the first reviewer's score is still shown


def test_each_reviewer_has_its_own_cache_entries(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    script_reviewers(fake)
    script_reviewers(fake, second="model-c")
    source = write_papers(tmp_path / "papers.jsonl")
    args = ["batch", str(source), "-r", RUBRIC, "-o", str(tmp_path / "out.jsonl")]
    first = run([*args, "--reviewers", "model-a,model-b"], fake, isolated_env)
    assert first.returncode == 0, first.stderr
    assert fake.count == 6

    again = run([*args, "--reviewers", "model-a,model-b"], fake, isolated_env)
    assert again.returncode == 0, again.stderr
    assert fake.count == 6  # nothing sent: both reviewers' answers are cached
    assert "cached 3" in again.stderr

    other = run([*args, "--reviewers", "model-a,model-c"], fake, isolated_env)
    assert other.returncode == 0, other.stderr
    assert (fake.requests_for("model-a"), fake.requests_for("model-c")) == (3, 3)
    assert fake.count == 9  # only the new reviewer was asked


def test_the_library_and_the_environment_take_reviewers(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    script_reviewers(fake)
    settings = Settings.resolve(
        env={"SCORER_REVIEWERS": "model-a, model-b"},
        base_url=fake.base_url,
        api_key="sk-test",
        cache_dir=fake_settings.cache_dir,
    )
    results = {r.paper.id: r for r in score_many(PAPERS, RUBRIC, settings=settings)}
    assert [i for i, r in sorted(results.items()) if r.needs_human] == ["2601.00002"]
    assert [r.model for r in results["2601.00002"].reviews] == ["model-a", "model-b"]


def test_papers_waiting_for_a_reviewers_mode_probe_send_nothing_after_a_401(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    # model-x rejects the key on the first paper while model-y's mode probe (that paper's
    # other review) is in flight; the panel then cancels the probe, which frees the
    # papers waiting for model-y's verdict. The batch has stopped: they must not send.
    rubric = load_rubric(RUBRIC)
    base = dataclasses.replace(fake_settings, timeout=60.0, probe_wait=60.0)  # they wait
    panel = dataclasses.replace(base, reviewers=("model-x", "model-y"))
    rejected, waiting, cached = (
        {"title": f"{name} paper on KV caches", "abstract": f"{name} serving."}
        for name in ("Rejected", "Waiting", "Cached")
    )

    async def fill_cache() -> None:  # Cached by both models, Waiting by model-x only
        async with Scorer(panel) as both, Scorer(dataclasses.replace(base, model="model-x")) as x:
            assert (await both.ascore(cached, rubric)).ok
            assert (await x.ascore(waiting, rubric)).ok

    asyncio.run(fill_cache())
    fake.reset()
    fake.answer_model("model-x", Reply.unauthorized())
    fake.answer_model("model-y", Reply(delay=1.0))
    fake.hold()  # both probes reach the server before the 401 comes back

    def release_when_both_probes_arrived() -> None:
        deadline = time.monotonic() + 60  # a hang guard
        while fake.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        fake.release()

    releaser = threading.Thread(target=release_when_both_probes_arrived)
    releaser.start()
    scorer = Scorer(panel)
    consumer: asyncio.Task[Any] | None = None

    async def run() -> None:
        nonlocal consumer
        consumer = asyncio.current_task()
        async for result in scorer.ascore_many([rejected, waiting, cached], rubric):
            assert result.paper.title == cached["title"]
            # A pipeline busy with the result: the engine cancels nothing until it asks again.
            others = asyncio.all_tasks() - {consumer}
            await asyncio.wait(others, timeout=60)

    with pytest.raises(FatalBackendError) as info:
        asyncio.run(run())
    releaser.join()

    assert info.value.status_code == 401
    assert fake.requests_for("model-x") == 1
    assert fake.requests_for("model-y") == 1  # the probe only; Waiting's review never left


def test_a_rubric_can_name_its_reviewers(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    script_reviewers(fake)
    rubric = load_rubric(RUBRIC).model_dump(mode="json", exclude={"name"})
    text = "\n".join(
        [
            f"title = {json.dumps(rubric['title'])}",
            f"description = {json.dumps(rubric['description'])}",
            'reviewers = ["model-a", "model-b"]',
        ]
    )
    (tmp_path / "two.toml").write_text(text, encoding="utf-8")
    source = write_papers(tmp_path / "papers.jsonl")
    done = run(["batch", str(source), "-r", str(tmp_path / "two.toml")], fake, isolated_env)
    assert done.returncode == 0, done.stderr
    assert "needs human 1" in done.stderr


def test_bad_reviewers_are_one_clear_line(fake: FakeOpenAI, isolated_env: Path) -> None:
    args = ["score", "-r", RUBRIC, "--title", "T", "--abstract", "A"]
    for reviewers, message in [
        ("model-a", "--reviewers takes two model names"),
        ("model-a,model-a", "--reviewers needs two different models"),
    ]:
        done = run([*args, "--reviewers", reviewers], fake, isolated_env)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
    both = run([*args, "--reviewers", "a,b", "--cascade", "c,d"], fake, isolated_env)
    assert both.returncode == 2 and "not both" in both.stderr
    assert fake.count == 0


def fixture_slice(path: Path, step: int = 10) -> Path:
    """Every ``step``-th labelled paper of the eval fixture, both labels among them.

    The checks below hold on any labelled papers; the README's example runs
    both reviewers on the whole fixture (test_readme_examples_run_as_written).
    """
    with EVAL_FIXTURE.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)[::step]
    assert fields is not None and {r["label"] for r in rows} == {"yes", "no"}
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.DictWriter(f, fieldnames=fields)
        out.writeheader()
        out.writerows(rows)
    return path


def test_eval_prints_kappa_and_the_needs_human_count(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # The second reviewer never passes a paper, so it disagrees exactly where the
    # first one passes (the report's TP + FP), and agrees no better than chance.
    fake.answer_model("model-b", Reply(json_override={"relevance": 0}))
    source = fixture_slice(tmp_path / "labelled.csv")
    args = [str(source), "-r", "se-literature-reviews", "--reviewers", "model-a,model-b"]
    done = run(["eval", *args], fake, isolated_env)
    assert done.returncode == 0, done.stderr
    sent = fake.count

    again = run(["eval", *args, "--json"], fake, isolated_env)
    assert again.returncode == 0, again.stderr
    assert fake.count == sent  # both reviewers from the cache
    out = json.loads(again.stdout)
    passed_by_a = out["model"]["tp"] + out["model"]["fp"]
    assert passed_by_a > 0
    assert out["reviewers"]["needs_human"] == passed_by_a
    assert out["reviewers"]["kappa"] == 0.0
    assert out["reviewers"]["papers"] == 30
    assert (
        "reviewers model-a and model-b: Cohen's kappa 0.000 about the threshold (50) on "
        f"30 papers; needs_human {passed_by_a}"
    ) in done.stdout
    assert "needs a human, least certain first:" in done.stdout


def test_the_least_certain_disagreements_come_first(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    # logprob answers carry a certainty, |P(yes) - P(no)|; a paper's is its least sure reviewer's.
    answers = {  # title -> (model-a's P(yes), model-b's P(yes)); both papers are disputed
        "Fairly sure split": (0.9, 0.2),  # certainty min(0.8, 0.6) = 0.6
        "Unsure split": (0.75, 0.45),  # certainty min(0.5, 0.1) = 0.1
    }
    for title, (p_a, p_b) in answers.items():
        for model, p in (("model-a", p_a), ("model-b", p_b)):
            logprobs = {"Yes": math.log(p), "No": math.log(1 - p)}
            fake.answer_model(model, Reply(logprobs=logprobs), when=title)
    source = tmp_path / "labelled.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["title", "abstract", "label"])
        out.writerows([(title, f"{title}: a study.", "yes") for title in answers])
    common = ["-r", RUBRIC, "--method", "logprob", "--reviewers", "model-a,model-b"]
    digest, rows = tmp_path / "digest.md", tmp_path / "rows.csv"
    done = run(
        ["batch", str(source), *common, "-o", str(digest), "-o", str(rows)], fake, isolated_env
    )
    assert done.returncode == 0, done.stderr

    section = digest.read_text(encoding="utf-8").split("## Needs a human", 1)[1]
    assert section.index("### Unsure split") < section.index("### Fairly sure split")
    assert "*Certainty: 0.10*" in section and "*Certainty: 0.60*" in section
    certainty = {r["title"]: r["certainty"] for r in csv.DictReader(rows.open(encoding="utf-8"))}
    assert certainty == {"Fairly sure split": "0.6", "Unsure split": "0.1"}

    evaluated = run(["eval", str(source), *common], fake, isolated_env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert (
        "needs a human, least certain first:\n  - Unsure split\n  - Fairly sure split\n"
        in evaluated.stdout
    )


def test_the_service_answers_with_both_reviews_and_refuses_models_from_a_request(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    script_reviewers(fake)
    settings = dataclasses.replace(fake_settings, reviewers=("model-a", "model-b"))
    paper = PAPERS[1]
    with (
        serve_in_thread(create_app(settings, api_token=None)) as base_url,
        httpx.Client(base_url=base_url, timeout=20, trust_env=False, verify=False) as client,
    ):
        one = client.post("/v1/score", json={"paper": paper, "rubric": RUBRIC})
        batch = client.post("/v1/score/batch", json={"papers": PAPERS, "rubric": RUBRIC})
        inline = load_rubric(RUBRIC).model_dump(mode="json", exclude={"name"})
        chosen = {**inline, "reviewers": ["gpt-4o", "o1-pro"]}
        refused = client.post("/v1/score", json={"paper": paper, "rubric": chosen})
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["needs_human"] is True
    assert [(r["model"], r["scores"]["relevance"]) for r in body["reviews"]] == [
        ("model-a", 80),
        ("model-b", 30),
    ]
    lines = [json.loads(line) for line in batch.text.splitlines()]
    summary = lines[-1]["summary"]
    assert (summary["needs_human"], summary["kappa"]) == (1, pytest.approx(0.4))
    assert refused.status_code == 422 and "set on the server" in refused.text
    assert fake.requests_for("gpt-4o") == 0


def readme_commands() -> list[str]:
    """The commands of README's "Two reviewers and a cascade" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Two reviewers and a cascade\n", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_readme_examples_run_as_written(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = readme_commands()
    assert len(commands) == 3
    folder = tmp_path / "user"
    shutil.copytree(ROOT / "fixtures", folder / "fixtures")
    monkeypatch.chdir(folder)
    done = []
    for command in commands:
        typed = command.replace("http://localhost:8000/v1", fake.base_url)
        done.append(run_as_typed(typed, env={}))
        assert done[-1].returncode == 0, done[-1].stderr
        assert "Traceback" not in done[-1].stderr
    batch, reviewers, cascade = done
    assert re.search(r"reviewers kappa [-\d.n/a]+, needs human \d+", batch.stderr)
    header = (folder / "reviewed.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith(",needs_human,certainty,reviews")
    assert (folder / "reviewed.md").read_text(encoding="utf-8").startswith("# LLM inference")
    assert re.search(
        r"reviewers gpt-4.1-nano and gpt-4o: Cohen's kappa \S+ about the threshold \(50\) on "
        r"300 papers; needs_human \d+",
        reviewers.stdout,
    )
    assert re.search(
        r"cascade gpt-4.1-nano -> gpt-4o \(margin 15\): \d+ of 300 papers sent to gpt-4o\n"
        r"  cascade: recall at 50 \S+, ROC-AUC \S+, USD \$[\d.]+\n"
        r"  gpt-4o alone: recall at 50 \S+, ROC-AUC \S+, USD \$[\d.]+\n",
        cascade.stdout,
    )


def test_pandas_gets_needs_human(fake: FakeOpenAI, fake_settings: Settings) -> None:
    pandas = pytest.importorskip("pandas")
    from scorer.pandas import score_frame

    script_reviewers(fake)
    frame = pandas.DataFrame(PAPERS)
    settings = dataclasses.replace(fake_settings, reviewers=("model-a", "model-b"))
    out = score_frame(frame, RUBRIC, settings=settings)
    assert out["needs_human"].tolist() == [False, True, False]
    assert [len(reviews) for reviews in out["reviews"]] == [2, 2, 2]


def test_scorer_score_shows_a_disagreement_and_a_failed_reviewer_is_one_line(
    fake: FakeOpenAI, isolated_env: Path
) -> None:
    script_reviewers(fake)
    paper = PAPERS[1]
    args = ["score", "-r", RUBRIC, "--title", paper["title"], "--abstract", paper["abstract"]]
    done = run([*args, "--reviewers", "model-a,model-b"], fake, isolated_env)
    assert done.returncode == 0, done.stderr
    assert "needs a human: the reviewers disagree about the threshold (model-a 80, model-b 30)" in (
        done.stdout
    )

    fake.answer_model("model-x", Reply.context_length_exceeded())
    failed = run([*args, "--reviewers", "model-a,model-x"], fake, isolated_env)
    assert failed.returncode != 0
    assert "model-x:" in failed.stderr and "maximum context length" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_a_panel_given_wins_over_the_environments() -> None:
    env = {"SCORER_REVIEWERS": "model-a,model-b", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    assert str(Settings.resolve(env=env).panel) == "model-a,model-b"
    chosen = Settings.resolve(env=env, cascade="cheap,strong").panel
    assert chosen is not None and (chosen.policy, chosen.models) == ("cascade", ("cheap", "strong"))
