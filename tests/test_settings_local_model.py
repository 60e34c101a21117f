"""A GGUF file as the model, the embedded timeout, and when the demo-model notice is shown.

Nothing here starts llama.cpp: a GGUF file is checked and named before any
model is loaded, and the notice tests stop at an input error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from subprocesses import SCORER
from subprocesses import run as run_group

from scorer import Settings
from scorer._errors import ConfigError
from scorer._local_model import DEMO_NOTICE
from scorer._settings import DEFAULT_TIMEOUT, EMBEDDED_MODEL, EMBEDDED_TIMEOUT
from scorer.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def fake_gguf(path: Path, body: bytes = b"weights") -> Path:
    """A file that starts like a GGUF file (enough for naming; llama.cpp never sees it)."""
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + body)
    return path


def score_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["score", "-r", "llm-inference", "--title", "T", "--abstract", "A", *args],
        env=env or {},
        prog_name="scorer",
    )
    return result.exit_code, result.stderr


def test_a_gguf_path_runs_on_the_embedded_backend_even_with_an_api_key(tmp_path: Path) -> None:
    model = fake_gguf(tmp_path / "qwen2.5-0.5b-instruct-q4_k_m.gguf")
    settings = Settings.resolve(env={"SCORER_MODEL": str(model), "OPENAI_API_KEY": "sk-x"})
    assert settings.uses_embedded and not settings.uses_demo_model
    assert settings.model_id.startswith("qwen2.5-0.5b-instruct-q4_k_m.gguf#")
    # With an endpoint, a .gguf name is that server's model name (llama.cpp's server uses them).
    served = Settings.resolve(env={"SCORER_MODEL": "x.gguf", "OPENAI_BASE_URL": "http://h/v1"})
    assert not served.uses_embedded and served.model_id == "x.gguf"


def test_the_gguf_model_id_follows_the_content_not_the_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = fake_gguf(tmp_path / "a" / "model.gguf")
    moved = tmp_path / "b" / "model.gguf"
    shutil.copy(first, moved)
    other = fake_gguf(tmp_path / "model.gguf", body=b"other weights")

    def model_id(path: Path) -> str:
        return Settings.resolve(env={}, model=str(path)).model_id

    assert model_id(first) == model_id(moved)  # a moved file keeps its cached scores
    assert model_id(other) != model_id(first)  # another file at a known name does not
    assert EMBEDDED_MODEL not in {model_id(first), model_id(other)}


@pytest.mark.parametrize(
    ("kind", "message"),
    [("missing", "model file not found: "), ("folder", "is a folder"), ("text", "not a GGUF")],
)
def test_a_bad_model_file_is_one_line_and_exit_2(tmp_path: Path, kind: str, message: str) -> None:
    path = tmp_path / f"{kind}.gguf"
    if kind == "folder":
        path.mkdir()
    elif kind == "text":
        path.write_text("hello", encoding="utf-8")
    code, stderr = score_cli("--model", str(path))
    assert code == 2
    assert message in stderr and str(path) in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    with pytest.raises(ConfigError, match=message):
        Settings.resolve(env={"SCORER_MODEL": str(path)})


def test_the_embedded_model_waits_longer_unless_told(tmp_path: Path) -> None:
    assert Settings.resolve(env={}).timeout == EMBEDDED_TIMEOUT
    assert Settings.resolve(env={"SCORER_TIMEOUT": "30"}).timeout == 30
    assert Settings.resolve(env={}, timeout=5).timeout == 5
    assert Settings.resolve(env={"OPENAI_API_KEY": "sk-x"}).timeout == DEFAULT_TIMEOUT


def test_no_demo_notice_before_an_input_error(tmp_path: Path) -> None:
    # A process of its own, as the user runs it: the notice is a log record, which
    # Python prints on stderr when logging is not configured.
    bad = tmp_path / "papers.csv"
    bad.write_text("title,year\nA paper,2026\n", encoding="utf-8")  # no abstract column
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SCORER_"))}
    env["SCORER_CACHE_DIR"] = str(tmp_path / "cache")
    done = run_group(
        [SCORER, "batch", str(bad), "-r", "llm-inference"],
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "abstract" in done.stderr
    assert DEMO_NOTICE not in done.stderr and "SmolLM2" not in done.stderr
