"""Where the suite's CPU and waiting go, per test (opt-in: ``SCORER_TEST_CPU=1``).

    SCORER_TEST_CPU=1 uv run --group dev pytest -m "not embedded"

Each worker records, for every test (setup, call and teardown together), its
wall time and its CPU: the worker's own (``process_time``), the processes it
started and waited for (``RUSAGE_CHILDREN``) and the fork server of
tests/prestarted.py with the commands forked from it. Also, per worker, the
CPU spent before the first test (interpreter, plugins, collection's imports).
At the end the run prints the tests that used the most CPU and those that
waited the most (wall minus CPU: sleeps, polls, timeouts, other processes).

Processes that are not our children (a Ray node's daemons, reparented to
init) are not counted; the ``machine`` column (all CPUs' busy time over the
test, from /proc/stat) shows them, meaningful only with ``-n 0``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path

import pytest

TOP = int(os.environ.get("SCORER_TEST_CPU_TOP", "15"))


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime + _fork_server_cpu()


def _fork_server_cpu() -> float:
    prestarted = sys.modules.get("prestarted")
    return prestarted.server_cpu() if prestarted is not None else 0.0


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (all cores)."""
    with Path("/proc/stat").open(encoding="ascii") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuReport:
    """Records per-test CPU and wall on each worker; the controller prints the totals."""

    def __init__(self, folder: Path, worker: str) -> None:
        self.folder = folder
        self.worker = worker
        self.rows: list[dict[str, object]] = []

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        own, children, machine = time.process_time(), _children_cpu(), _machine_busy()
        started = time.perf_counter()
        if not self.rows:
            self.rows.append({"id": f"<{self.worker}: start-up and collection>", "cpu": own,
                              "children": children, "wall": _age(), "machine": 0.0})  # fmt: skip
        result = yield
        wall = time.perf_counter() - started
        self.rows.append(
            {
                "id": item.nodeid.split("@")[0],
                "own": time.process_time() - own,
                "children": _children_cpu() - children,
                "wall": wall,
                "machine": _machine_busy() - machine,
            }
        )
        return result

    def pytest_sessionfinish(self) -> None:
        with (self.folder / f"{self.worker}.jsonl").open("w", encoding="utf-8") as out:
            for row in self.rows:
                row.setdefault("own", row.pop("cpu", 0.0))
                out.write(json.dumps(row) + "\n")


class CpuSummary:
    """On the controller (or a ``-n 0`` run): reads every worker's rows and prints the tops."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        rows = []
        for path in sorted(self.folder.glob("*.jsonl")):
            rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            row["cpu"] = row["own"] + row["children"]
        write = terminalreporter.write_line
        total = sum(r["cpu"] for r in rows)
        write(f"\nCPU report ({len(rows)} rows, {total:.1f} CPU s in all; {self.folder})")
        head = f"{'cpu':>6} {'child':>6} {'wall':>6} {'wait':>6} {'machine':>7}  test"
        by = {
            "by CPU": lambda r: -r["cpu"],
            "by waiting (wall - CPU)": lambda r: -(r["wall"] - r["cpu"]),
        }
        for title, key in by.items():
            write(f"\ntop {TOP} {title}:\n{head}")
            for r in sorted(rows, key=key)[:TOP]:
                write(
                    f"{r['cpu']:6.2f} {r['children']:6.2f} {r['wall']:6.2f} "
                    f"{r['wall'] - r['cpu']:6.2f} {r['machine']:7.2f}  {r['id']}"
                )
        files: dict[str, list[float]] = {}
        for r in rows:
            name = r["id"].split("::")[0]
            acc = files.setdefault(name, [0.0, 0.0, 0])
            acc[0] += r["cpu"]
            acc[1] += r["wall"]
            acc[2] += 1
        write(f"\ntop {TOP} files by CPU:\n{'cpu':>6} {'wall':>6} {'tests':>5}  file")
        for name, (cpu, wall, count) in sorted(files.items(), key=lambda kv: -kv[1][0])[:TOP]:
            write(f"{cpu:6.2f} {wall:6.2f} {count:5d}  {name}")


def _age() -> float:
    """Seconds since this process started (/proc/self/stat's start time)."""
    start = int(Path("/proc/self/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
    return uptime - start / os.sysconf("SC_CLK_TCK")


def configure(config: pytest.Config) -> None:
    """Register the report's plugins when ``SCORER_TEST_CPU`` is set (from conftest)."""
    if not os.environ.get("SCORER_TEST_CPU"):
        return
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        folder = Path(tempfile.mkdtemp(prefix="scorer-test-cpu-"))
        os.environ["SCORER_TEST_CPU_DIR"] = str(folder)  # the workers inherit it
        config.pluginmanager.register(CpuSummary(folder), "scorer_cpu_summary")
        if config.getoption("numprocesses", None) in (None, 0):
            config.pluginmanager.register(CpuReport(folder, "main"), "scorer_cpu_report")
    else:
        folder = Path(os.environ["SCORER_TEST_CPU_DIR"])
        config.pluginmanager.register(
            CpuReport(folder, workerinput["workerid"]), "scorer_cpu_report"
        )
