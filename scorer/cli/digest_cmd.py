"""``scorer digest``: render a digest from already scored rows, without any model."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scorer.batch_outputs import DIGEST_RENDERERS, write_digests
from scorer.cli.batch_cmd import EXIT_INCOMPLETE
from scorer.cli.options import digest_options
from scorer.digest import Digest, render_markdown
from scorer.outputs import check_outputs
from scorer.readers import RowProblem
from scorer.rubric import load_rubric
from scorer.scored_rows import read_scored

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
    help="Digest file, .md or .html (repeatable). Default: Markdown on standard output.",
)
@digest_options
def digest(
    source: str,
    rubric: str,
    outputs: tuple[Path, ...],
    threshold: int | None,
    top_n: int | None,
) -> None:
    """Render a digest from SCORED (.csv or .jsonl written by `scorer batch`).

    \b
    Duplicates are merged and counted once; failed rows count as scanned and
    are not listed. Rows whose scores are missing or not integers 0-100 are
    reported and skipped.

    \b
    Exit codes: 0 every row was read; 1 some rows were skipped; 2 bad usage or input.
    """
    check_outputs(outputs, formats=DIGEST_RENDERERS, inputs=[source], kind="digest")
    rubric_obj = load_rubric(rubric)

    problems: list[RowProblem] = []

    def report(problem: RowProblem) -> None:
        if problem.skipped:
            problems.append(problem)
        where = f"{source}:{problem.line}" if problem.line else source
        verdict = "skipped" if problem.skipped else "note"
        click.echo(f"{where}: {verdict}: {problem.message}", err=True)

    scored = read_scored(source, rubric_obj, on_problem=report)
    result = Digest.of(scored, rubric_obj, threshold=threshold, top_n=top_n)
    if not outputs:
        sys.stdout.write(render_markdown(result))
    write_digests(outputs, result)
    if problems:
        sys.exit(EXIT_INCOMPLETE)
