"""CPU seconds the test suite spends, per test file (prints numbers; not a test).

    uv run --group dev python bench/test_suite_time.py [-m "not embedded"] [--top 25] [PYTEST ARGS]

Runs pytest in this process with one worker (``-n 0``), so every test's
cost is counted once and nothing is hidden behind a parallel worker, and
prints, per test file, the CPU seconds (user + system) of this process and
of the processes it started and waited for (the ``scorer`` commands a test
runs, servers a fixture starts), then the collection (importing every module
for ``--doctest-modules``) and the total. CPU seconds, unlike wall time, are
about the same on a busy machine as on an idle one; the suite's wall time on
an idle 2-core machine is roughly the total divided by two (two workers)
plus the longest file's wall time left over at the end.

Extra arguments go to pytest, e.g. ``tests/test_cli.py`` or ``-k cache``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Generator

import pytest


def cpu_seconds() -> tuple[float, float]:
    """(this process, its children) user + system CPU seconds so far.

    Children are those waited for, plus the fork server of tests/prestarted.py
    with the ``scorer`` commands forked from it (it waits for those, not us).
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime + fork_server_cpu()


def fork_server_cpu() -> float:
    """CPU seconds of the running fork server and its reaped forks (0 when none runs)."""
    prestarted = sys.modules.get("prestarted")
    return prestarted.server_cpu() if prestarted is not None else 0.0


def stop_fork_server() -> None:
    """Stop and wait for the fork server, so its CPU moves into RUSAGE_CHILDREN."""
    prestarted = sys.modules.get("prestarted")
    if prestarted is not None:
        prestarted.stop_server()


class CpuPerFile:
    """A pytest plugin adding up each test file's CPU (setup, call and teardown)."""

    def __init__(self) -> None:
        self.own: dict[str, float] = defaultdict(float)
        self.children: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.tests: dict[str, int] = defaultdict(int)
        self.collection = (0.0, 0.0, 0.0)

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Generator[None, object, object]:
        own, children = cpu_seconds()
        started = time.perf_counter()
        result = yield
        own_after, children_after = cpu_seconds()
        wall = time.perf_counter() - started
        self.collection = (own_after - own, children_after - children, wall)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        own, children = cpu_seconds()
        started = time.perf_counter()
        result = yield
        own_after, children_after = cpu_seconds()
        name = item.nodeid.split("::")[0]
        self.own[name] += own_after - own
        self.children[name] += children_after - children
        self.wall[name] += time.perf_counter() - started
        self.tests[name] += 1
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", dest="marks", default="not embedded", help='default "not embedded"')
    parser.add_argument("--top", type=int, default=25, help="files to list (default 25)")
    args, pytest_args = parser.parse_known_args()

    plugin = CpuPerFile()
    own_start, children_start = cpu_seconds()
    started = time.perf_counter()
    code = pytest.main(
        ["-q", "-n", "0", "-p", "no:cacheprovider", "-m", args.marks, *pytest_args],
        plugins=[plugin],
    )
    stop_fork_server()
    own_end, children_end = cpu_seconds()
    wall = time.perf_counter() - started

    files = sorted(plugin.tests, key=lambda f: -(plugin.own[f] + plugin.children[f]))
    print(f"\n{'file':<44} {'tests':>5} {'cpu s':>7} {'(children)':>10} {'wall s':>7}")
    for name in files[: args.top]:
        total = plugin.own[name] + plugin.children[name]
        print(
            f"{name:<44} {plugin.tests[name]:>5} {total:>7.1f} "
            f"{plugin.children[name]:>10.1f} {plugin.wall[name]:>7.1f}"
        )
    rest = files[args.top :]
    if rest:
        total = sum(plugin.own[f] + plugin.children[f] for f in rest)
        tests = sum(plugin.tests[f] for f in rest)
        print(f"{f'{len(rest)} other files':<44} {tests:>5} {total:>7.1f}")
    own, children, collect_wall = plugin.collection
    print(
        f"{'collection (imports, doctests)':<44} {'':>5} {own + children:>7.1f} {'':>10} "
        f"{collect_wall:>7.1f}"
    )
    total = own_end - own_start + children_end - children_start
    print(
        f"{'total':<44} {sum(plugin.tests.values()):>5} {total:>7.1f} "
        f"{children_end - children_start:>10.1f} {wall:>7.1f}"
    )
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
