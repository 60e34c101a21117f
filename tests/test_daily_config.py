"""``scorer run`` refuses a bad config with one line naming the key, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from in_process import run_scorer

from scorer.daily import load_config
from scorer.testing import FakeOpenAI

GOOD = """
[[file]]
path = "papers.csv"

[[digest]]
rubric = "llm-inference"
outputs = ["digest.md"]
send_to = ["me"]

[targets.me]
url_env = "SCORER_TEST_URL"
"""


def run_config(tmp_path: Path, text: str) -> tuple[int, list[str]]:
    config = tmp_path / "daily.toml"
    config.write_text(text, encoding="utf-8")
    result = run_scorer(["run", str(config)], env={})
    return result.returncode, result.stderr.strip().splitlines()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("[[digest]]", "[[digest]]\nrubrik = 'x'"), "digest[0].rubrik: unknown key"),
        (("[targets.me]", "[targets.me]\npassword = 'hunter22'"), "targets.me.password: unknown"),
        (('send_to = ["me"]', 'send_to = ["team"]'), "digest[0].send_to: unknown target 'team'"),
        (("[[file]]", "on_empty = 'maybe'\n[[file]]"), "on_empty: Input should be 'notify'"),
        (("[[file]]", "[prefilter]\ntop = 'lots'\n[[file]]"), "prefilter.top: expected a share"),
        (("[[file]]", "[[arxiv]]\nsince = 'yesterday'\n[[file]]"), "arxiv[0].since: "),
        (("[[file]]", "[[arxiv]]\ndays = 2\n[[file]]"), "arxiv[0]: an arXiv source needs"),
        (('url_env = "SCORER_TEST_URL"', ""), "targets.me: give exactly one of url, url_env"),
        (("[[file]]", "[model]\nconcurrency = 0\n[[file]]"), "model.concurrency: Input should"),
        (('rubric = "llm-inference"\n', ""), "digest[0].rubric: missing"),
    ],
)
def test_a_wrong_key_is_one_line_that_names_it(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    code, lines = run_config(tmp_path, GOOD.replace(*change))
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"scorer: error: {tmp_path / 'daily.toml'}: {expected}"), lines[0]
    assert "hunter22" not in lines[0]


def test_not_toml_and_no_file_are_one_line(tmp_path: Path) -> None:
    code, lines = run_config(tmp_path, "[[digest]\n")
    assert code == 2 and len(lines) == 1 and "not valid TOML" in lines[0]
    result = run_scorer(["run", str(tmp_path / "missing.toml")], env={})
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"scorer: error: {tmp_path / 'missing.toml'}: no such config file"
    )


def test_no_sources_is_refused(tmp_path: Path) -> None:
    code, lines = run_config(tmp_path, GOOD.replace('[[file]]\npath = "papers.csv"\n', ""))
    assert code == 2
    assert lines[0].endswith("no papers: add an [[arxiv]] or a [[file]] source")


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "daily.toml"
    config.write_text('state = "state/s.sqlite3"\n' + GOOD, encoding="utf-8")
    loaded = load_config(config)
    assert loaded.state == tmp_path / "conf" / "state" / "s.sqlite3"
    assert loaded.file[0].path == tmp_path / "conf" / "papers.csv"
    assert loaded.digest[0].outputs == [tmp_path / "conf" / "digest.md"]


def test_a_file_source_is_scored_and_its_digest_written(tmp_path: Path, fake: FakeOpenAI) -> None:
    root = Path(__file__).resolve().parents[1]
    text = (
        f'[model]\nbase_url = "{fake.base_url}"\nmodel = "fake-model"\n'
        f'[[file]]\npath = "{root / "fixtures" / "seed_papers.csv"}"\n'
        '[[digest]]\nrubric = "llm-inference"\noutputs = ["out/digest.md", "out/digest.atom"]\n'
    )
    config = tmp_path / "daily.toml"
    config.write_text(text, encoding="utf-8")
    result = run_scorer(["run", str(config)], env={"OPENAI_API_KEY": "sk-test-0123456789abcdef"})
    assert result.returncode == 0, result.stderr
    digest = (tmp_path / "out" / "digest.md").read_text(encoding="utf-8")
    assert digest.startswith("# LLM inference systems and I/O\n")
    assert (tmp_path / "out" / "digest.atom").read_text(encoding="utf-8").startswith("<?xml")
    assert fake.count > 0


@pytest.mark.parametrize("state", ["papers.csv", "out/digest.md"])
def test_a_state_file_that_is_an_input_or_an_output_is_refused(
    tmp_path: Path, fake: FakeOpenAI, state: str
) -> None:
    # SQLite would keep its records in the digest (which the run then replaces,
    # losing them) or fail on the papers file after the papers were scored.
    root = Path(__file__).resolve().parents[1]
    papers = tmp_path / "papers.csv"
    papers.write_bytes((root / "fixtures" / "seed_papers.csv").read_bytes())
    text = (
        f'state = "{state}"\n[model]\nbase_url = "{fake.base_url}"\nmodel = "fake-model"\n'
        '[[file]]\npath = "papers.csv"\n'
        '[[digest]]\nrubric = "llm-inference"\noutputs = ["out/digest.md"]\n'
    )
    code, lines = run_config(tmp_path, text)
    assert code == 2, lines
    assert lines[-1].endswith(f"state: {tmp_path / state} is also an input or output file")
    assert papers.read_bytes() == (root / "fixtures" / "seed_papers.csv").read_bytes()
    assert not (tmp_path / "out" / "digest.md").exists()
    assert fake.count == 0
