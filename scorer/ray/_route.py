"""``scorer batch --ray``: a batch run whose scoring happens on a Ray cluster.

The driver (the ``scorer`` process) reads and checks the input as ``scorer
batch`` does, numbers the records, and hands them to the cluster, which merges
duplicates and scores (:func:`scorer.ray._dataset.scored_results`). Results
stream back to the driver and go through the same sinks as a one-process run:
the CSV/JSONL rows, the Markdown/HTML digest and the summary are made by the
same code from the same :class:`~scorer._models.ScoredPaper` objects, so the
two routes write the same files. (Ray's own writers would write a folder of
part files per output, without the staging, the CSV formula guard or the
digest.)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from scorer._errors import ConfigError, ScorerError
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer._settings import Settings
from scorer.engine._pipeline import BatchSummary
from scorer.io._writers import ResultWriter
from scorer.ray._dataset import INSTALL_HINT, papers_as_keyed, scored_results

__all__ = ["connect", "run_batch_on_ray"]

_WORKER_START_S = 600  # how long the workers may take to start (a busy machine, a big image)


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
        import ray.data
    except ImportError as exc:
        raise ConfigError(f"--ray: {INSTALL_HINT}") from exc
    # The command shows its own progress and summary; Ray Data's would interleave.
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False
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
        keyed = ray.data.from_items(rows)
        # Every worker up before the first batch is handed out: otherwise the first
        # actor to start takes a small input's every batch while the others start.
        keyed.context.wait_for_min_actors_s = _WORKER_START_S
        results = scored_results(
            keyed,
            rubric,
            workers=workers,
            concurrency=concurrency,
            settings=settings,
            merged=True,
            papers=len(rows),
        )
        for row in _rows_of(results):
            result = ScoredPaper.model_validate_json(row["result"])
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


def _rows_of(results: Any) -> Iterable[dict[str, Any]]:
    """The cluster's result rows; a scorer error raised in a worker is raised here as itself."""
    try:
        yield from results.iter_rows()
    except ScorerError:
        raise
    except Exception as exc:
        cause = _scorer_error_in(exc)
        if cause is None:
            raise
        raise cause from exc


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
