"""``scorer eval``: how well a rubric's scores agree with human labels."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scorer._rubric import load_rubric
from scorer._whitespace import one_line
from scorer.cli.options import model_options, parse_columns, settings_from
from scorer.cli.problems import ProblemLog
from scorer.cli.wording import plural
from scorer.engine._scorer import Scorer
from scorer.eval._prices import parse_price
from scorer.io._outputs import check_outputs, staged_outputs

if TYPE_CHECKING:
    from scorer.eval._run import EvalRun

__all__ = ["evaluate_cmd"]


@click.command("eval")
@click.argument("source", metavar="LABELLED")
@click.option("--rubric", "-r", required=True, help="Built-in rubric name or a rubric .toml file.")
@click.option(
    "--label-column", default="label", show_default=True, help="Column holding the human label."
)
@click.option(
    "--positive",
    "positives",
    multiple=True,
    help="A label value that means relevant (repeat for several, e.g. --positive yes "
    "--positive I). Default: yes/no, true/false, include/exclude, or numbers (graded).",
)
@click.option(
    "--threshold", type=click.IntRange(0, 100), help="Score threshold (default: the rubric's)."
)
@click.option(
    "--prefilter-top",
    metavar="FRACTION",
    help="Send only the papers a TF-IDF similarity ranks in its top FRACTION (e.g. 30%) "
    "to the model; the rest count as score 0.",
)
@click.option(
    "--price",
    metavar="IN,OUT",
    help="USD per million prompt and completion tokens for the cost estimate "
    "(default: the model's price from genai-prices, cached input priced apart).",
)
@click.option("--column", "columns", multiple=True, metavar="FIELD=HEADER")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=16, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write an HTML report (calibration plot, score distributions).",
)
@model_options
def evaluate_cmd(
    source: str,
    rubric: str,
    label_column: str,
    positives: tuple[str, ...],
    threshold: int | None,
    prefilter_top: str | None,
    price: str | None,
    columns: tuple[str, ...],
    concurrency: int,
    as_json: bool,
    report: Path | None,
    **model_opts: Any,
) -> None:
    """Score LABELLED (.csv, .jsonl, .ris, .bib, .xlsx; a human label each) and compare.

    \b
    In RIS the label is a tag: --label-column label reads LB (EndNote's Label),
    custom1 reads C1; in BibTeX, a field of that name.

    \b
    Prints ROC-AUC, average precision, Spearman (graded labels), precision,
    recall and F1 at the threshold, the confusion table, the threshold that
    finds 95% of the relevant papers and the share of papers a human would
    still read there, tokens and estimated cost; and the same for a TF-IDF
    similarity baseline. Scores are cached: a second eval of the same rubric
    and model sends nothing.

    \b
    With --reviewers A,B: the reviewers' Cohen's kappa about the threshold and
    the papers they disagree on (needs_human), the least certain first. With
    --cascade CHEAP,STRONG: recall at the threshold, ROC-AUC and USD of the
    cascade next to STRONG's alone (STRONG is asked about every paper).
    """
    # scikit-learn and scipy take seconds to import: only `scorer eval` pays for them.
    from scorer.eval._baseline import parse_fraction
    from scorer.eval._report import render_eval_html
    from scorer.eval._run import run_eval
    from scorer.io._labelled import read_labelled

    reports = [report] if report is not None else []
    check_outputs(reports, formats=(".html",), inputs=[source], kind="report")
    rubric_obj = load_rubric(rubric)
    settings = settings_from(**model_opts)
    fraction = parse_fraction(prefilter_top) if prefilter_top else None
    prices = {settings.model_id: parse_price(price)} if price else None
    labelled = read_labelled(
        source,
        label_column=label_column,
        positives=positives,
        columns=parse_columns(columns),
        on_problem=ProblemLog(source),
        on_unlabelled=_left_out,
    )

    async def run() -> EvalRun:
        async with Scorer(settings) as scorer:
            return await run_eval(
                labelled.papers,
                rubric_obj,
                scorer,
                threshold=threshold,
                concurrency=concurrency,
                prefilter=fraction,
                prices=prices,
            )

    # The report is staged before the first model call: a folder that cannot
    # take it fails now, not after the papers were paid for.
    with staged_outputs(reports) as staged:
        outcome = asyncio.run(run())
        if as_json:
            click.echo(json.dumps(outcome.to_json(), indent=2))
        else:
            click.echo(_text(outcome))
        if report is not None:
            title = f"scorer eval: {rubric_obj.title}"
            staged.stream(report).write(render_eval_html(outcome.report, title=title))
    if report is not None:
        click.echo(f"scorer: wrote {report}", err=True)


def _left_out(unlabelled: int) -> None:
    click.echo(f"scorer: {unlabelled} row(s) without a label were left out", err=True)


def _text(outcome: EvalRun) -> str:
    from scorer.eval._text import format_table

    lines = [format_table(outcome.report), ""]
    base = outcome.baseline
    lines.append(
        f"TF-IDF baseline (no model): ROC-AUC {_num(base.auc)}, "
        f"average precision {_num(base.average_precision)}"
    )
    if outcome.prefiltered_out:
        lines.append(
            f"prefilter: {outcome.prefiltered_out} {plural(outcome.prefiltered_out, 'paper')} not "
            "sent to the model, "
            f"{outcome.positives_prefiltered_out} of them relevant (counted as missed)"
        )
    lines += _panel_lines(outcome)
    lines.append(
        f"{outcome.sent_to_model} {plural(outcome.sent_to_model, 'paper')} scored "
        f"({outcome.cached} from the cache) "
        f"in {outcome.wall_s:.1f} s"
    )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _usd(value: float | None) -> str:
    return "unknown price" if value is None else f"${value:,.4f}"


def _panel_lines(outcome: EvalRun) -> list[str]:
    """What two reviewers or a cascade did, under the model's table."""
    lines: list[str] = []
    agreed = outcome.reviewers
    if agreed is not None:
        a, b = agreed.models
        lines.append(
            f"reviewers {a} and {b}: Cohen's kappa {_num(agreed.kappa)} about the threshold "
            f"({agreed.threshold:g}) on {agreed.papers} {plural(agreed.papers, 'paper')}; "
            f"needs_human {agreed.needs_human}"
        )
        if agreed.disputed:
            lines.append("needs a human, least certain first:")
            lines += [f"  - {one_line(title)}" for title in agreed.disputed]
    cascade = outcome.cascade
    if cascade is not None:
        cheap, strong = cascade.models
        lines.append(
            f"cascade {cheap} -> {strong} (margin {cascade.margin}): {cascade.escalated} of "
            f"{cascade.papers} {plural(cascade.papers, 'paper')} sent to {strong}"
        )
        for name, side in (("cascade", cascade.cascade), (f"{strong} alone", cascade.strong_alone)):
            lines.append(
                f"  {name}: recall at {cascade.threshold:g} {_num(side.recall)}, "
                f"ROC-AUC {_num(side.auc)}, USD {_usd(side.usd)}"
            )
    return lines
