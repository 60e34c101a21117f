"""The day's papers: every configured arXiv search (over its window) and file, each paper once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from scorer._models import Paper
from scorer.daily._config import ArxivSource, DailyConfig
from scorer.daily._state import DeliveryState
from scorer.engine._identity import dedupe_papers
from scorer.io._readers import RowProblem, read_papers
from scorer.sources._arxiv import arxiv_query, fetch_arxiv

__all__ = ["Gathered", "arxiv_window", "gather_papers", "source_key"]


@dataclass(frozen=True)
class Gathered:
    """The papers of all sources (each once), and the ``since = "last-run"`` sources' keys."""

    papers: list[Paper]
    last_run_sources: list[str]
    skipped_rows: int


def source_key(source: ArxivSource) -> str:
    """What the state remembers a search by: its query and categories, without dates."""
    return "arxiv:" + arxiv_query(source.query, categories=source.categories)


def arxiv_window(
    source: ArxivSource, state: DeliveryState, today: dt.date
) -> tuple[dt.date | None, dt.date | None]:
    """The submission days ``source`` covers today: ``(since, until)``, inclusive.

    ``since = "last-run"``: from the last day every delivery succeeded (that
    day again, so nothing submitted late that day is missed; the state drops
    what was already sent), or ``first_days`` back on the first run. ``days =
    N``: from N days back. A date: from that day. ``until`` defaults to today.
    """
    if source.since == "last-run":
        last = state.last_ok_day(source_key(source))
        since = last if last is not None else today - dt.timedelta(days=source.first_days)
    elif isinstance(source.since, dt.date):
        since = source.since
    elif source.days is not None:
        since = today - dt.timedelta(days=source.days)
    else:
        return None, source.until
    return since, source.until or max(today, since)


def gather_papers(
    config: DailyConfig,
    state: DeliveryState,
    today: dt.date,
    *,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = lambda line: None,
) -> Gathered:
    """Fetch every arXiv source and read every file (all before any model call), deduplicated."""
    papers: list[Paper] = []
    last_run: list[str] = []
    for source in config.arxiv:
        since, until = arxiv_window(source, state, today)
        fetched = list(
            fetch_arxiv(
                source.query,
                categories=source.categories,
                since=since,
                until=until,
                max_results=source.max_results,
                delay_seconds=source.delay,
                base_url=source.url,
                env=env,
            )
        )
        window = f", submitted {since} to {until}" if since else ""
        echo(f"fetched {len(fetched)} papers from arXiv ({source_key(source)}{window})")
        papers += fetched
        if source.since == "last-run":
            last_run.append(source_key(source))
    skipped = 0
    for file in config.file:
        name = str(file.path)

        def report(problem: RowProblem, name: str = name) -> None:
            nonlocal skipped
            skipped += problem.skipped
            where = f"{name}:{problem.line}" if problem.line else name
            echo(f"{where}: {'skipped' if problem.skipped else 'note'}: {problem.message}")

        papers += read_papers(file.path, columns=file.columns or None, on_problem=report)
    return Gathered(list(dedupe_papers(papers)), last_run, skipped)
