"""The README's command-line examples run, as written, as a user would type them.

Each runs in a fresh folder holding a copy of ``fixtures/`` (``uv run`` finds
the project through ``UV_PROJECT``), so the files an example writes, such as
the quick start's ``digest.md``, never touch the user's own in the checkout.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from in_process import run_as_typed
from subprocesses import run
from test_arxiv_source import RECORDINGS, RecordedArxiv, recording

from scorer import Settings
from scorer.service import create_app
from scorer.service._background import serve_in_thread
from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE_ENDPOINT = "http://localhost:8000/v1"

# Set-up and developer commands are what CI itself runs; the rest are examples.
NOT_EXAMPLES = ("pip install", "uv run --group dev")


def console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, flags=re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    commands = [line[2:].split("  #")[0].strip() for line in lines if line.startswith("$ ")]
    return [c for c in commands if not c.startswith(NOT_EXAMPLES)]


COMMANDS = console_commands()


def test_readme_has_the_examples_we_promise() -> None:
    assert any(c.startswith("uv run scorer score --rubric llm-inference --title") for c in COMMANDS)
    assert any(EXAMPLE_ENDPOINT in c for c in COMMANDS)
    assert "$ pip install uv" in README and "$ uv run --group dev pytest" in README


@pytest.fixture(scope="module")
def arxiv_api() -> Iterator[RecordedArxiv | None]:
    """The arXiv API for the README's arXiv examples: recorded responses on loopback.

    No recording matches the examples' searches, so every search gets the
    recorded answer for one paper (1707.08567).
    """
    if not RECORDINGS:
        yield None
        return
    with RecordedArxiv(RECORDINGS, default=recording("id_1707.08567")) as server:
        yield server


@pytest.fixture(scope="module")
def readme_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for all the examples, as for a user who runs them in turn.

    The JSONL examples then find the quick start's papers (the same 50
    listings) in the cache instead of scoring all 43 on the embedded model
    again, about a minute each.
    """
    return tmp_path_factory.mktemp("readme-cache")


@pytest.mark.embedded
@pytest.mark.skipif(shutil.which("uv") is None, reason="the README's commands need uv")
@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(
    command: str,
    fake: FakeOpenAI,
    readme_cache: Path,
    tmp_path: Path,
    arxiv_api: RecordedArxiv | None,
) -> None:
    if "--batch-api" in command:
        pytest.skip("run by test_readme_batch_api_example")
    command = command.replace(EXAMPLE_ENDPOINT, fake.base_url)
    env = {**os.environ, "SCORER_CACHE_DIR": str(readme_cache), "UV_PROJECT": str(ROOT)}
    if "arxiv" in command:
        if arxiv_api is None:
            pytest.skip("recorded arXiv responses not present")
        env |= {"SCORER_ARXIV_URL": arxiv_api.base_url, "SCORER_ARXIV_DELAY": "0"}
    folder = tmp_path / "user"
    shutil.copytree(ROOT / "fixtures", folder / "fixtures")
    before, root_before = set(folder.iterdir()), set(ROOT.iterdir())

    done = run(["bash", "-c", command], cwd=folder, env=env, timeout=300)

    written = {
        path.name: path.read_text(encoding="utf-8") for path in set(folder.iterdir()) - before
    }
    assert set(ROOT.iterdir()) == root_before
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    named = set(re.findall(r"(?:-o |> |--report )(\S+)", command))
    assert named == set(written)
    if "scorer eval" in command:
        assert "ROC AUC" in done.stdout and "TF-IDF baseline" in done.stdout
    if "scorer batch" in command:
        assert re.search(r"scorer: scanned \d+, unique \d+, scored \d+", done.stderr)
    for name, text in written.items():
        if name.endswith(".md"):
            assert text.startswith("# LLM inference systems and I/O\n")
        if name == "papers.csv":
            assert text.startswith("id,title,abstract,authors,published,url,pdf_url")
            assert "1707.08567" in text
        if name.endswith(".html") and "scorer eval" in command:
            assert text.count("<svg") >= 2
        elif name.endswith(".html"):
            assert "<svg" in text and "LLM inference systems and I/O" in text
        if name.endswith(".jsonl"):
            # "cached": the quick start scored these papers into the shared cache.
            rows = [json.loads(line) for line in text.splitlines()]
            assert rows and all(row["status"] in ("scored", "cached") for row in rows)
    if "scorer score" in command:
        if "--format json" in command:
            assert set(json.loads(done.stdout)["scores"]) == {"relevance", "hype"}
        else:
            assert re.search(r"Relevance: \d+/100 \| Hype: \d+/100", done.stdout)
        assert ("embedded SmolLM2" in done.stderr) == (fake.base_url not in command)
    if fake.base_url in command:
        assert fake.count == 1


