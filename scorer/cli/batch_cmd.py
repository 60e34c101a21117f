"""``scorer batch``: score a CSV or JSONL file of papers, write results and digests."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import click

from scorer.api import scorer_for
from scorer.batch import run_batch
from scorer.cli.fetch_cmd import arxiv_client_options, arxiv_window_options, day
from scorer.cli.files import is_digest, write_digest
from scorer.cli.options import model_options, parse_columns, settings_from
from scorer.cli.progress import BatchProgress, count_records
from scorer.digest import Digest
from scorer.errors import ConfigError, InputError
from scorer.models import Paper
from scorer.readers import RowProblem, read_papers
from scorer.rubric import load_rubric
from scorer.sources.arxiv import fetch_arxiv
from scorer.writers import CsvWriter, JsonlWriter, ResultWriter

__all__ = ["batch"]

EXIT_INCOMPLETE = 1

_ROW_FORMATS: dict[str, type[CsvWriter] | type[JsonlWriter]] = {
    ".csv": CsvWriter,
    ".jsonl": JsonlWriter,
    ".ndjson": JsonlWriter,
}


@click.command()
@click.argument("source", metavar="[INPUT]", required=False)
@click.option("--rubric", "-r", required=True, help="Built-in rubric name or a rubric .toml file.")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file; the format follows the extension: .csv, .jsonl, .md or .html "
    "(digest). Repeat for several. Default: JSONL on standard output.",
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    metavar="FIELD=HEADER",
    help="Read FIELD (title, abstract, authors, published, id, url, pdf_url) from column HEADER.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Model requests in flight at once.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show progress on standard error. Default: a live bar when it is a terminal.",
)
@click.option(
    "--threshold", type=click.IntRange(0, 100), help="Digest threshold (default: the rubric's)."
)
@click.option(
    "--arxiv",
    "arxiv_query",
    metavar="QUERY",
    help="Score the papers an arXiv search finds instead of INPUT, e.g. "
    "'cat:cs.DC AND abs:inference' (with --since/--until for a day's papers).",
)
@arxiv_window_options
@arxiv_client_options
@model_options
def batch(
    source: str | None,
    arxiv_query: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    max_results: int | None,
    arxiv_url: str | None,
    arxiv_delay: float | None,
    rubric: str,
    outputs: tuple[Path, ...],
    columns: tuple[str, ...],
    concurrency: int,
    threshold: int | None,
    progress: bool | None,
    **model_opts: Any,
) -> None:
    """Score every paper in INPUT (.csv, .jsonl, or - for JSONL on stdin), or from --arxiv.

    \b
    Each paper is scored once (arXiv versions, DOI variants and repeated titles
    are one paper); results are written as they finish, so an interrupted run
    loses nothing, and a re-run sends only the papers not yet in the cache.
    Malformed rows are reported with their line number and skipped.

    \b
    Exit codes: 0 every paper scored; 1 some rows were skipped or some papers
    failed (their rows carry the error); 2 bad usage or input; 3 the model
    cannot score at all (bad key, no quota, unreachable), the run stopped early.
    """
    if source is not None and arxiv_query is not None:
        raise InputError("give INPUT or --arxiv QUERY, not both")
    if source is None and arxiv_query is None:
        raise InputError("no papers: give INPUT (.csv, .jsonl, or - for stdin) or --arxiv QUERY")
    if arxiv_query is None and (since or until or max_results):
        raise InputError("--since, --until and --max-results go with --arxiv QUERY")
    rubric_obj = load_rubric(rubric)
    for path in outputs:
        if path.suffix.lower() not in _ROW_FORMATS and not is_digest(path):
            raise ConfigError(f"{path}: unknown output format (use .csv, .jsonl, .md or .html)")
    settings = settings_from(**model_opts)
    problems: list[RowProblem] = []

    def report(problem: RowProblem) -> None:
        if problem.skipped:
            problems.append(problem)
        verdict = "skipped" if problem.skipped else "note"
        click.echo(f"{source}:{problem.line}: {verdict}: {problem.message}", err=True)

    live = sys.stderr.isatty()
    show = live if progress is None else progress
    papers: Iterable[Paper]
    if source is not None:
        papers = read_papers(source, columns=parse_columns(columns), on_problem=report)
        total = count_records(source) if show else None
    else:
        # Fetched before scoring starts: a rejected query costs no tokens, and
        # the client's blocking requests and polite delays stay off the event loop.
        papers = list(
            fetch_arxiv(
                arxiv_query,
                since=day(since),
                until=day(until),
                max_results=max_results,
                delay_seconds=arxiv_delay,
                base_url=arxiv_url,
            )
        )
        total = len(papers)
        click.echo(f"scorer: fetched {total} papers from arXiv", err=True)

    with contextlib.ExitStack() as stack:
        sinks: list[ResultWriter] = []
        digest = Digest(rubric_obj, threshold=threshold)
        for path in outputs:
            kind = _ROW_FORMATS.get(path.suffix.lower())
            if kind is not None:
                stream: TextIO = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
                sinks.append(kind(stream, rubric_obj))
        if any(is_digest(p) for p in outputs):
            sinks.append(digest)
        if not outputs:
            sinks.append(JsonlWriter(sys.stdout, rubric_obj))
        with BatchProgress(total, live=live and show, quiet=not show) as on_result:
            summary = asyncio.run(
                run_batch(
                    papers,
                    rubric_obj,
                    scorer_for(settings),
                    sinks=sinks,
                    concurrency=concurrency,
                    threshold=threshold,
                    on_result=on_result,
                )
            )
    for path in outputs:
        if is_digest(path):
            write_digest(path, digest)
    skipped = f", skipped rows {len(problems)}" if problems else ""
    click.echo(f"scorer: {summary.line()}{skipped}", err=True)
    if summary.failed or problems:
        sys.exit(EXIT_INCOMPLETE)
