"""``scorer run CONFIG.toml``: the daily digest, fetched, scored, written and sent in one go."""

from __future__ import annotations

import datetime as dt
import sys

import click

from scorer.cli.exit_codes import EXIT_DELIVERY_FAILED, EXIT_INCOMPLETE, EXIT_NOTHING_NEW
from scorer.cli.signals import terminate_as_interrupt

__all__ = ["run"]


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="Run as on this day (UTC, arXiv's clock): windows and 'nothing new today' follow it. "
    "Default: today.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 6 when there was nothing new to send (default: 0, as for a delivery).",
)
def run(config: str, today: dt.datetime | None, detailed_exitcode: bool) -> None:
    """Run a daily digest: fetch, score, write and send what CONFIG (.toml) says.

    \b
    Papers come from the config's [[arxiv]] searches (a window of submission
    days, e.g. since the last run) and [[file]]s, each paper once; each
    [[digest]] (one rubric) scores them (the cache answers papers scored
    before), writes its outputs (.md, .html, .atom, .csv, .jsonl) and sends
    each of its targets (apprise URLs: e-mail, Slack, webhooks, ...) the
    papers that target has not had yet. A state file beside the cache
    remembers what was sent: a re-run sends nothing twice, and a delivery
    that failed is sent on the next run without scoring again.

    \b
    Exit codes: 0 delivered, or nothing new; 1 some papers could not be
    scored or rows read (the rest was sent); 2 bad config, usage or input;
    3 the model cannot score at all; 4 the cache or state file cannot be
    used; 5 some deliveries failed (retried next run); 6 nothing new (only
    with --detailed-exitcode); 130 interrupted.
    """
    from scorer.daily._config import load_config
    from scorer.daily._run import run_daily

    parsed = load_config(config)

    def echo(line: str) -> None:
        click.echo(f"scorer: {line}", err=True)

    with terminate_as_interrupt():
        report = run_daily(parsed, today=today.date() if today else None, echo=echo)
    if report.failed_deliveries:
        sys.exit(EXIT_DELIVERY_FAILED)
    if report.incomplete:
        sys.exit(EXIT_INCOMPLETE)
    if detailed_exitcode and not report.delivered:
        sys.exit(EXIT_NOTHING_NEW)
