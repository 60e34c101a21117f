"""``scorer digest``: render a digest from already scored rows, without any model."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scorer._rubric import load_rubric
from scorer.cli.exit_codes import EXIT_INCOMPLETE
from scorer.cli.options import digest_options
from scorer.cli.problems import ProblemLog
from scorer.digest._markdown import Digest, render_markdown
from scorer.io._batch_outputs import check_digest_outputs, write_digests
from scorer.io._scored import read_scored

__all__ = ["digest"]


@click.command()
@click.argument("source", metavar="SCORED")
@click.option("--rubric", "-r", required=True, help="The rubric the rows were scored with.")
@click.option(
    "-o",
    "--output",
    "outputs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Digest file, .md, .html or .atom (a feed; repeatable). "
    "Default: Markdown on standard output.",
)
@digest_options
def digest(
    source: str,
    rubric: str,
    outputs: tuple[Path, ...],
    threshold: int | None,
    top_n: int | None,
) -> None:
    """Render a digest from SCORED (.csv, .jsonl, .ris, .bib, .xlsx from `scorer batch`).

    \b
    Duplicates are merged and counted once; failed rows count as scanned and
    are not listed. Rows whose scores are missing or not integers 0-100 are
    reported and skipped.

    \b
    Exit codes: 0 every row was read; 1 some rows were skipped; 2 bad usage or input.
    """
    check_digest_outputs(outputs, inputs=[source])
    rubric_obj = load_rubric(rubric)
    problems = ProblemLog(source)
    scored = read_scored(source, rubric_obj, on_problem=problems)
    result = Digest.of(scored, rubric_obj, threshold=threshold, top_n=top_n)
    if not outputs:
        sys.stdout.write(render_markdown(result))
    write_digests(outputs, result)
    if problems.skipped:
        sys.exit(EXIT_INCOMPLETE)
