"""The arXiv options ``scorer fetch arxiv`` and ``scorer batch --arxiv`` share.

Apart from both commands so that neither imports the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import click

from scorer.sources._arxiv import DEFAULT_ARXIV_URL

__all__ = ["arxiv_client_options", "arxiv_window_options", "day"]

F = TypeVar("F", bound=Callable[..., Any])


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
