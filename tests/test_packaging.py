"""A built wheel carries prompts/ and rubrics/, and works outside the source tree."""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from subprocesses import run

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("uv") is None, reason="building the wheel uses uv")
def test_wheel_ships_prompts_and_rubrics(tmp_path: Path) -> None:
    built = run(["uv", "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)], timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("scorer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "scorer/_data/prompts/score.system.j2" in names
    assert "scorer/_data/prompts/score.user.j2" in names
    for rubric in (ROOT / "rubrics").glob("*.toml"):
        assert f"scorer/_data/rubrics/{rubric.name}" in names

    # Unpacked on its own (no source tree beside it), the package finds its data.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import scorer, scorer._resources as r; "
        "assert '_data' in str(r.resource_dir('rubrics')), r.resource_dir('rubrics'); "
        "print(scorer.load_rubric('llm-inference').title)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = run([sys.executable, "-c", code], cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LLM inference systems and I/O"