def service_examples() -> list[str]:
    """The README's curl examples against ``scorer serve`` (command lines, not their output)."""
    examples = []
    for block in re.findall(r"```shell\n(.*?)```", README, flags=re.DOTALL):
        if not block.startswith(("curl", "printf")) or "localhost:8000/v1/score" not in block:
            continue
        lines = []
        for line in block.splitlines():
            if line.startswith("{"):  # the example's output
                break
            lines.append(line)
        examples.append("\n".join(lines))
    return examples


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl")
def test_readme_service_examples_run(fake: FakeOpenAI, fake_settings: Settings) -> None:
    examples = service_examples()
    assert len(examples) == 3  # /v1/score, /v1/score/batch with JSON and with NDJSON
    with serve_in_thread(create_app(fake_settings, api_token=None)) as base_url:
        address = base_url.removeprefix("http://").rstrip("/")
        outputs = []
        for example in examples:
            done = run(
                ["bash", "-c", example.replace("localhost:8000", address)],
                timeout=60,
                env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
            )
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
    scored = json.loads(outputs[0])
    assert set(scored["scores"]) == {"relevance", "hype"}
    lines = [json.loads(line) for line in outputs[1].splitlines()]
    assert {line["paper"]["title"] for line in lines[:-1]} == {"A", "B"}
    assert lines[-1]["summary"]["complete"] is True
    ndjson = [json.loads(line) for line in outputs[2].splitlines()]
    assert [line["paper"]["title"] for line in ndjson if "paper" in line] == ["A"]
    assert {"line": 3} in [{"line": line["line"]} for line in ndjson if "line" in line]
    assert ndjson[-1]["summary"]["invalid"] == 1
    assert fake.count == 3  # "A" was scored by the batch example already


def test_readme_files_example_runs(
    fake: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The library route to what `scorer batch` does: the README's own code,
    # against the fake server, in a folder holding the seed's 50 listings. Run as
    # a script in this process (a fresh interpreter would import openai again).
    block = next(
        code
        for code in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
        if "open_sinks" in code
    )
    (tmp_path / "example.py").write_text(block, encoding="utf-8")
    shutil.copy(ROOT / "fixtures" / "seed_papers.csv", tmp_path / "papers.csv")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("SCORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)

    runpy.run_path(str(tmp_path / "example.py"), run_name="__main__")

    assert "scanned 50, unique 43, scored 43" in capsys.readouterr().out
    assert fake.count == 43
    assert (tmp_path / "digest.md").read_text().startswith("# LLM inference systems and I/O\n")
    assert (tmp_path / "scored.csv").read_text().startswith("id,title,abstract")


def test_readme_batch_api_example(
    fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Batch API example, against the fake's files and batches endpoints.

    Run as typed in this process: how ``uv run`` starts scorer is what the other
    README commands check, and a fresh ``uv run`` costs seconds.
    """
    (command,) = [c for c in COMMANDS if "--batch-api" in c]
    folder = tmp_path / "user"
    shutil.copytree(ROOT / "fixtures", folder / "fixtures")
    monkeypatch.chdir(folder)
    env = {"SCORER_CACHE_DIR": str(tmp_path / "cache")}
    done = run_as_typed(command.replace(EXAMPLE_ENDPOINT, fake.base_url), env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "Batch API: collected 43, failed 0" in done.stderr
    assert "at the batch price" in done.stderr
    assert "scanned 50, unique 43, scored 43" in done.stderr
    rows = (folder / "backfill.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 44 and rows[0].startswith("id,title,abstract")
    assert len(fake.batch_api.created) == 1 and fake.count == 0  # no paper asked online
