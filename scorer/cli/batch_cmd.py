"""``scorer batch``: score a file of papers (CSV, JSONL, RIS, BibTeX, Excel), write results."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from scorer._api import scorer_for
from scorer._errors import InputError
from scorer._models import Paper
from scorer._rubric import load_rubric
from scorer.cli.arxiv_options import arxiv_client_options, arxiv_window_options, day
from scorer.cli.exit_codes import EXIT_INCOMPLETE
from scorer.cli.options import digest_options, model_options, parse_columns, settings_from
from scorer.cli.problems import ProblemLog
from scorer.cli.progress import BatchProgress, count_records
from scorer.cli.signals import terminate_as_interrupt
from scorer.cli.wording import plural
from scorer.engine._batch import run_batch
from scorer.eval._prices import price_usage
from scorer.io._batch_outputs import check_batch_outputs, open_sinks, paper_columns, read_input
from scorer.io._outputs import inputs_of
from scorer.io._writers import RESULT_PREFIX
from scorer.sources._arxiv import fetch_arxiv

__all__ = ["batch"]


@click.command()
@click.argument("source", metavar="[INPUT]", required=False)
@click.option("--rubric", "-r", required=True, help="Built-in rubric name or a rubric .toml file.")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file; the format follows the extension: .csv, .jsonl, .ris, .bib, .xlsx, "
    "NAME.asreview.csv (ASReview labels), .md, .html or .atom (digest; .atom is a feed). "
    "Repeat for several. Default: JSONL on standard output.",
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
@digest_options
@click.option(
    "--arxiv",
    "arxiv_query",
    metavar="QUERY",
    help="Score the papers an arXiv search finds instead of INPUT, e.g. "
    "'cat:cs.DC AND abs:inference' (with --since/--until for a day's papers).",
)
@arxiv_window_options
@arxiv_client_options
@click.option(
    "--batch-api",
    is_flag=True,
    help="Send the papers through OpenAI's Batch API (half price, answers within 24 h): "
    "the first run submits, a later run collects and writes the outputs (exit 75 while "
    "batches are running). Papers in the cache are never submitted.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="With --batch-api: poll until the batches have ended, then write the outputs.",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Score on a Ray cluster (pip install 'scorer[ray]'): ADDRESS such as 10.0.0.5:6379, "
    "or none for RAY_ADDRESS or a local Ray. Same outputs; --concurrency is per worker.",
)
@click.option(
    "--ray-workers",
    type=click.IntRange(1),
    metavar="N",
    help="Ray workers, each one scorer with --concurrency requests (default: one per node).",
)
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
    top_n: int | None,
    progress: bool | None,
    batch_api: bool,
    wait: bool,
    ray_address: str | None,
    ray_workers: int | None,
    **model_opts: Any,
) -> None:
    """Score every paper in INPUT (.csv, .jsonl, .ris, .bib, .xlsx, or - for JSONL on stdin).

    \b
    Or the papers an arXiv search finds (--arxiv). RIS and BibTeX outputs keep
    every field of the input and carry the scores in a note (N1, note).

    \b
    Each paper is scored once (arXiv versions, DOI variants and repeated titles
    are one paper); a re-run sends only the papers not yet in the cache.
    Malformed rows are reported with their line number and skipped.

    \b
    Outputs are written beside their path as results finish and moved into
    place when the run ends, also on Ctrl-C or a model error (the rows
    finished are kept); a run stopped by bad input or usage leaves existing
    files as they were. An output that is the input is refused. Input
    columns named like a result column keep their name; scorer's become
    scorer_<name>. CSV cells starting with = + - @ are prefixed with '.

    \b
    Exit codes: 0 every paper scored; 1 some rows were skipped or some papers
    failed (their rows carry the error); 2 bad usage or input; 3 the model
    cannot score at all (bad key, no quota, unreachable), the run stopped early;
    75 --batch-api batches are still running (run again to collect); 130
    interrupted (Ctrl-C or SIGTERM).
    """
    if source is not None and arxiv_query is not None:
        raise InputError("give INPUT or --arxiv QUERY, not both")
    if source is None and arxiv_query is None:
        raise InputError("no papers: give INPUT (a file, or - for stdin) or --arxiv QUERY")
    if arxiv_query is None and (since or until or max_results):
        raise InputError("--since, --until and --max-results go with --arxiv QUERY")
    if wait and not batch_api:
        raise InputError("--wait goes with --batch-api")
    inputs = inputs_of(source)
    check_batch_outputs(outputs, inputs=inputs)
    rubric_obj = load_rubric(rubric)
    settings = settings_from(**model_opts)
    problems = ProblemLog(str(source))
    live = sys.stderr.isatty()
    show = live if progress is None else progress
    papers: Iterable[Paper]
    input_columns: list[str] | None
    if source is not None:
        # A file is surveyed before any model call: an error that stops it costs nothing.
        papers, input_columns = read_input(
            source, columns=parse_columns(columns), on_problem=problems
        )
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
        input_columns = paper_columns(papers)
        total = len(papers)
        click.echo(f"scorer: fetched {total} {plural(total, 'paper')} from arXiv", err=True)

    if batch_api and ray_address is not None:
        raise click.UsageError("--batch-api and --ray are two routes; choose one")
    scorer = scorer_for(settings)
    through_api = None
    if batch_api:
        # openai loads in about a second: only this route needs it before a cache miss.
        from scorer.cli.batch_api_route import through_batch_api
        from scorer.engine._batch_api import batch_answers_scorer

        # Before the outputs are opened: while batches run, earlier outputs stay as they are.
        papers = list(papers)
        through_api = through_batch_api(papers, rubric_obj, scorer, wait=wait)
        scorer = batch_answers_scorer(scorer, through_api)
    out = open_sinks(
        outputs,
        rubric_obj,
        inputs=inputs,
        threshold=threshold,
        top_n=top_n,
        input_columns=input_columns,
    )
    try:
        with (
            terminate_as_interrupt(),
            out,
            BatchProgress(total, live=live and show, quiet=not show) as on_result,
        ):
            if ray_address is not None:
                from scorer.ray._route import run_batch_on_ray  # imports Ray: only here

                summary = run_batch_on_ray(
                    papers,
                    rubric_obj,
                    settings,
                    address=ray_address or None,
                    sinks=out.sinks,
                    concurrency=concurrency,
                    workers=ray_workers,
                    threshold=threshold,
                    on_result=on_result,
                )
            else:
                # A run makes a few dozen short-lived objects a paper: collecting them at
                # every 700 new ones (Python's default) took about 3.5 us of CPU a cached
                # paper, for little to free. Cycles wait a little longer; the default is
                # back after the run.
                collect_at = gc.get_threshold()
                gc.set_threshold(10_000, *collect_at[1:])
                try:
                    summary = asyncio.run(
                        run_batch(
                            papers,
                            rubric_obj,
                            scorer,
                            sinks=out.sinks,
                            concurrency=concurrency,
                            threshold=threshold,
                            on_result=on_result,
                        )
                    )
                finally:
                    gc.set_threshold(*collect_at)
    finally:
        if out.renamed:
            click.echo(
                f"scorer: note: the input has columns named {', '.join(out.renamed)}; they are "
                f"kept, and scorer's are written as "
                f"{', '.join(RESULT_PREFIX + n for n in out.renamed)}",
                err=True,
            )
    if through_api is not None:
        from scorer.cli.batch_api_route import count_batch_api

        count_batch_api(summary, through_api)
        click.echo(f"scorer: {through_api.line()}", err=True)
    elif summary.usage.requests:
        summary.cost_usd = price_usage(scorer.model_id, summary.usage)
    skipped = f", skipped rows {problems.skipped}" if problems.skipped else ""
    click.echo(f"scorer: {summary.line()}{skipped}", err=True)
    if summary.failed or problems.skipped:
        sys.exit(EXIT_INCOMPLETE)
