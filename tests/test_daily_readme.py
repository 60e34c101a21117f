"""The README's "Daily digest" example runs: its config, its command, its cron line and workflow.

The config is the README's, word for word, but for the SMTP server's address
(``smtp.example.com:587`` with TLS becomes the test's plain SMTP server on
127.0.0.1). The environment points arXiv at the recorded responses, the model
at the fake server, and holds the secrets the config names.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import feedparser
import yaml
from in_process import run_scorer
from test_arxiv_source import RecordedArxiv
from test_daily import SmtpServer, Webhook, a_days_papers, html_titles, parts

from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("### Daily digest\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
CONFIG = re.findall(r"```toml\n(.*?)```", SECTION, flags=re.DOTALL)[0]
SHELL = re.findall(r"```sh\n(.*?)```", SECTION, flags=re.DOTALL)
WORKFLOW = re.findall(r"```yaml\n(.*?)```", SECTION, flags=re.DOTALL)[0]
COMMAND = SHELL[0].strip()
SMTP_PASSWORD = "readme-pw-8c1f2e"


def test_the_section_shows_a_command_a_cron_line_and_a_workflow() -> None:
    assert COMMAND == "uv run scorer run daily.toml"
    cron = SHELL[1].strip()
    assert re.match(r"^(\S+\s+){5}\S", cron) and cron.split(None, 5)[5].count(COMMAND) == 1
    workflow = yaml.safe_load(WORKFLOW)
    assert workflow[True]["schedule"][0]["cron"] == "30 6 * * 1-5"  # YAML 1.1 reads `on` as True
    steps = workflow["jobs"]["digest"]["steps"]
    run_step = next(step for step in steps if "run" in step)
    assert run_step["run"] == COMMAND
    assert set(run_step["env"]) >= {"SCORER_SMTP_PASSWORD", "SCORER_CHAT_URL"}
    assert any(step.get("with", {}).get("path") == "~/.cache/scorer" for step in steps)


def test_the_readme_config_runs_and_delivers(tmp_path: Path, fake: FakeOpenAI) -> None:
    with (
        RecordedArxiv([], default=a_days_papers()) as arxiv,
        SmtpServer(password=SMTP_PASSWORD) as smtp,
        Webhook() as chat,
    ):
        server = "mailtos://digest-bot@smtp.example.com:587"
        assert server in CONFIG
        local = CONFIG.replace(server, f"mailto://digest-bot@127.0.0.1:{smtp.port}")
        config = tmp_path / "daily.toml"
        config.write_text(local, encoding="utf-8")
        env = {
            "OPENAI_API_KEY": "sk-test-0123456789abcdef",
            "OPENAI_BASE_URL": fake.base_url,
            "SCORER_MODEL": "fake-model",
            "SCORER_ARXIV_URL": arxiv.base_url,
            "SCORER_ARXIV_DELAY": "0",
            "SCORER_SMTP_PASSWORD": SMTP_PASSWORD,
            "SCORER_CHAT_URL": f"json://127.0.0.1:{chat.port}/",
        }
        args = shlex.split(COMMAND)[3:]  # after "uv run scorer"
        result = run_scorer([*args[:-1], str(config)], env=env)
        assert result.returncode == 0, result.stderr
        assert "cat:cs.DC OR cat:cs.LG" in arxiv.requests[0][1]["search_query"]
        assert "prefilter: 5 of 10 papers go to the model" in result.stderr
        assert fake.count == 5
        assert len(smtp.messages) == 1 and len(chat.posts) == 1
        markdown = (tmp_path / "digests" / "latest.md").read_text(encoding="utf-8")
        titles = re.findall(r"^### (.+)$", markdown, flags=re.MULTILINE)
        if titles:
            assert html_titles(parts(smtp.parsed())["text/html"]) == titles
        else:  # the fake put none above 70: the notice went out
            assert "Nothing new today" in parts(smtp.parsed())["text/plain"]
        feed = feedparser.parse((tmp_path / "digests" / "feed.atom").read_bytes())
        assert not feed.bozo and len(feed.entries) == len(titles)
