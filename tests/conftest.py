"""Shared fixtures: an isolated environment, a fake OpenAI server, fast retry settings.

Real model calls to hosted APIs never happen: the environment is emptied of
OPENAI_* and SCORER_* variables for every test, and every test's cache lives
in its own tmp folder.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cpu_report
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from scorer import Settings
    from scorer.testing import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
# What tools themselves keep in a checkout; anything else new in it came from a test.
TOOL_FOLDERS = {".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "__pycache__"}


def pytest_configure(config: pytest.Config) -> None:
    """Bytecode is cached for the suite's processes, in the virtualenv, never beside sources.

    With PYTHONDONTWRITEBYTECODE=1 (as on this project's CI machine) every Python
    process compiles what it imports from source: each pytest-xdist worker its
    whole collection, each ``scorer`` subprocess openai, pydantic and the rest
    again (about a second of CPU apiece, over half the suite's CPU in all). A
    cache under the virtualenv (PYTHONPYCACHEPREFIX) keeps the checkout free of
    ``__pycache__`` as the variable intends, and is shared by the workers and
    the commands the tests start, which inherit this environment.
    """
    cpu_report.configure(config)  # off unless SCORER_TEST_CPU is set
    if not sys.dont_write_bytecode or sys.prefix == sys.base_prefix:
        return  # bytecode is cached already, or there is no virtualenv of ours to keep it in
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(Path(sys.prefix) / "pycache")
    try:
        Path(prefix).mkdir(exist_ok=True)
    except OSError:
        return  # a read-only environment: compile every time, as before
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test its own id; which tests share a pytest-xdist worker (``-n N``).

    A file's tests stay together, so its module fixtures (servers, background
    runs) start once; every embedded-model test goes to one worker, since two
    llama.cpp servers at once would fight over the cores.
    """
    for item in items:
        # pytest 9.2 builds an item's id from its original name and its parameters;
        # schemathesis 4 gives its items the operation in the name only, so all its
        # items in tests/test_service_fuzz.py shared one id, and pytest-xdist (which
        # keys the work by id) ran one of the six operations and dropped the rest.
        if item.name.endswith("]") and not item.nodeid.endswith("]"):
            _set_nodeid(item, item.nodeid + item.name[item.name.index("[") :])
        group = "embedded" if item.get_closest_marker("embedded") else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))
        # pytest-xdist's loadgroup reads the group from an "@group" suffix of the id,
        # which it writes to Item._nodeid, an attribute pytest 9.2 no longer reads.
        if hasattr(config, "workerinput") and config.getoption("loadgroup", False):
            _set_nodeid(item, f"{item.nodeid}@{group}")
    if hasattr(config, "workerinput") and config.getoption("loadgroup", False):
        items[:] = _longest_first(items)  # the order the workers report, which xdist follows


# The groups whose tests take the longest in a row (mostly waiting for processes they
# start), handed out first: started last, either would run alone at the end while the
# other workers sit idle (the Ray cluster module went last, after 100 s, under
# pytest-xdist's own order: most tests first).
STARTS_FIRST = ("embedded", "test_ray_cluster.py")


def _longest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` by group: STARTS_FIRST's, then the groups with the most tests.

    pytest-xdist hands groups out in the order of their first test
    (``--no-loadscope-reorder``), one or two to each worker at first, then
    one more to each worker that runs short.
    """
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        groups.setdefault(marker.args[0] if marker else "", []).append(item)

    def rank(group: str) -> tuple[int, int]:
        first = STARTS_FIRST.index(group) if group in STARTS_FIRST else len(STARTS_FIRST)
        return first, -len(groups[group])

    return [item for group in sorted(groups, key=rank) for item in groups[group]]


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the fork server of tests/prestarted.py now, as a fork of this process.

    Collection has imported scorer and openai here already, and no test has
    started a thread yet (a server, scorer's background loop): a fork now
    costs a fraction of the new interpreter multiprocessing would start.
    """
    prestarted = sys.modules.get("prestarted")
    if prestarted is not None and session.items and not session.config.option.collectonly:
        prestarted.start_server_here()


def _set_nodeid(item: pytest.Item, nodeid: str) -> None:
    """Give ``item`` the id ``nodeid`` (pytest >= 9.2 keeps it as a NodeId in ``_id``)."""
    current = getattr(item, "_id", None)
    if current is not None and hasattr(current, "parse"):
        item._id = type(current).parse(nodeid)
    else:
        item._nodeid = nodeid


@pytest.fixture(scope="session", autouse=True)
def repository_root_untouched() -> Iterator[None]:
    """Fails the run when a test leaves a file in the checkout's root folder.

    The root is the user's: the quick start writes its digest.md there, and a
    test that wrote (or deleted) one there would clobber it.
    """
    before = {path.name for path in ROOT.iterdir()}
    yield
    after = {path.name for path in ROOT.iterdir()}
    added = sorted(after - before - TOOL_FOLDERS)
    assert not added, f"the tests wrote into the repository root: {', '.join(added)}"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No inherited endpoint, key or cache; a fresh cache folder per test."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "SCORER_")):
            monkeypatch.delenv(name)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("SCORER_CACHE_DIR", str(cache_dir))
    return cache_dir


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAI]:
    # Imported here, not at the top: pytest-xdist's controller imports this file too,
    # and runs no test (scorer and the fake's server stack cost it about 0.8 s of CPU).
    from scorer.testing import FakeOpenAI

    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The session's fake OpenAI server, emptied of requests and scripted replies."""
    fake_server.reset()
    fake_server.latency = 0.0
    yield fake_server
    fake_server.reset()
    fake_server.prompt_cache = None


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """The system Chromium under playwright, launched once per test file.

    A launch (playwright's driver and the browser) costs a few CPU seconds;
    every test still gets fresh contexts and pages through ``browser``.
    """
    if shutil.which("chromium") is None or not Path(CHROMIUM).exists():
        pytest.skip(f"the browser tests drive the system Chromium, and {CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium: Browser) -> Iterator[Browser]:
    """A Chromium with no open context; what a test opens is closed after it."""
    yield chromium
    for context in chromium.contexts:
        context.close()


class SleepRecorder:
    """An injected async sleep: records the waits, takes no time."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def fake_settings(fake: FakeOpenAI, isolated_env: Path) -> Settings:
    """Settings pointing at the fake server, with a short timeout and quick retries."""
    from scorer import RetryPolicy, Settings

    return Settings.resolve(
        env={},
        base_url=fake.base_url,
        api_key="sk-test-0123456789abcdef",
        model="fake-model",
        cache_dir=isolated_env,
        timeout=2.0,
        retry=RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05, jitter=0.01),
    )
