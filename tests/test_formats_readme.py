"""The README's "Screening with reference managers" examples, run as written against the fake."""

from __future__ import annotations

import csv
import re
import shlex
import shutil
from pathlib import Path

import pytest
import rispy
from in_process import run_scorer

from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("### Screening with reference managers\n", 1)[1].split("\n### ", 1)[0]
COMMANDS = [
    line.removeprefix("$ ")
    for block in re.findall(r"```console\n(.*?)```", SECTION, flags=re.DOTALL)
    for line in block.splitlines()
    if line.startswith("$ ")
]


def test_the_section_has_its_examples() -> None:
    assert len(COMMANDS) == 3
    assert all(command.startswith("uv run scorer ") for command in COMMANDS)


def test_the_examples_run_and_write_what_they_say(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "user"
    shutil.copytree(ROOT / "fixtures", folder / "fixtures")
    monkeypatch.chdir(folder)
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(isolated_env)}
    outputs = []
    for command in COMMANDS:
        args = shlex.split(command.removeprefix("uv run scorer "))
        done = run_scorer(args, env=env)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        outputs += [args[i + 1] for i, arg in enumerate(args) if arg == "-o"]
        if args[0] == "eval":
            assert "ROC AUC" in done.stdout

    assert sorted(outputs) == ["screened.asreview.csv", "screened.bib", "screened.ris"]
    scored = rispy.loads((folder / "screened.ris").read_text(encoding="utf-8"))
    assert len(scored) == 3
    assert all(entry["notes"][0].startswith("scorer: relevance ") for entry in scored)
    rows = list(csv.DictReader((folder / "screened.asreview.csv").open(encoding="utf-8")))
    assert {row["included"] for row in rows} <= {"0", "1"} and len(rows) == 3
    assert "note = {scorer: relevance " in (folder / "screened.bib").read_text(encoding="utf-8")
