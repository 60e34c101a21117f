"""``scorer batch --ray`` and ``scorer.ray.score_dataset`` on a real two-node Ray cluster.

The module starts one cluster for all its tests: a head node and a second
node joining it, one CPU each, a small object store, on 127.0.0.2 (loopback:
Ray replaces 127.0.0.1 with the machine's routable address, which would put
its traffic on the network interface). Every process the cluster starts stays
in the two ``ray start --block`` process groups, which the fixture kills.
The workers score against the session's fake OpenAI server, on 127.0.0.1;
the rate-limited run, which runs in the background while other tests do
(most of it is waiting for permits), has a fake server of its own.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from in_process import run_scorer
from subprocesses import PYTHON, run, started
from subprocesses import SCORER as PRESTARTED_SCORER

from scorer.testing import FakeOpenAI

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "fixtures" / "seed_papers.csv"  # 50 records, 43 papers (duplicates included)
# The drivers are `scorer` processes forked from the worker's prestarted interpreter
# (tests/prestarted.py): what a driver is about is Ray, not a fresh interpreter's
# imports (about 1.2 s of CPU each; the README's own command still starts one).
SCORER = [PRESTARTED_SCORER]
RAY = str(Path(sys.executable).with_name("ray"))
NODE_IP = "127.0.0.2"
# What a paper's result is, whichever route scored it (status and tokens say how).
SAME = ("id", "title", "relevance", "hype", "justification", "passed", "model")


class Cluster:
    """The test cluster: the head's address, and the process groups of its two nodes."""

    def __init__(self, address: str, nodes: list[subprocess.Popen[Any]]) -> None:
        self.address = address
        self.nodes = nodes

    def scoring_workers(self) -> list[int]:
        """Process ids of the scoring actors: children of our raylets named after the class."""
        return list(self._scoring_workers())

    def _scoring_workers(self) -> dict[int, int]:
        """Each scoring actor's process id -> its raylet's."""
        groups = {node.pid for node in self.nodes}
        processes = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                    processes[int(entry.name)] = (int(stat[1]), int(stat[2]), title.decode())
        raylets = {
            pid for pid, (_, group, title) in processes.items()
            if group in groups and "raylet" in title
        }  # fmt: skip
        return {
            pid: parent for pid, (parent, _, title) in processes.items()
            if parent in raylets and "PaperScorer" in title
        }  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head node and a second node joined to it."""
    # Ray's sockets live under --temp-dir and a Unix socket path has at most 107
    # bytes: pytest's tmp_path (with xdist's popen-gwN) is too deep for them.
    temp = Path(tempfile.mkdtemp(prefix="scorer-ray-"))
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        # A local Ray started elsewhere on this machine leaves a token in ~/.ray,
        # which a new head would then require of every node and driver.
        "RAY_AUTH_MODE": "disabled",
        # A busy machine starts a node's Python agents slowly: the raylet's 15 s
        # wait for them fails it (ray start itself waits 30 s for the node).
        "RAY_raylet_start_wait_time_s": "28",
        "RAY_agent_register_timeout_ms": "120000",
        # Ray runs its workers at nice 15, below everything else on the machine: on
        # a machine the rest of the suite keeps busy, they start and score only when
        # the other processes leave them a core. Here the workers are the test's work.
        "RAY_worker_niceness": "0",
        # A raylet starts as many workers at once as it has CPUs (one here), each
        # waiting for the one before to register; a run asks for several at once
        # (its actors; Ray Data's tasks and service actors).
        "RAY_worker_maximum_startup_concurrency": "4",
    }
    common = ["--num-cpus", "1", "--object-store-memory", "100000000", "--disable-usage-stats"]
    # No log monitor on either node (every driver here runs with log_to_driver off)
    # and no autoscaler monitor on the head (a fixed cluster): two Python processes
    # fewer to start on a busy machine.
    common += ["--node-ip-address", NODE_IP, "--include-log-monitor=false", "--block"]
    nodes: list[subprocess.Popen[Any]] = []
    try:
        # Ray gives a node 30 s to register, which a busy machine can miss: try again.
        for attempt in range(3):
            port = _free_port()
            head = [RAY, "start", "--head", "--port", str(port), "--include-dashboard=false"]
            head += ["--no-monitor", "--temp-dir", str(temp / f"t{attempt}"), *common]
            joined = [RAY, "start", "--address", f"{NODE_IP}:{port}", *common]
            logs = [temp / f"head{attempt}.log", temp / f"node{attempt}.log"]
            try:
                nodes.append(_launch(head, logs[0], env))
                # The second node needs only the head's GCS: it starts while the
                # head still starts its raylet and agents.
                _wait_until(nodes[0], logs[0], lambda port=port: _listening(port))
                nodes.append(_launch(joined, logs[1], env))
                for node, log in zip(nodes, logs, strict=True):
                    _wait_until(node, log, lambda log=log: "Ray runtime started" in _text(log))
                break
            except RuntimeError:
                while nodes:
                    _stop_node(nodes.pop())
        else:
            raise RuntimeError(f"the cluster did not start; see {temp}")
        yield Cluster(f"{NODE_IP}:{port}", nodes)
    finally:
        for node in reversed(nodes):
            _stop_node(node)
        shutil.rmtree(temp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((NODE_IP, 0))
        port: int = sock.getsockname()[1]
        return port


def _launch(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[Any]:
    """``ray start ... --block`` in its own process group, its output in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip


