"""The hostile corpus (tests/data/hostile) through `batch`, `digest`, `eval` and `score --paper`.

Run as a user types it (click's runner, the environment a user would set),
against the fake OpenAI server: every bad record is one line naming its line
number, the good records are scored, and no run ends in a traceback.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from scorer.cli import cli
from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "data" / "hostile"

# Line -> what its message says, for the records of each file that are skipped.
JSONL_SKIPPED = {
    2: "NUL byte",
    3: "title: invalid value 42",
    4: "authors: invalid value",
    5: "published: invalid date [2024, 1, 2]",
    6: "id: invalid value 2401.1",
    7: "published: invalid date True",
    8: "nested too deep",
    9: "nested too deep",
    11: "not valid JSON",
    12: "not a JSON object",
    14: "title: invalid value ['a', 'list']",
}
JSONL_NOTES = {10: "lone UTF-16 surrogates", 13: "not UTF-8 text"}
JSONL_GOOD = ["2401.00001", "2401.00010", "2401.00013", "2401.00015"]
CSV_SKIPPED = {
    3: "NUL byte",
    4: "8 fields but the header has 6",
    5: "new-line character seen in unquoted field",
    6: "NUL byte in the line (a damaged file?) (line 7)",
    8: "published: invalid date '2024-13-45'",
    9: "published: invalid date '99999'",
}
CSV_GOOD = ["2401.00001", "2401.00010", "2401.00011"]


def run(
    args: list[str], fake: FakeOpenAI, cache: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test-hostile",
        "SCORER_CACHE_DIR": str(cache),
    }
    result = CliRunner().invoke(cli, args, env=env, input=stdin, prog_name="scorer")
    # An exception escaping the command is what a user would see as a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def assert_reported(stderr: str, name: str, skipped: dict[int, str], notes: dict[int, str]) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    for number, text in skipped.items():
        prefix = f"{name}:{number}: skipped: "
        assert any(line.startswith(prefix) and text in line for line in lines), (prefix, text)
    for number, text in notes.items():
        prefix = f"{name}:{number}: note: "
        assert any(line.startswith(prefix) and text in line for line in lines), (prefix, text)
    reported = [line for line in lines if ": skipped: " in line]
    assert len(reported) == len(skipped), reported


@pytest.mark.parametrize(
    ("name", "skipped", "notes", "good"),
    [
        ("mixed.jsonl", JSONL_SKIPPED, JSONL_NOTES, JSONL_GOOD),
        ("mixed.csv", CSV_SKIPPED, {11: "not UTF-8 text"}, CSV_GOOD),
    ],
)
def test_batch_reports_each_bad_record_by_line_and_scores_the_rest(
    fake: FakeOpenAI,
    isolated_env: Path,
    tmp_path: Path,
    name: str,
    skipped: dict[int, str],
    notes: dict[int, str],
    good: list[str],
) -> None:
    source, out = HOSTILE / name, tmp_path / "out.jsonl"
    done = run(["batch", str(source), "-r", "llm-inference", "-o", str(out)], fake, isolated_env)
    assert done.returncode == 1, done.stderr  # some rows skipped
    assert_reported(done.stderr, str(source), skipped, notes)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(row["id"] for row in rows) == good
    assert all(row["status"] == "scored" for row in rows)
    assert fake.count == len(good)


def test_batch_from_stdin_reports_the_same_lines(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    data = (HOSTILE / "mixed.jsonl").read_bytes()
    done = run(["batch", "-", "-r", "llm-inference"], fake, isolated_env, stdin=data)
    assert done.returncode == 1, done.stderr
    assert_reported(done.stderr, "-", JSONL_SKIPPED, JSONL_NOTES)
    ids = sorted(json.loads(line)["id"] for line in done.stdout.splitlines())
    assert ids == JSONL_GOOD


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "utf16.csv",
            "UTF-16 text, not UTF-8; re-save it as UTF-8, e.g. `iconv -f utf-16 -t utf-8`",
        ),
        ("binary.jsonl", "NUL byte at line 1"),
    ],
)
def test_a_file_that_is_not_text_stops_with_one_line(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, name: str, message: str
) -> None:
    out = tmp_path / "out.csv"
    done = run(
        ["batch", str(HOSTILE / name), "-r", "llm-inference", "-o", str(out)], fake, isolated_env
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("scorer: error: ") and message in line
    assert fake.count == 0


def test_digest_over_results_with_hostile_records_appended(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results.jsonl"
    done = run(
        ["batch", str(HOSTILE / "mixed.jsonl"), "-r", "llm-inference", "-o", str(results)],
        fake,
        isolated_env,
    )
    assert done.returncode == 1, done.stderr
    scored = results.read_bytes().splitlines()
    hostile = (HOSTILE / "mixed.jsonl").read_bytes().splitlines()
    bad = [hostile[n - 1] for n in sorted(JSONL_SKIPPED)]
    source = tmp_path / "scored.jsonl"
    source.write_bytes(b"\n".join(scored + bad) + b"\n")
    moved = {len(scored) + i + 1: JSONL_SKIPPED[n] for i, n in enumerate(sorted(JSONL_SKIPPED))}

    digest = tmp_path / "digest.md"
    done = run(
        ["digest", str(source), "-r", "llm-inference", "-o", str(digest)], fake, isolated_env
    )
    assert done.returncode == 1, done.stderr  # rows were skipped
    assert_reported(done.stderr, str(source), moved, {})
    assert f"out of **{len(JSONL_GOOD)}** total scanned." in digest.read_text(encoding="utf-8")


def test_eval_reports_bad_records_and_evaluates_the_rest(
    fake: FakeOpenAI, isolated_env: Path
) -> None:
    source = HOSTILE / "mixed.jsonl"
    done = run(["eval", str(source), "-r", "llm-inference", "--json"], fake, isolated_env)
    assert done.returncode == 0, done.stderr
    assert_reported(done.stderr, str(source), JSONL_SKIPPED, JSONL_NOTES)
    metrics = json.loads(done.stdout)
    assert metrics["sent_to_model"] == len(JSONL_GOOD)
    assert fake.count == len(JSONL_GOOD)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("paper_deep.json", "nested too deep"),
        ("paper_nested40.json", "nested deeper than 32 levels"),
        ("paper_types.json", "title: Input should be a valid string"),
        ("paper_latin1.json", "not UTF-8 text (byte 0xe9 at line 1)"),
        ("paper_utf16.json", "UTF-16 text"),
        ("paper_nul.json", "not valid JSON"),
    ],
)
def test_score_paper_with_a_hostile_file_is_one_line_and_exit_2(
    fake: FakeOpenAI, isolated_env: Path, name: str, message: str
) -> None:
    path = HOSTILE / name
    done = run(["score", "-r", "llm-inference", "--paper", str(path)], fake, isolated_env)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("scorer: error: ") and message in line, line
    assert fake.count == 0


def test_score_paper_from_stdin_with_a_hostile_file(fake: FakeOpenAI, isolated_env: Path) -> None:
    data = (HOSTILE / "paper_deep.json").read_bytes()
    done = run(["score", "-r", "llm-inference"], fake, isolated_env, stdin=data)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line == "scorer: error: <stdin>: JSON nested too deep (more than 32 levels)"
