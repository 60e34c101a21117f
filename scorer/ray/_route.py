"""``scorer batch --ray``: a batch run whose scoring happens on a Ray cluster.

The driver (the ``scorer`` process) reads and checks the input as ``scorer
batch`` does, merges duplicates by identity (it reads every record anyway,
so merging there costs no shuffle), and hands batches of unique papers to
``workers`` plain Ray actors (:class:`~scorer.ray._worker.PaperScorer`), the
nodes taken in turn, one batch in flight per actor plus one queued. Results
stream back to the driver and go through the same sinks as a one-process
run: the CSV/JSONL rows, the Markdown/HTML digest and the summary are made by
the same code from the same :class:`~scorer._models.ScoredPaper` objects, so
the two routes write the same files. (Ray's own writers would write a folder
of part files per output, without the staging, the CSV formula guard or the
digest.)

Plain actors, not Ray Data: with one row per paper already, Ray Data would
add nothing but start-up, its import (pyarrow, pandas) in the driver and in
every worker, and three service actors of its own on a new cluster.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from scorer._errors import ConfigError, ScorerError
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer._settings import Settings
from scorer.engine._pipeline import BatchSummary
from scorer.io._writers import ResultWriter
from scorer.ray._bucket import permit_actor
from scorer.ray._dataset import (
    INSTALL_HINT,
    alive_nodes,
    check_cluster_settings,
    papers_as_keyed,
)
from scorer.ray._worker import PaperScorer

__all__ = ["connect", "run_batch_on_ray"]

_QUEUED = 2  # batches handed to one actor at a time: the one it scores and the next


def connect(address: str | None) -> Any:
    """``ray`` connected to the cluster at ``address`` (None: ``RAY_ADDRESS``, else a local one)."""
    # A scoring run sends nothing anywhere but its model endpoint: no usage reports.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Under `uv run`, Ray would start every worker through `uv run` in a copy of
    # the current folder, a new environment per node without the `ray` extra.
    # The workers run the nodes' own Python instead, where scorer[ray] is installed.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    if address is None and not os.environ.get("RAY_ADDRESS"):
        # A Ray started here for this run stays on loopback (Ray would give it the
        # machine's routable address, as for a node other machines join).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray: {INSTALL_HINT}") from exc
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = address or "RAY_ADDRESS / a local Ray"
            raise ConfigError(f"--ray {where}: cannot reach the Ray cluster: {exc}") from exc
    return ray


def run_batch_on_ray(
    papers: Iterable[Paper],
    rubric: Rubric,
    settings: Settings,
    *,
    address: str | None = None,
    sinks: Iterable[ResultWriter] = (),
    concurrency: int = 16,
    workers: int | None = None,
    threshold: int | None = None,
    on_result: Callable[[ScoredPaper, BatchSummary], None] | None = None,
) -> BatchSummary:
    """Score ``papers`` on the Ray cluster at ``address``, writing each result as it arrives.

    As :func:`scorer.engine.run_batch` (same summary, same rows, order of
    arrival), with ``concurrency`` requests per worker and ``workers`` actors
    (default one per node).
    """
    ray = connect(address)
    summary = BatchSummary()
    sinks = list(sinks)
    gate = rubric.threshold if threshold is None else threshold
    primary = rubric.primary.name
    started = time.perf_counter()
    rows, summary.scanned = papers_as_keyed(papers)
    summary.unique = len(rows)
    summary.duplicates = summary.scanned - summary.unique
    try:
        if not rows:
            return summary
        for item in _scored_on_actors(ray, rows, settings, rubric, concurrency, workers):
            result = ScoredPaper.model_validate_json(item)
            if result.error is not None:
                summary.failed += 1
                summary.errors.append(f"{result.paper.id or result.paper.title}: {result.error}")
            elif result.cached:
                summary.cached += 1
            else:
                summary.scored += 1
            if result.ok and result.scores[primary] >= gate:
                summary.above_threshold += 1
            summary.tokens += result.usage.total_tokens
            for sink in sinks:
                sink.write(result)
            if on_result is not None:
                on_result(result, summary)
        return summary
    finally:
        summary.wall_s = time.perf_counter() - started


def _scored_on_actors(
    ray: Any,
    rows: list[dict[str, Any]],
    settings: Settings,
    rubric: Rubric,
    concurrency: int,
    workers: int | None,
) -> Iterator[str]:
    """Each unique paper of ``rows`` scored on ``workers`` actors: ``ScoredPaper`` JSON, as done.

    Every actor is handed its first batch at once, before any has started, so
    a small input is shared among all of them (the first actor up does not
    take every batch while the others start). Batches are at most 16 x
    ``concurrency`` papers: long enough that a batch's last requests, which
    leave slots idle, are a small part of it. An actor that dies is restarted
    by Ray and its batches run again there; what it had finished is cached.
    """
    limited = check_cluster_settings(settings, concurrency)
    nodes = [node["NodeID"] for node in alive_nodes(ray)]
    count = workers if workers is not None else max(1, len(nodes))
    size = max(concurrency, min(16 * concurrency, -(-len(rows) // count)))
    batches = [rows[i : i + size] for i in range(0, len(rows), size)]
    permits = permit_actor(settings.limits) if limited else None
    pool = [
        _actor(ray, nodes[i % len(nodes)] if nodes else None).remote(
            settings, rubric, concurrency=concurrency, permits=permits, workers=count
        )
        for i in range(min(count, len(batches)))
    ]
    pending: dict[Any, Any] = {}  # the result of a batch -> the actor scoring it
    queue = iter(batches)
    try:
        for _ in range(_QUEUED):
            for worker in pool:
                batch = next(queue, None)
                if batch is not None:
                    pending[worker.score_rows.remote(batch)] = worker
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            worker = pending.pop(done)
            batch = next(queue, None)
            if batch is not None:
                pending[worker.score_rows.remote(batch)] = worker
            yield from (item for item in _results_of(ray, done) if item is not None)
    finally:
        for worker in pool:  # their job would end with this process; free the nodes now
            ray.kill(worker)
        if permits is not None:
            ray.kill(permits)


def _actor(ray: Any, node: str | None) -> Any:
    """The scoring actor class, placed on ``node`` while it lives (then wherever Ray can)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # The workers wait on the network, not the CPU: they take no CPU from Ray's
    # accounting, so a one-core node runs one beside anything else. Ray's own
    # placement (SPREAD included) may put two on one node; each takes its turn
    # of the nodes instead, and soft: a restarted worker whose node is gone
    # goes to another.
    strategy = NodeAffinitySchedulingStrategy(node_id=node, soft=True) if node is not None else None
    return ray.remote(PaperScorer).options(
        num_cpus=0, max_restarts=-1, max_task_retries=-1, scheduling_strategy=strategy
    )


def _results_of(ray: Any, done: Any) -> list[str | None]:
    """A finished batch's results; a scorer error raised in a worker is raised here as itself."""
    try:
        results: list[str | None] = ray.get(done)
    except ScorerError:
        raise
    except Exception as exc:
        cause = _scorer_error_in(exc)
        if cause is None:
            raise
        raise cause from exc
    return results


def _scorer_error_in(exc: BaseException) -> ScorerError | None:
    """The :class:`ScorerError` a worker raised, under Ray's wrappers, if one did."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        cause = getattr(current, "cause", None)  # a RayTaskError: the worker's own exception
        if isinstance(current, ScorerError) and cause is None:
            return current
        for nested in (cause, current.__cause__, current.__context__):
            if isinstance(nested, BaseException):
                stack.append(nested)
    return None
