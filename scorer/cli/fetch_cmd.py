"""``scorer fetch arxiv``: papers from the arXiv API into a file ``scorer batch`` reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from scorer.cli.arxiv_options import arxiv_client_options, arxiv_window_options, day
from scorer.cli.wording import plural
from scorer.io._outputs import check_outputs
from scorer.io._writers import PAPER_FORMATS, save_papers
from scorer.sources._arxiv import MAX_PAGE_SIZE, fetch_arxiv

__all__ = ["fetch"]


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
    help="Output file, .csv, .jsonl, .ris, .bib or .xlsx, written when the fetch is complete. "
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
    # Checked before the arguments are: a bad -o is refused whatever else is wrong.
    check_outputs([output] if output is not None else [], formats=PAPER_FORMATS)
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
    count = save_papers(papers, output)
    click.echo(f"scorer: fetched {count} {plural(count, 'paper')} from arXiv", err=True)
