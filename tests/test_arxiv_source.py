"""The arXiv source against real recorded API responses, served on 127.0.0.1.

``RecordedArxiv`` answers a request with the recording whose URL has the same
query parameters, so the real ``arxiv`` client pages, sleeps and parses as it
would against export.arxiv.org. Nothing here touches the network.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import os
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from click.testing import CliRunner, Result
from in_process import run_scorer
from subprocesses import SCORER
from subprocesses import run as run_group

from scorer._errors import ConfigError, InputError
from scorer._models import Paper
from scorer.cli import cli
from scorer.sources import arxiv_query, fetch_arxiv
from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
# A copy in fixtures/ (with the LICENSE) wins; else the shared reference data.
DATA = next(
    (
        d
        for d in (ROOT / "fixtures" / "arxiv_api", ROOT.parent / "shared" / "data" / "arxiv_api")
        if d.is_dir()
    ),
    ROOT / "fixtures" / "arxiv_api",
)
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="recorded arXiv responses not present")
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"


@dataclass(frozen=True)
class Recording:
    name: str
    params: dict[str, str]  # the recorded request's query parameters
    status: int
    body: bytes


def load_recordings(data: Path = DATA) -> list[Recording]:
    """Every recorded response: format_2026 ``{url, status_code, body}``, format_2016 Atom."""
    out = []
    for path in sorted((data / "format_2026").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        params = _params(urlsplit(record["url"]).query)
        out.append(Recording(path.stem, params, record["status_code"], record["body"].encode()))
    for path in sorted((data / "format_2016").glob("*.xml")):
        body = path.read_bytes()
        # The 2016 feeds name their request in the self link, percent-encoded whole.
        match = re.search(rb'<link href="[^"?]*\?([^"]*)" rel="self"', body)
        assert match, path
        out.append(Recording(path.stem, _params(unquote(match.group(1).decode())), 200, body))
    return out


def _params(query: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


@dataclass
class Scripted:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] | None = None
    delay: float = 0.0


class RecordedArxiv:
    """The arXiv API on a loopback port, answering with recorded responses.

    A request gets the first recording whose every parameter it carries with
    the same value (recordings added with :meth:`add` are tried first);
    scripted answers (:meth:`enqueue`) go before any recording. A request no
    recording matches gets ``default`` if given (e.g. for the README's example
    searches, which no recording has), else 404, so a test fails with the URL
    it sent.
    """

    def __init__(self, recordings: list[Recording], default: Recording | None = None) -> None:
        self.recordings = list(recordings)
        self.default = default
        self.requests: list[tuple[float, dict[str, str]]] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/query"

    def add(self, params: Mapping[str, str], recording: Recording) -> None:
        """Answer requests carrying ``params`` with ``recording``'s response."""
        self.recordings.insert(
            0, Recording(recording.name, dict(params), recording.status, recording.body)
        )

    def enqueue(self, *answers: Scripted) -> None:
        with self._lock:
            self._script.extend(answers)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def params(self, index: int = -1) -> dict[str, str]:
        return self.requests[index][1]

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        params = _params(url.query)
        with self._lock:
            self.requests.append((time.monotonic(), params))
            scripted = self._script.popleft() if self._script else None
        if scripted is None:
            found = next(
                (
                    r
                    for r in self.recordings
                    if all(params.get(k) == v for k, v in r.params.items())
                ),
                self.default,
            )
            if url.path != "/api/query" or found is None:
                scripted = Scripted(404, f"no recording for {handler.path}".encode())
            else:
                scripted = Scripted(found.status, found.body)
        time.sleep(scripted.delay)
        try:
            handler.send_response(scripted.status)
            handler.send_header("Content-Type", "application/atom+xml; charset=utf-8")
            handler.send_header("Content-Length", str(len(scripted.body)))
            for key, value in (scripted.headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(scripted.body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    def __enter__(self) -> RecordedArxiv:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


RECORDINGS = load_recordings() if DATA.is_dir() else []


def recording(name: str) -> Recording:
    """A recording by its file name, without the format_2026 names' hash suffix."""
    return next(r for r in RECORDINGS if r.name == name or r.name.startswith(name + "_"))


@pytest.fixture(scope="module")
def arxiv_server() -> Iterator[RecordedArxiv]:
    with RecordedArxiv(RECORDINGS) as server:
        yield server


@pytest.fixture
def api(arxiv_server: RecordedArxiv) -> Iterator[RecordedArxiv]:
    """The module's recorded arXiv API, with no requests, scripts or extra routes."""
    arxiv_server.reset()
    base = list(arxiv_server.recordings)
    yield arxiv_server
    arxiv_server.recordings[:] = base
    arxiv_server.reset()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fetch(api: RecordedArxiv, query: str | None = None, **kwargs: Any) -> list[Paper]:
    kwargs.setdefault("delay_seconds", 0.0)
    return list(fetch_arxiv(query, base_url=api.base_url, env={}, **kwargs))


# --- What a recorded body says, read independently of the client -----------------------


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    abstract: str
    authors: list[str]
    published: str
    categories: list[str]
    url: str
    pdf_url: str | None


def entries_of(body: bytes) -> list[Entry]:
    root = ElementTree.fromstring(body)
    out = []
    for entry in root.iter(f"{ATOM}entry"):
        published = entry.findtext(f"{ATOM}published")
        if published is None:  # the API's error entry
            continue
        links = entry.findall(f"{ATOM}link")
        out.append(
            Entry(
                id=re.sub(r"v\d+$", "", entry.findtext(f"{ATOM}id", "").split("/abs/")[-1]),
                title=" ".join(entry.findtext(f"{ATOM}title", "").split()),
                abstract=" ".join(entry.findtext(f"{ATOM}summary", "").split()),
                authors=[a.findtext(f"{ATOM}name", "") for a in entry.findall(f"{ATOM}author")],
                published=published[:10],
                categories=[c.get("term", "") for c in entry.findall(f"{ATOM}category")],
                url=next(link.get("href", "") for link in links if link.get("rel") == "alternate"),
                pdf_url=next((x.get("href") for x in links if x.get("title") == "pdf"), None),
            )
        )
    return out


def as_entry(paper: Paper) -> Entry:
    return Entry(
        id=paper.id or "",
        title=paper.title,
        abstract=paper.abstract,
        authors=paper.authors,
        published=paper.published.isoformat() if paper.published else "",
        categories=paper.categories,
        url=paper.url or "",
        pdf_url=paper.pdf_url,
    )


FIRST_PAGES = [r for r in RECORDINGS if r.params.get("start") == "0" and r.status == 200]


@pytest.mark.parametrize("rec", FIRST_PAGES, ids=lambda r: r.name)
def test_every_recorded_first_page_parses_to_its_entries(
    api: RecordedArxiv, rec: Recording
) -> None:
    size = int(rec.params["max_results"])
    ids = [i for i in rec.params["id_list"].split(",") if i]
    papers = fetch(api, rec.params["search_query"], ids=ids, page_size=size, max_results=size)
    expected = entries_of(rec.body)
    assert [as_entry(p) for p in papers] == expected
    assert api.params(0) == {**api.params(0), **rec.params}  # the request was the recorded one
    assert len(api.requests) == 1
    for paper in papers:
        assert paper.id and not re.search(r"v\d+$", paper.id)
        assert "\n" not in paper.abstract and "  " not in paper.title


def test_real_field_values(api: RecordedArxiv) -> None:
    """Spot checks against values read by eye from the recordings."""
    (crypto,) = fetch(api, ids=["2104.12255v1"])
    (old,) = fetch(api, ids=["astro-ph/0601001"])
    (bethe,) = fetch(api, ids=["1111.2011v2"], page_size=10, max_results=10)
    assert crypto.id == "2104.12255"
    assert crypto.title == "0"  # a real title: the paper is about the number zero
    assert crypto.abstract.startswith("What is the funniest number in cryptography? 0.")
    assert crypto.authors == ["Quan Thoi Minh Nguyen"]
    assert crypto.categories == ["cs.CR"]
    assert str(crypto.published) == "2021-04-20"
    assert crypto.url == "https://arxiv.org/abs/2104.12255v1"
    assert crypto.pdf_url == "https://arxiv.org/pdf/2104.12255v1"
    assert old.id == "astro-ph/0601001" and old.categories[0] == "astro-ph"
    # 2016 format: titles and abstracts wrapped over lines, http links.
    assert bethe.id == "1111.2011"
    assert bethe.title == (
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    )
    assert bethe.abstract.startswith("Theoretical description of anisotropic systems, such as")
    assert str(bethe.published) == "2011-11-08"


def test_pages_are_fetched_in_turn_without_duplicates(api: RecordedArxiv) -> None:
    papers = fetch(api, "testing", page_size=10, max_results=60)
    assert [p["start"] for _, p in api.requests] == ["0", "10", "20", "30", "40", "50"]
    assert all(p["max_results"] == "10" for _, p in api.requests)
    whole = entries_of(recording("q_testing_s0_m100").body)[:60]
    assert [as_entry(p) for p in papers] == whole
    assert len({p.id for p in papers}) == 60


@pytest.mark.parametrize(
    ("page", "page_size", "at", "unique"),
    [
        ("q_testing_s5_m10", 10, "10", 15),
        ("q_testing_s5_m15", 10, "10", 20),
        ("q_testing_s9_m15", 15, "15", 24),
    ],
)
def test_entries_the_api_repeats_across_pages_come_once(
    api: RecordedArxiv, page: str, page_size: int, at: str, unique: int
) -> None:
    # arXiv's paging is not stable: a page can start before the previous one
    # ended. Serve a real page that overlaps the first in place of the second.
    api.add({"search_query": "testing", "start": at}, recording(page))
    papers = fetch(api, "testing", page_size=page_size, max_results=unique)
    assert len(api.requests) == 2
    whole = entries_of(recording("q_testing_s0_m100").body)
    assert [p.id for p in papers] == [e.id for e in whole[:unique]]


def test_cross_listed_papers_come_once(api: RecordedArxiv) -> None:
    # A cs.SE + cs.LG listing where the second page repeats five of the first's
    # papers (2202.12139 is cross-listed in both categories).
    query = "(cat:cs.SE OR cat:cs.LG)"
    api.add({"search_query": query, "start": "0"}, recording("q_testing_s0_m10"))
    api.add({"search_query": query, "start": "10"}, recording("q_testing_s5_m10"))
    papers = fetch(api, categories=["cs.SE", "cs.LG", "cs.SE"], page_size=10, max_results=15)
    ids = [p.id for p in papers]
    assert len(ids) == len(set(ids)) == 15 and ids[0] == "2202.12139"
    assert papers[0].categories == ["cs.SE", "cs.LG"]
    assert api.params(0)["sortBy"] == "submittedDate"


def test_search_query_for_categories_and_dates(api: RecordedArxiv) -> None:
    window = "submittedDate:[202602230000 TO 202602242359]"
    wanted = f"(kv cache) AND (cat:cs.DC OR cat:cs.LG) AND {window}"
    api.add({"search_query": wanted}, recording("id_2104.12255v1"))
    since, until = dt.date(2026, 2, 23), dt.date(2026, 2, 24)
    papers = fetch(api, "kv cache", categories=["cs.DC", "cs.LG"], since=since, until=until)
    assert [p.id for p in papers] == ["2104.12255"]
    assert api.params(0)["search_query"] == wanted
    assert api.params(0)["sortBy"] == "submittedDate" and api.params(0)["sortOrder"] == "descending"


def test_query_building() -> None:
    today = dt.date(2026, 3, 1)
    assert arxiv_query("testing") == "testing"
    assert arxiv_query(categories=["cs.DC"]) == "cat:cs.DC"
    assert arxiv_query(since=dt.date(2026, 2, 23), today=today) == (
        "submittedDate:[202602230000 TO 202603012359]"
    )
    assert arxiv_query(until=dt.date(2026, 2, 23)) == "submittedDate:[199108010000 TO 202602232359]"
    with pytest.raises(InputError, match="not an arXiv category: 'cs DC'"):
        arxiv_query(categories=["cs DC"])
    with pytest.raises(InputError, match="after --until"):
        arxiv_query(since=dt.date(2026, 2, 24), until=dt.date(2026, 2, 23))
    with pytest.raises(InputError, match="nothing to search"):
        fetch_arxiv()
    with pytest.raises(ConfigError, match="http"):
        fetch_arxiv("x", base_url="export.arxiv.org/api/query")
    with pytest.raises(ConfigError, match="delay"):
        fetch_arxiv("x", env={"SCORER_ARXIV_DELAY": "soon"})


@pytest.mark.parametrize("ids", [["0000.0000"], ["0808.05394"]])
def test_an_empty_result_is_no_papers_not_an_error(api: RecordedArxiv, ids: list[str]) -> None:
    assert fetch(api, ids=ids) == []
    assert len(api.requests) == 1


def test_the_400_error_feed_is_one_clear_error_at_once(api: RecordedArxiv) -> None:
    with pytest.raises(InputError) as caught:
        fetch(api, ids=["abc"], num_retries=3)
    message = str(caught.value)
    assert message == (
        "arXiv rejected the search (ids abc): incorrect id format for abc (HTTP 400)"
    )
    assert len(api.requests) == 1  # a rejected query is not retried


def test_an_error_feed_with_status_200_is_an_error_too(api: RecordedArxiv) -> None:
    api.enqueue(Scripted(200, recording("id_abc").body))
    with pytest.raises(InputError, match="incorrect id format for abc"):
        fetch(api, ids=["abc"])


def test_429_backs_off_then_resumes(api: RecordedArxiv) -> None:
    sleeps = Sleeps()
    api.enqueue(Scripted(429, b"slow down", {"Retry-After": "7"}), Scripted(503))
    (paper,) = fetch(api, ids=["2104.12255v1"], delay_seconds=0.0, sleep=sleeps)
    assert paper.id == "2104.12255"
    assert len(api.requests) == 3
    assert sleeps == [7.0, 2.0]  # retry-after, then doubling from one second


def test_a_429_with_a_zoneless_date_waits_by_the_doubling(api: RecordedArxiv) -> None:
    # "-0000" is an HTTP date without a zone; a past date asks for no wait.
    sleeps = Sleeps()
    api.enqueue(Scripted(429, b"", {"Retry-After": "Thu, 01 Jan 1970 00:00:00 -0000"}))
    (paper,) = fetch(api, ids=["2104.12255v1"], sleep=sleeps)
    assert paper.id == "2104.12255" and len(api.requests) == 2
    assert sleeps == [1.0]


def test_5xx_that_persists_is_one_clear_error(api: RecordedArxiv) -> None:
    sleeps = Sleeps()
    api.enqueue(*[Scripted(503)] * 3)
    with pytest.raises(InputError) as caught:
        fetch(api, "testing", num_retries=2, sleep=sleeps)
    assert str(caught.value) == (
        "arXiv answered HTTP 503 to the search (query 'testing') 3 times; try again later"
    )
    assert sleeps == [1.0, 2.0, 4.0] and len(api.requests) == 3


def test_a_slow_answer_is_retried_then_reported(api: RecordedArxiv) -> None:
    api.enqueue(Scripted(200, recording("id_2104.12255v1").body, delay=1.0))
    (paper,) = fetch(api, ids=["2104.12255v1"], timeout=0.2, num_retries=1)
    assert paper.id == "2104.12255" and len(api.requests) == 2
    api.reset()
    api.enqueue(*[Scripted(200, b"", delay=1.0)] * 2)
    with pytest.raises(InputError, match=r"cannot reach .*no answer within 0.2 s"):
        fetch(api, ids=["2104.12255v1"], timeout=0.2, num_retries=1)


def test_no_server_is_one_clear_error() -> None:
    with pytest.raises(InputError, match=r"cannot reach the arXiv API at http://127.0.0.1:9/"):
        list(fetch_arxiv("testing", base_url="http://127.0.0.1:9/api/query", delay_seconds=0))


def test_pages_are_requested_politely_apart(api: RecordedArxiv) -> None:
    fetch(api, "testing", page_size=10, max_results=30, delay_seconds=0.3)
    times = [t for t, _ in api.requests]
    assert len(times) == 3
    assert all(b - a >= 0.29 for a, b in itertools.pairwise(times))


def test_the_endpoint_comes_from_the_environment(api: RecordedArxiv) -> None:
    env = {"SCORER_ARXIV_URL": api.base_url, "SCORER_ARXIV_DELAY": "0"}
    (paper,) = fetch_arxiv(ids=["1605.08386"], env=env)
    assert paper.id == "1605.08386" and len(api.requests) == 1


# --- The command line: as a user runs it (subprocess), and in process (CliRunner) ---------


def invoke(args: list[str], env: Mapping[str, str]) -> Result:
    return CliRunner().invoke(cli, args, env=dict(env), prog_name="scorer")


def run(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return run_group([SCORER, *args], timeout=120, env={**os.environ, **env}, cwd=ROOT)


@pytest.fixture
def cli_env(api: RecordedArxiv, fake: FakeOpenAI, isolated_env: Path) -> dict[str, str]:
    return {
        "SCORER_ARXIV_URL": api.base_url,
        "SCORER_ARXIV_DELAY": "0",
        "OPENAI_BASE_URL": fake.base_url,
        "SCORER_CACHE_DIR": str(isolated_env),
    }


def test_fetch_writes_csv_that_batch_reads(
    cli_env: dict[str, str], api: RecordedArxiv, fake: FakeOpenAI, tmp_path: Path
) -> None:
    papers_csv = tmp_path / "papers.csv"
    args = ["fetch", "arxiv", "--query", "testing", "--max-results", "20", "--page-size", "10"]
    done = run_scorer([*args, "-o", str(papers_csv)], env=cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "scorer: fetched 20 papers from arXiv\n"
    rows = list(csv.DictReader(papers_csv.open(encoding="utf-8", newline="")))
    assert list(rows[0]) == [
        "id", "title", "abstract", "authors", "published", "url", "pdf_url", "categories",
    ]  # fmt: skip
    whole = entries_of(recording("q_testing_s0_m100").body)[:20]
    assert [r["id"] for r in rows] == [e.id for e in whole]
    assert rows[0]["authors"] == "Mohit Kumar Ahuja; Arnaud Gotlieb; Helge Spieker"
    assert rows[0]["categories"] == "cs.SE; cs.LG" and rows[0]["published"] == "2022-02-24"

    digest = tmp_path / "digest.md"
    scored = run_scorer(
        ["batch", str(papers_csv), "-r", "llm-inference", "-o", str(digest)], env=cli_env
    )
    assert scored.returncode == 0, scored.stderr
    assert "scanned 20, unique 20, scored 20" in scored.stderr
    assert "out of **20** total scanned." in digest.read_text(encoding="utf-8")
    assert fake.count == 20


def test_fetch_to_stdout_is_jsonl(cli_env: dict[str, str]) -> None:
    done = invoke(["fetch", "arxiv", "--id", "2104.12255v1"], cli_env)
    assert done.exit_code == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["id"] == "2104.12255" and row["title"] == "0"
    assert done.stderr == "scorer: fetched 1 paper from arXiv\n"


def test_fetch_of_nothing_writes_just_the_header(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "papers.csv"
    done = invoke(["fetch", "arxiv", "--id", "0000.0000", "-o", str(out)], cli_env)
    assert done.exit_code == 0, done.stderr
    assert out.read_text(encoding="utf-8") == (
        "id,title,abstract,authors,published,url,pdf_url,categories\n"
    )


def test_fetch_error_is_one_line_and_exit_2_and_no_file(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "papers.csv"
    done = run(["fetch", "arxiv", "--id", "abc", "-o", str(out)], cli_env)
    assert done.returncode == 2
    assert done.stderr == (
        "scorer: error: arXiv rejected the search (ids abc): "
        "incorrect id format for abc (HTTP 400)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_batch_arxiv_scores_the_search(
    cli_env: dict[str, str], fake: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "scored.csv"
    args = ["batch", "--arxiv", "testing", "--max-results", "10", "-r", "llm-inference"]
    done = run_scorer([*args, "-o", str(out)], env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "scorer: fetched 10 papers from arXiv" in done.stderr
    assert "scanned 10, unique 10, scored 10" in done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert {r["id"] for r in rows} == {e.id for e in entries_of(recording("q_testing_s0_m10").body)}
    assert all(r["status"] == "scored" for r in rows) and fake.count == 10


def test_batch_arxiv_with_nothing_found_is_an_empty_digest(
    cli_env: dict[str, str], api: RecordedArxiv, fake: FakeOpenAI, tmp_path: Path
) -> None:
    window = "submittedDate:[202602230000 TO 202602232359]"
    api.add({"search_query": f"(cat:cs.DC) AND {window}"}, recording("id_0000.0000"))
    digest = tmp_path / "digest.md"
    args = ["batch", "--arxiv", "cat:cs.DC", "--since", "2026-02-23", "--until", "2026-02-23"]
    done = invoke([*args, "-r", "llm-inference", "-o", str(digest)], cli_env)
    assert done.exit_code == 0, done.stderr
    assert "**0** papers above threshold (70/100) out of **0** total scanned." in (
        digest.read_text(encoding="utf-8")
    )
    assert fake.count == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arxiv", "abc-def:"], None),
        (["fixtures/seed_papers.csv", "--arxiv", "testing"], "not both"),
        ([], "no papers: give INPUT"),
        (["fixtures/seed_papers.csv", "--since", "2026-02-23"], "go with --arxiv"),
    ],
)
def test_batch_arxiv_usage_errors_exit_2_with_one_line(
    cli_env: dict[str, str], api: RecordedArxiv, args: list[str], message: str | None
) -> None:
    if message is None:  # the API's 400 feed for a bad query
        api.enqueue(Scripted(400, recording("id_abc").body))
        message = "arXiv rejected the search (query 'abc-def:'): incorrect id format"
    done = invoke(["batch", *args, "-r", "llm-inference"], cli_env)
    assert done.exit_code == 2
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_readme_python_example(
    arxiv_server: RecordedArxiv,
    fake: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The README's fetch_arxiv example, as written, against the two fakes."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", readme, re.DOTALL) if "fetch_arxiv" in b
    ]
    code = blocks[0] if blocks else README_EXAMPLE
    arxiv_server.reset()
    # No recording is a cs.DC/cs.LG listing: answer it with a real page of two.
    listing = recording("search_au_del_maestro_and_ti_quantum_criticality")
    default, arxiv_server.default = arxiv_server.default, listing
    monkeypatch.setenv("SCORER_ARXIV_URL", arxiv_server.base_url)
    monkeypatch.setenv("SCORER_ARXIV_DELAY", "0")
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        arxiv_server.default = default
    printed = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[0] for line in printed) == ["1111.2011", "cond-mat/0607501"]
    assert fake.count == 2
    assert arxiv_server.params(0)["search_query"].startswith("(cat:cs.DC OR cat:cs.LG) AND ")


# Proposed for README.md (the test runs the README's block once it is there).
README_EXAMPLE = """\
from datetime import date
from scorer import score_many
from scorer.sources import fetch_arxiv

papers = list(fetch_arxiv(categories=["cs.DC", "cs.LG"], since=date(2026, 2, 23)))
for r in score_many(papers, "llm-inference"):
    print(r.paper.id, r.scores if r.ok else r.error)
"""