def _wait_until(proc: subprocess.Popen[Any], log: Path, ready: Callable[[], bool]) -> None:
    """Return once ``ready()`` holds; RuntimeError if the node's ``ray start`` exits first."""
    deadline = time.monotonic() + 240  # a hang guard, not a measurement
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"ray start failed:\n{_text(log)[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError("ray start did not finish")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((NODE_IP, port)) == 0


def _text(log: Path) -> str:
    return log.read_text(errors="replace")


def _stop_node(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the node's process group: every process the node started is in it.

    Nothing of the node outlives it: its sockets and logs are under the
    fixture's temporary folder, and the object store's memory is an unlinked
    file. (SIGTERM made ``ray start`` stop its processes one by one, waiting
    for each, for 15 s and more.)
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _env(fake: FakeOpenAI, cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "SCORER_MODEL": "fake-model",
        "SCORER_CACHE_DIR": str(cache),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        # This suite runs under `uv run`: Ray would see it among a driver's parents
        # and run every worker of the Ray Data script through `uv run` in a copy
        # of the checkout, uploaded for the job (scorer's own driver turns this off).
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    }


class OneProcess:
    """What ``scorer batch`` writes for the seed papers in one process, to compare with."""

    def __init__(self, rows: list[dict[str, str]], digest: str) -> None:
        self.rows = rows
        self.digest = digest


@pytest.fixture(scope="module")
def one_process(fake_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> OneProcess:
    """``scorer batch`` on the seed papers in one process, with its own cache, then its digest.

    Once for the module: the tests that compare a cluster run with it score
    the same papers with the same fake.
    """
    folder = tmp_path_factory.mktemp("one-process")
    out = folder / "one.csv"
    env = {
        "OPENAI_BASE_URL": fake_server.base_url,
        "OPENAI_API_KEY": "sk-test-0123456789abcdef",
        "SCORER_MODEL": "fake-model",
        "SCORER_CACHE_DIR": str(folder / "one-cache"),
    }
    done = run_scorer(["batch", str(SEED), "-r", "llm-inference", "-o", str(out)], env=env)
    assert done.returncode == 0, done.stderr
    digest = folder / "one.md"
    made = run_scorer(["digest", str(out), "-r", "llm-inference", "-o", str(digest)], env={})
    assert made.returncode == 0, made.stderr
    return OneProcess(_rows(out), digest.read_text(encoding="utf-8"))


def _rows(path: Path) -> list[dict[str, str]]:
    rows = csv.DictReader(path.open(encoding="utf-8", newline=""))
    return sorted(({k: row[k] for k in SAME} for row in rows), key=lambda r: r["id"])


def _on_ray(cluster: Cluster, *args: str) -> list[str]:
    return [*SCORER, "batch", *args, "-r", "llm-inference", "--ray", cluster.address]


RPM = 120  # the rate-limited run's limit: 2 requests a second for both workers together


class LimitedRun:
    """The rate-limited run on the cluster, in the background, with a fake server of its own.

    ``samples`` are (time, requests the fake has had) every 20 ms while it runs.
    """

    def __init__(self, proc: subprocess.Popen[Any], fake: FakeOpenAI, log: Path) -> None:
        self.fake = fake
        self.samples: list[tuple[float, int]] = []
        self._proc = proc
        self._log = log
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.fake.count))
            time.sleep(0.02)

    def wait(self) -> tuple[int, str]:
        """Its exit code and standard error, once it has finished."""
        code = self._proc.wait(timeout=900)
        self.stop_sampling()
        return code, self._log.read_text(errors="replace")

    def stop_sampling(self) -> None:
        self._stop.set()
        self._sampler.join()


