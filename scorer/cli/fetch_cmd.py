"""``scorer fetch arxiv``: papers from the arXiv API into a file ``scorer batch`` reads.

Also the arXiv options ``scorer batch --arxiv`` shares.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from scorer.models import Paper
from scorer.outputs import check_outputs, staged_outputs
from scorer.sources.arxiv import DEFAULT_ARXIV_URL, MAX_PAGE_SIZE, fetch_arxiv
from scorer.writers import PAPER_COLUMNS, neutralise_cell, paper_row

__all__ = ["arxiv_client_options", "arxiv_window_options", "fetch", "fetched_row"]

F = TypeVar("F", bound=Callable[..., Any])

FETCH_COLUMNS = (*PAPER_COLUMNS, "categories")
_FORMATS = (".csv", ".jsonl", ".ndjson")


def arxiv_window_options(func: F) -> F:
    """``--since``, ``--until`` and ``--max-results``."""
    date = click.DateTime(formats=["%Y-%m-%d"])
    for decorator in reversed(
        [
            click.option(
                "--since",
                type=date,
                metavar="YYYY-MM-DD",
                help="Submitted on or after this day (UTC, arXiv's clock).",
            ),
            click.option(
                "--until",
                type=date,
                metavar="YYYY-MM-DD",
                help="Submitted on or before this day (default: today).",
            ),
            click.option(
                "--max-results",
                type=click.IntRange(min=1),
                help="At most this many papers (default: every match).",
            ),
        ]
    ):
        func = decorator(func)
    return func


def arxiv_client_options(func: F) -> F:
    """``--arxiv-url`` and ``--arxiv-delay``: where the API is and how politely to page it."""
    for decorator in reversed(
        [
            click.option(
                "--arxiv-url",
                help="arXiv API query endpoint "
                f"(env SCORER_ARXIV_URL; default {DEFAULT_ARXIV_URL}).",
            ),
            click.option(
                "--arxiv-delay",
                type=click.FloatRange(min=0),
                help="Seconds between requests to the arXiv API (env SCORER_ARXIV_DELAY; "
                "default 3, as arXiv's terms of use ask).",
            ),
        ]
    ):
        func = decorator(func)
    return func


def day(value: dt.datetime | None) -> dt.date | None:
    """A ``click.DateTime`` value as the date it names."""
    return value.date() if value is not None else None


def fetched_row(paper: Paper) -> dict[str, str]:
    """The batch columns plus ``categories`` (``; ``-joined), which arXiv gives."""
    return {**paper_row(paper), "categories": "; ".join(paper.categories)}


@click.group()
def fetch() -> None:
    """Fetch papers from a source into a file that `scorer batch` reads."""


@fetch.command("arxiv")
@click.option(
    "--query",
    "-q",
    help="arXiv search, e.g. 'ti:\"kv cache\" AND abs:vllm' or plain words.",
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="CAT",
    help="An arXiv category, e.g. cs.DC; repeat for several (a paper in two comes once).",
)
@click.option("--id", "ids", multiple=True, metavar="ID", help="An arXiv id; repeat for several.")
@arxiv_window_options
@click.option(
    "--page-size",
    type=click.IntRange(1, MAX_PAGE_SIZE),
    default=100,
    show_default=True,
    help="Papers per request.",
)
@arxiv_client_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file, .csv or .jsonl, written when the fetch is complete. "
    "Default: JSONL on standard output.",
)
def fetch_arxiv_cmd(
    query: str | None,
    categories: tuple[str, ...],
    ids: tuple[str, ...],
    since: dt.datetime | None,
    until: dt.datetime | None,
    max_results: int | None,
    page_size: int,
    arxiv_url: str | None,
    arxiv_delay: float | None,
    output: Path | None,
) -> None:
    """Fetch papers from the arXiv API as batch input rows.

    \b
    Columns: id (arXiv id without version), title, abstract, authors
    ("; "-separated), published, url, pdf_url, categories. Requests are made
    one page at a time, 3 s apart (arXiv's terms of use); each paper comes
    once, even when cross-listed in several categories.

    \b
    Example:
      scorer fetch arxiv --category cs.DC --category cs.LG --since 2026-02-23 -o papers.csv
    """
    outputs = [output] if output is not None else []
    check_outputs(outputs, formats=_FORMATS)
    papers = fetch_arxiv(
        query,
        ids=ids,
        categories=categories,
        since=day(since),
        until=day(until),
        max_results=max_results,
        page_size=page_size,
        delay_seconds=arxiv_delay,
        base_url=arxiv_url,
    )
    if output is None:
        count = _write(papers, sys.stdout, ".jsonl")
    else:
        # Staged before the first request; a fetch that fails on page three
        # leaves no half file that looks complete, and the old file as it was.
        with staged_outputs(outputs) as staged:
            count = _write(papers, staged.stream(output), output.suffix.lower())
    click.echo(f"scorer: fetched {count} paper{'s' if count != 1 else ''} from arXiv", err=True)


def _write(papers: Iterable[Paper], stream: TextIO, suffix: str) -> int:
    """Write ``papers`` as CSV (a header even when there are none) or JSONL; count them."""
    count = 0
    if suffix == ".csv":
        writer = csv.writer(stream)
        writer.writerow(FETCH_COLUMNS)
        for paper in papers:
            row = fetched_row(paper)
            writer.writerow([neutralise_cell(row[column]) for column in FETCH_COLUMNS])
            count += 1
    else:
        for paper in papers:
            stream.write(json.dumps(fetched_row(paper), ensure_ascii=False) + "\n")
            stream.flush()
            count += 1
    return count
