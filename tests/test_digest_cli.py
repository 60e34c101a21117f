"""`scorer digest`: digests rendered from scored rows, without a model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from scorer.cli import cli
from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
SEED = (ROOT / "fixtures" / "seed_digest.md").read_text(encoding="utf-8")
SEED_SCORED = ROOT / "fixtures" / "seed_digest_scored.jsonl"
KITCHENHAM = ROOT / "fixtures" / "input_kitchenham_sample.csv"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_seed_rows_render_the_seed_without_its_duplicates(tmp_path: Path) -> None:
    header, *seed_blocks, tail = SEED.split("\n---\n")
    unique_blocks = list(dict.fromkeys(seed_blocks))
    scanned = len(SEED_SCORED.read_text(encoding="utf-8").splitlines()) - 7
    header = header.replace("**38**", f"**{len(unique_blocks)}**")
    header = header.replace("**654**", f"**{scanned}**")
    expected = "\n---\n".join([header, *unique_blocks, tail])

    out = tmp_path / "digest.md"
    code, stdout, stderr = invoke("digest", str(SEED_SCORED), "-r", "llm-inference", "-o", str(out))

    assert (code, stdout, stderr) == (0, "", "")
    assert out.read_text(encoding="utf-8") == expected
    code, stdout, _ = invoke("digest", str(SEED_SCORED), "-r", "llm-inference")
    assert code == 0 and stdout == expected


def test_digest_from_batch_csv_matches_the_batch_digest(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    rows, batch_md, again_md = tmp_path / "rows.csv", tmp_path / "a.md", tmp_path / "b.md"
    env = {"OPENAI_BASE_URL": fake.base_url}
    runner = CliRunner(env=env)
    batch = [
        "batch", str(KITCHENHAM), "-r", "software-fault-prediction", "--threshold", "40",
        "-o", str(rows), "-o", str(batch_md),
    ]  # fmt: skip
    done = runner.invoke(cli, batch, catch_exceptions=False)
    assert done.exit_code == 0, done.stderr

    code, _, stderr = invoke(
        "digest", str(rows), "-r", "software-fault-prediction", "--threshold", "40",
        "-o", str(again_md),
    )  # fmt: skip

    assert code == 0, stderr
    assert again_md.read_text(encoding="utf-8") == batch_md.read_text(encoding="utf-8")
    assert "out of **60** total scanned." in again_md.read_text(encoding="utf-8")


def test_failed_rows_count_as_scanned_and_bad_scores_are_reported(tmp_path: Path) -> None:
    scored = tmp_path / "scored.csv"
    with scored.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["title", "abstract", "relevance", "hype", "justification", "status", "error"])
        out.writerow(["Kept", "About KV caches.", "90", "10", "On topic.", "scored", ""])
        out.writerow(["Low", "Something else.", "20", "10", "Off topic.", "scored", ""])
        out.writerow(["Broke", "A paper.", "", "", "", "failed", "model timed out"])
        out.writerow(["Garbled", "A paper.", "ninety", "10", "Hmm.", "scored", ""])

    code, stdout, stderr = invoke("digest", str(scored), "-r", "llm-inference")

    assert code == 1
    assert "### Kept" in stdout and "### Low" not in stdout and "### Broke" not in stdout
    assert "**1** paper above threshold (70/100) out of **3** total scanned." in stdout
    assert "1 paper could not be scored (1 \N{MULTIPLICATION SIGN} model timed out)." in stdout
    assert "'ninety' is not a number" in stderr and "Garbled" in stderr


def test_threshold_override_and_unknown_format(tmp_path: Path) -> None:
    code, stdout, _ = invoke("digest", str(SEED_SCORED), "-r", "llm-inference", "--threshold", "95")
    assert code == 0
    rows = [json.loads(line) for line in SEED_SCORED.read_text(encoding="utf-8").splitlines()]
    top = {r["id"].split("v")[0] for r in rows if r["relevance"] >= 95}
    assert 0 < len(top) < 31
    assert stdout.count("\n### ") == len(top)
    assert f"**{len(top)}** papers above threshold (95/100)" in stdout

    code, _, stderr = invoke("digest", str(SEED_SCORED), "-r", "llm-inference", "-o", "x.pdf")
    assert code == 2 and "x.pdf: unknown digest format" in stderr