@pytest.fixture(scope="module", autouse=True)
def limited_run(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedRun]:
    """``scorer batch --ray --rpm 120`` on 30 papers, started as soon as the cluster is up.

    At two requests a second it takes a quarter of a minute, mostly waiting:
    the README and Ray Data tests run meanwhile (the killed-worker test waits
    for it, since it counts the cluster's scoring workers). Its own fake server
    counts its requests alone, whatever else the cluster sends.
    """
    folder = tmp_path_factory.mktemp("limited")
    source = folder / "papers.jsonl"
    with source.open("w", encoding="utf-8") as f:
        for i in range(30):
            f.write(json.dumps({"title": f"Paper {i}", "abstract": f"Abstract number {i}."}) + "\n")
    args = _on_ray(cluster, str(source), "-o", str(folder / "out.csv"), "--rpm", str(RPM))
    log = folder / "stderr.txt"
    with FakeOpenAI() as fake, log.open("w") as err:
        env = _env(fake, folder / "cache")
        cmd = [*args, "--ray-workers", "2"]
        with started(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err) as proc:
            run = LimitedRun(proc, fake, log)
            try:
                yield run
            finally:
                run.stop_sampling()  # and leaving `started` kills the run if it still runs


def test_readme_ray_example_writes_what_one_process_writes_one_call_per_paper(
    cluster: Cluster, fake: FakeOpenAI, one_process: OneProcess, tmp_path: Path
) -> None:
    # The README's command as written, joining this cluster through RAY_ADDRESS
    # (without it, the command starts a Ray of its own for the run).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```shell\n(.*?)```", readme, re.DOTALL) if "--ray" in b)
    command = next(line for line in block.splitlines() if "--ray" in line)
    command = command.replace("http://127.0.0.1:8123/v1", fake.base_url)
    folder = tmp_path / "user"
    shutil.copytree(ROOT / "fixtures", folder / "fixtures")
    env = {
        **os.environ,
        "UV_PROJECT": str(ROOT),
        "RAY_ADDRESS": cluster.address,
        "RAY_AUTH_MODE": "disabled",
        "SCORER_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = run(["bash", "-c", command], cwd=folder, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scanned 50, unique 43, scored 43, cached 0, failed 0" in done.stderr
    assert fake.count == 43  # one model call per paper across both workers, none per duplicate
    assert _rows(folder / "ray.csv") == one_process.rows
    digest = (folder / "ray.md").read_text(encoding="utf-8")
    assert digest.startswith("# LLM inference systems")
    assert digest == one_process.digest

    # Again, with the cluster's address and the workers on the command line.
    fake.reset()
    args = _on_ray(cluster, str(SEED), "-o", str(tmp_path / "again.csv"), "--ray-workers", "2")
    again = run(args, env=_env(fake, tmp_path / "cache"), timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "scored 0, cached 43" in again.stderr
    assert fake.count == 0  # a re-run takes every paper from the shared cache
    assert _rows(tmp_path / "again.csv") == one_process.rows


LIBRARY = """
import json, sys
import ray, ray.data
from scorer.ray import score_dataset

ray.init(address=sys.argv[1], log_to_driver=False, logging_level="WARNING")
# The sort-based shuffle runs as plain tasks: on one-CPU nodes it starts sooner than
# the hash shuffle's aggregator actors; two blocks, not one per record, make two
# tasks per stage (the user's choices, not score_dataset's). A paper's v1 (records
# 0-3) and v2 (records 8-11) are in different blocks.
ray.data.DataContext.get_current().shuffle_strategy = "sort_shuffle_pull_based"
records = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
ds = ray.data.from_items(records, override_num_blocks=2)
rows = score_dataset(ds, "llm-inference", order="n", workers=2).take_all()
print(json.dumps(rows, default=str))
"""


def test_score_dataset_merges_duplicates_across_the_cluster(
    cluster: Cluster, fake: FakeOpenAI, tmp_path: Path
) -> None:
    source = tmp_path / "papers.jsonl"
    records = []
    for n in range(12):
        paper = n % 8  # papers 0-3 come twice: once as v1, once as v2 of the same arXiv id
        ident = f"2602.{10000 + paper}" + ("v2" if n >= 8 else "v1")
        text = {"title": f"Paper {paper}", "abstract": f"Abstract {paper}, record {n}."}
        records.append({"n": n, "id": ident, **text, "Venue": f"venue {n}"})
    records.append({"n": 12, "title": "No abstract"})
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    done = run(
        [PYTHON, "-c", LIBRARY, cluster.address, str(source)],
        env=_env(fake, tmp_path / "cache"),
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["id"] or row["title"]: row for row in json.loads(done.stdout)}
    assert fake.count == 8  # eight papers, one call each, wherever their records were
    assert len(rows) == 9
    for paper in range(8):
        row = rows[f"2602.{10000 + paper}v1"]  # the first record (smallest n) is the one kept
        assert row["abstract"] == f"Abstract {paper}, record {paper}."
        assert row["Venue"] == f"venue {paper}"  # the input's own columns carried through
        assert row["status"] == "scored" and 0 <= row["relevance"] <= 100
    assert rows["No abstract"]["status"] == "invalid"
    assert "abstract" in rows["No abstract"]["error"]


def test_a_killed_worker_loses_nothing_a_rerun_does_not_recover(
    cluster: Cluster,
    fake: FakeOpenAI,
    one_process: OneProcess,
    limited_run: LimitedRun,
    tmp_path: Path,
) -> None:
    limited_run.wait()  # its workers would be counted with this run's
    out = tmp_path / "ray.csv"
    env = _env(fake, tmp_path / "cache")
    args = _on_ray(cluster, str(SEED), "-o", str(out), "--ray-workers", "2", "--concurrency", "4")
    fake.hold()  # requests arrive and wait: a worker dies with requests in flight
    with started(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        # Both workers up (a worker's process is named after the class once it is
        # created), and requests in flight.
        both = lambda: len(cluster.scoring_workers()) == 2 and fake.in_flight >= 2  # noqa: E731
        assert _wait_for(both, guard=600)
        victim = cluster.scoring_workers()[0]
        os.kill(victim, signal.SIGKILL)
        fake.release()
        proc.wait(timeout=900)
    first_calls = fake.count

    fake.reset()
    done = run(args, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _rows(out) == one_process.rows  # every paper, with the scores one process gives
    summary = done.stderr.rsplit("scorer: scanned", 1)[-1]
    scored = int(summary.split("scored ", 1)[1].split(",", 1)[0])
    assert fake.count == scored  # the re-run paid only for papers the cache lacked
    assert first_calls + fake.count >= 43


def _wait_for(condition: Any, *, guard: float) -> bool:
    """Poll ``condition`` until it holds; ``guard`` seconds is a hang guard, not a measurement."""
    deadline = time.monotonic() + guard
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_rate_limit_holds_for_the_whole_cluster(limited_run: LimitedRun) -> None:
    code, stderr = limited_run.wait()
    assert code == 0, stderr[-3000:]
    assert limited_run.fake.count == 30
    samples = limited_run.samples
    # In any window, at most the bucket (2) plus the rate times the window plus one
    # permit each worker may hold; each worker limited on its own would send twice the rate.
    excess = max(
        (later - earlier) - RPM / 60 * (t2 - t1)
        for i, (t1, earlier) in enumerate(samples)
        for t2, later in samples[i::10]
    )
    assert excess <= 2 + 2 + 1
