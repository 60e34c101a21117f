"""``scorer run CONFIG.toml`` end to end, against real servers on 127.0.0.1.

- the arXiv API answering with recorded responses (``RecordedArxiv`` from
  test_arxiv_source: the recorded search for "testing", or the recorded empty
  answer for an empty day);
- the fake OpenAI server (``fake``), which counts what it is asked;
- an SMTP server (aiosmtpd) that records each message it accepts, and can
  require a login or refuse messages;
- an HTTP receiver standing in for a chat webhook.

Every count asserted is counted at a server.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from in_process import run_scorer
from test_arxiv_source import RecordedArxiv, Recording
from test_cache_faults import files_open_under, no_garbage_collection

from scorer.testing import FakeOpenAI, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "arxiv_daily"
API_KEY = "sk-test-0123456789abcdef"
SMTP_PASSWORD = "pw-Zq8#mailsecret"
HOOK_TOKEN = "hooktoken-9f8e7d6c5b4a"
TODAY = "2026-02-27"


class SmtpServer:
    """aiosmtpd on a loopback port: keeps every message accepted, refuses while ``refuse > 0``."""

    def __init__(self, *, password: str | None = None) -> None:
        self.messages: list[bytes] = []
        self.refuse = 0
        self.logins: list[tuple[str, str]] = []
        self._password = password
        outer = self

        class Handler:
            async def handle_DATA(
                self, server: SMTPServer, session: Session, envelope: Envelope
            ) -> str:
                if outer.refuse > 0:
                    outer.refuse -= 1
                    return "451 4.3.0 try again later"
                outer.messages.append(bytes(envelope.original_content or b""))
                return "250 OK"

        def authenticate(
            server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            assert isinstance(data, LoginPassword)
            user, given = data.login.decode(), data.password.decode()
            outer.logins.append((user, given))
            return AuthResult(success=given == self._password, handled=False)

        with socket.socket() as probe:  # aiosmtpd's controller cannot bind port 0 itself
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        options: dict[str, Any] = {}
        if password is not None:
            options = {"authenticator": authenticate, "auth_require_tls": False}
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)

    def url(self, user: str = "digest") -> str:
        return (
            f"mailto://{user}@127.0.0.1:{self.port}?to=reader@example.com&from=digest@example.com"
        )

    def parsed(self, index: int = -1) -> EmailMessage:
        message = email.message_from_bytes(self.messages[index], policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class Webhook:
    """An HTTP receiver standing in for a chat webhook: keeps each POST; answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((self.path, dict(self.headers), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(password=SMTP_PASSWORD) as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as server:
        yield server


def recorded(name: str) -> Recording:
    """A recorded arXiv answer from fixtures/arxiv_daily (see its README for provenance)."""
    record = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return Recording(name, {}, record["status_code"], record["body"].encode())


def a_days_papers() -> Recording:
    """The recorded answer to a search for "testing" (10 papers), as a whole day's listing.

    The recording says the search found 214881 papers; a day's listing is its
    first 10, so the total is rewritten to 10 and the source stops paging.
    """
    recording = recorded("search_testing_10.json")
    body = re.sub(
        rb"<opensearch:totalResults>\d+<", b"<opensearch:totalResults>10<", recording.body
    )
    return replace(recording, body=body)


@pytest.fixture(scope="module")
def arxiv_day() -> Iterator[RecordedArxiv]:
    """arXiv on a day with papers: every search gets the recorded 10 papers."""
    with RecordedArxiv([], default=a_days_papers()) as server:
        yield server


@pytest.fixture(scope="module")
def arxiv_empty() -> Iterator[RecordedArxiv]:
    """arXiv on a day with nothing: the recorded answer with no entries."""
    with RecordedArxiv([], default=recorded("empty.json")) as server:
        yield server


def write_config(
    folder: Path,
    fake: FakeOpenAI,
    arxiv: RecordedArxiv,
    *,
    targets: str,
    send_to: str,
    extra: str = "",
    digest_extra: str = "",
) -> Path:
    config = folder / "daily.toml"
    config.write_text(
        f"""{extra}
[model]
base_url = "{fake.base_url}"
model = "fake-model"

[[arxiv]]
query = "testing"
since = "last-run"
max_results = 10
url = "{arxiv.base_url}"
delay = 0

[[digest]]
rubric = "llm-inference"
threshold = 40
outputs = ["out/digest.md", "out/digest.atom"]
send_to = [{send_to}]
{digest_extra}

{targets}
""",
        encoding="utf-8",
    )
    return config


def mail_target(smtp: SmtpServer) -> str:
    return f"""[targets.mail]
url = "{smtp.url()}"
password_env = "SCORER_TEST_SMTP_PASSWORD"
"""


ENV = {"OPENAI_API_KEY": API_KEY, "SCORER_TEST_SMTP_PASSWORD": SMTP_PASSWORD}


def scorer_run(config: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return run_scorer(["run", str(config), "--today", TODAY, *args], env={**ENV, **(env or {})})


def digest_titles(markdown: str) -> list[str]:
    """The titles a Markdown digest lists, in order (above the threshold only)."""
    above = markdown.split("\n## ", 1)[0]
    return re.findall(r"^### (.+)$", above, flags=re.MULTILINE)


def html_titles(html: str) -> list[str]:
    import html as html_module

    return [
        html_module.unescape(re.sub(r"<[^>]+>", "", t))
        for t in re.findall(r"<h3[^>]*>(.*?)</h3>", html, flags=re.DOTALL)
    ]


def parts(message: EmailMessage) -> dict[str, str]:
    out = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            assert isinstance(part, EmailMessage)
            out[part.get_content_type()] = str(part.get_content())
    return out


def test_run_mails_the_digest_that_scorer_batch_writes(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(tmp_path, fake, arxiv_day, targets=mail_target(smtp), send_to='"mail"')
    result = scorer_run(config)
    assert result.returncode == 0, result.stderr
    assert "scorer: fetched 10 papers from arXiv" in result.stderr
    assert re.search(r"llm-inference: scanned 10, unique 10, scored 10", result.stderr)
    assert len(smtp.messages) == 1
    assert smtp.logins == [("digest", SMTP_PASSWORD)]  # the secret went to the server's AUTH ...
    source = smtp.messages[0].decode()
    assert SMTP_PASSWORD not in source  # ... and nowhere into the message

    # The same papers through `scorer batch`: the mail lists exactly its digest's papers.
    fake.reset()
    batch = run_scorer(
        [
            "batch",
            "--arxiv",
            "testing",
            "--max-results",
            "10",
            "--arxiv-url",
            arxiv_day.base_url,
            "--arxiv-delay",
            "0",
            "-r",
            "llm-inference",
            "--threshold",
            "40",
            "--base-url",
            fake.base_url,
            "--model",
            "fake-model",
            "-o",
            str(tmp_path / "batch.md"),
        ],
        env=ENV,
    )
    assert batch.returncode == 0, batch.stderr
    assert fake.count == 0  # every paper came from the cache the run filled
    expected = digest_titles((tmp_path / "batch.md").read_text(encoding="utf-8"))
    assert expected, "the fake's scores put no paper above the threshold: the test proves nothing"
    assert expected == digest_titles((tmp_path / "out" / "digest.md").read_text("utf-8"))

    message = smtp.parsed()
    assert message["Subject"] == f"LLM inference systems and I/O: {len(expected)} papers ({TODAY})"
    assert message.get_content_type() == "multipart/alternative"
    bodies = parts(message)
    html, text = bodies["text/html"], bodies["text/plain"]
    assert html_titles(html) == expected
    assert "<script" not in html.lower() and "<style" not in html.lower()
    assert 'style="' in html  # styles inline, as mail clients need
    for title in expected:
        assert " ".join(title.split()) in " ".join(text.split())
    assert "https://arxiv.org/abs/" in text  # links survive in the text part


def test_a_second_run_the_same_day_sends_nothing_and_scores_nothing(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer, webhook: Webhook
) -> None:
    targets = mail_target(smtp) + f'\n[targets.chat]\nurl = "json://127.0.0.1:{webhook.port}/"\n'
    config = write_config(tmp_path, fake, arxiv_day, targets=targets, send_to='"mail", "chat"')
    first = scorer_run(config)
    assert first.returncode == 0, first.stderr
    assert (len(smtp.messages), len(webhook.posts), fake.count) == (1, 1, 10)

    second = scorer_run(config, "--detailed-exitcode")
    assert second.returncode == 6, second.stderr  # nothing new
    assert (len(smtp.messages), len(webhook.posts), fake.count) == (1, 1, 10)
    assert "nothing new for mail (llm-inference): nothing sent" in second.stderr
    assert scorer_run(config).returncode == 0  # without the flag a quiet day is a success


def test_an_empty_day_sends_one_short_notice_and_exits_0(
    tmp_path: Path, fake: FakeOpenAI, arxiv_empty: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(tmp_path, fake, arxiv_empty, targets=mail_target(smtp), send_to='"mail"')
    result = scorer_run(config)
    assert result.returncode == 0, result.stderr
    assert "fetched 0 papers" in result.stderr
    assert fake.count == 0
    assert len(smtp.messages) == 1
    notice = smtp.parsed()
    assert notice["Subject"] == f"LLM inference systems and I/O: nothing new ({TODAY})"
    assert "Nothing new today" in parts(notice)["text/plain"]
    assert len(smtp.messages[0]) < 4000  # a short note, not an empty digest page
    # The digest files are still written (empty), for a feed reader or a web page.
    assert "**0** papers above threshold" in (tmp_path / "out" / "digest.md").read_text("utf-8")

    again = scorer_run(config)  # cron retried, or a second run by hand: no second notice
    assert again.returncode == 0, again.stderr
    assert len(smtp.messages) == 1


def test_an_empty_day_with_on_empty_skip_sends_nothing(
    tmp_path: Path, fake: FakeOpenAI, arxiv_empty: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(
        tmp_path,
        fake,
        arxiv_empty,
        targets=mail_target(smtp),
        send_to='"mail"',
        extra='on_empty = "skip"',
    )
    result = scorer_run(config, "--detailed-exitcode")
    assert result.returncode == 6, result.stderr
    assert smtp.messages == []


def test_a_failed_delivery_is_sent_on_the_next_run_without_scoring_again(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(tmp_path, fake, arxiv_day, targets=mail_target(smtp), send_to='"mail"')
    smtp.refuse = 1
    failed = scorer_run(config)
    assert failed.returncode == 5, failed.stderr
    assert "delivery to mail (llm-inference) failed" in failed.stderr
    assert "retried on the next run" in failed.stderr
    assert SMTP_PASSWORD not in failed.stderr
    assert smtp.messages == [] and fake.count == 10

    retried = scorer_run(config)
    assert retried.returncode == 0, retried.stderr
    assert len(smtp.messages) == 1
    assert fake.count == 10  # the scores came from the cache
    assert html_titles(parts(smtp.parsed())["text/html"]) == digest_titles(
        (tmp_path / "out" / "digest.md").read_text("utf-8")
    )


def test_the_window_starts_at_the_last_run_that_delivered_everything(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(tmp_path, fake, arxiv_day, targets=mail_target(smtp), send_to='"mail"')
    arxiv_day.reset()
    smtp.refuse = 1
    assert scorer_run(config, env={}).returncode == 5  # 2026-02-27, first run: 2 days back
    assert scorer_run(config).returncode == 0
    run_next_day = run_scorer(["run", str(config), "--today", "2026-02-28"], env=ENV)
    assert run_next_day.returncode == 0, run_next_day.stderr
    windows = [
        re.search(r"submittedDate:\[(\d{8})0000 TO (\d{8})2359\]", params["search_query"])
        for _, params in arxiv_day.requests
    ]
    assert [w.groups() if w else None for w in windows] == [
        ("20260225", "20260227"),  # no run yet: first_days (2) back
        ("20260225", "20260227"),  # the delivery failed: the same window again
        ("20260227", "20260228"),  # from the last day everything went out
    ]


def test_a_chat_webhook_gets_the_markdown_digest(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, webhook: Webhook
) -> None:
    targets = '[targets.chat]\nurl_env = "SCORER_TEST_CHAT_URL"\n'
    config = write_config(tmp_path, fake, arxiv_day, targets=targets, send_to='"chat"')
    chat_url = f"json://127.0.0.1:{webhook.port}/hooks/{HOOK_TOKEN}"
    result = scorer_run(config, env={"SCORER_TEST_CHAT_URL": chat_url})
    assert result.returncode == 0, result.stderr
    assert len(webhook.posts) == 1
    path, headers, body = webhook.posts[0]
    assert path == f"/hooks/{HOOK_TOKEN}"
    assert headers["Content-Type"].startswith("application/json")
    payload = json.loads(body)
    assert payload["title"].startswith("LLM inference systems and I/O: ")
    expected = digest_titles((tmp_path / "out" / "digest.md").read_text("utf-8"))
    assert expected and digest_titles(payload["message"]) == expected
    assert "sent " in result.stderr and HOOK_TOKEN not in result.stderr


def test_secrets_stay_out_of_logs_and_errors_when_deliveries_fail(
    tmp_path: Path,
    fake: FakeOpenAI,
    arxiv_day: RecordedArxiv,
    smtp: SmtpServer,
    webhook: Webhook,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # an application that logs everything, apprise's too
    webhook.status = 500
    targets = (mail_target(smtp) + '\n[targets.chat]\nurl_env = "SCORER_TEST_CHAT_URL"\n').replace(
        "SCORER_TEST_SMTP_PASSWORD", "SCORER_TEST_WRONG_PASSWORD"
    )
    config = write_config(tmp_path, fake, arxiv_day, targets=targets, send_to='"mail", "chat"')
    wrong = "pw-wrong-Kx93secret"
    chat_url = f"json://127.0.0.1:{webhook.port}/hooks/{HOOK_TOKEN}?token={HOOK_TOKEN}"
    result = scorer_run(
        config, env={"SCORER_TEST_CHAT_URL": chat_url, "SCORER_TEST_WRONG_PASSWORD": wrong}
    )
    assert result.returncode == 5, result.stderr
    assert set(smtp.logins) == {("digest", wrong)} and len(webhook.posts) == 1  # both tried
    assert "delivery to mail (llm-inference) failed" in result.stderr
    assert "delivery to chat (llm-inference) failed" in result.stderr
    seen = result.stdout + result.stderr + caplog.text
    for secret in (wrong, HOOK_TOKEN, chat_url):
        assert secret not in seen
    assert not [r for r in caplog.records if r.name.startswith("apprise")]


def test_a_password_written_in_the_config_is_refused(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer
) -> None:
    inline = smtp.url().replace("digest@127", f"digest:{SMTP_PASSWORD}@127")
    targets = f'[targets.mail]\nurl = "{inline}"\n'
    config = write_config(tmp_path, fake, arxiv_day, targets=targets, send_to='"mail"')
    arxiv_day.reset()
    result = scorer_run(config)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "scorer: error: targets.mail.url: the URL holds a password in clear; put it in "
        "password_env or password_file, or the whole URL in url_env or url_file"
    ]
    assert SMTP_PASSWORD not in result.stderr
    assert fake.count == 0 and arxiv_day.requests == []
    assert smtp.messages == []


def test_a_chat_token_written_in_the_config_is_refused(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv
) -> None:
    targets = '[targets.chat]\nurl = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/"\n'
    config = write_config(tmp_path, fake, arxiv_day, targets=targets, send_to='"chat"')
    result = scorer_run(config)
    assert result.returncode == 2
    assert "targets.chat.url: the URL holds a token in clear" in result.stderr
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in result.stderr
    assert fake.count == 0


def test_a_missing_secret_stops_the_run_before_anything_is_fetched_or_scored(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(tmp_path, fake, arxiv_day, targets=mail_target(smtp), send_to='"mail"')
    arxiv_day.reset()
    result = run_scorer(["run", str(config)], env={"OPENAI_API_KEY": API_KEY})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "scorer: error: targets.mail.password_env: "
        "environment variable SCORER_TEST_SMTP_PASSWORD is not set"
    )
    assert arxiv_day.requests == [] and fake.count == 0


def test_several_rubrics_make_one_message_each(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(
        tmp_path,
        fake,
        arxiv_day,
        targets=mail_target(smtp),
        send_to='"mail"',
        digest_extra=(
            '\n[[digest]]\nrubric = "se-literature-reviews"\nthreshold = 0\nsend_to = ["mail"]\n'
        ),
    )
    result = scorer_run(config)
    assert result.returncode == 0, result.stderr
    subjects = sorted(str(smtp.parsed(i)["Subject"]) for i in range(len(smtp.messages)))
    assert len(subjects) == 2
    assert subjects[0].startswith("LLM inference systems and I/O: ")
    assert "10 papers" in subjects[1]  # threshold 0: every paper of the second rubric


def test_a_paper_the_model_failed_is_offered_again_on_the_next_run(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, smtp: SmtpServer
) -> None:
    config = write_config(
        tmp_path, fake, arxiv_day, targets=mail_target(smtp), send_to='"mail"', digest_extra=""
    )
    config.write_text(config.read_text().replace("threshold = 40", "threshold = 0"))
    failing = "Active Fuzzing for Testing and Securing Cyber-Physical Systems"
    fake.answer_when(failing, Reply.context_length_exceeded())  # refused: that paper only
    first = scorer_run(config)
    assert first.returncode == 1, first.stderr  # incomplete: the rest was sent
    assert "failed 1" in first.stderr
    mail = parts(smtp.parsed())
    assert (
        failing not in html_titles(mail["text/html"]) and len(html_titles(mail["text/html"])) == 9
    )
    assert "1 paper could not be scored" in mail["text/plain"]

    fake.reset()  # the endpoint takes it now
    second = scorer_run(config)
    assert second.returncode == 0, second.stderr
    assert fake.count == 1  # only the paper that failed is asked again
    assert html_titles(parts(smtp.parsed())["text/html"]) == [failing]


def test_a_state_file_or_cache_that_cannot_be_opened_is_closed_again(
    tmp_path: Path, fake: FakeOpenAI, arxiv_day: RecordedArxiv, isolated_env: Path
) -> None:
    # One line and exit 4, and nothing left open in this process (a library call of
    # run_daily, a scheduler that runs it in-process): neither file stays held.
    config = write_config(tmp_path, fake, arxiv_day, targets="", send_to="")
    state, cache = isolated_env / "daily-state.sqlite3", isolated_env / "cache.db"
    isolated_env.mkdir()
    not_sqlite = b"not an SQLite file".ljust(8192, b"!")

    cache.write_bytes(not_sqlite)  # the state file opens (and is made), then the cache fails
    with no_garbage_collection():
        cache_failed = scorer_run(config)
        held_after_cache = files_open_under(isolated_env)
    cache.unlink()
    state.write_bytes(not_sqlite)  # the state file itself fails
    with no_garbage_collection():
        state_failed = scorer_run(config)
        held_after_state = files_open_under(isolated_env)

    for done, what in ((cache_failed, "open the cache"), (state_failed, "use the delivery state")):
        assert done.returncode == 4, done.stderr
        assert "Traceback" not in done.stderr
        assert f"cannot {what}" in done.stderr.strip().splitlines()[-1]
    assert held_after_cache == held_after_state == []
    assert fake.count == 0
