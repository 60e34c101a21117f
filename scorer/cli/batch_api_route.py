"""``scorer batch --batch-api``: the Batch API step before the usual outputs.

The papers go through OpenAI's Batch API (:mod:`scorer.engine._batch_api`);
when every batch of the input has ended, ``scorer batch`` writes its outputs
as usual from the cache. Until then it says which batches are running and
exits 75, so a loop (``until scorer batch ... --batch-api; [ $? -ne 75 ]``) or
a cron job collects them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import click

from scorer._models import Paper
from scorer._rubric import Rubric
from scorer.cli.exit_codes import EXIT_PENDING
from scorer.engine._batch_api import BatchApiRun, submit_or_collect
from scorer.engine._pipeline import BatchSummary
from scorer.engine._scorer import Scorer

__all__ = ["count_batch_api", "through_batch_api"]


def through_batch_api(
    papers: Sequence[Paper], rubric: Rubric, scorer: Scorer, *, wait: bool
) -> BatchApiRun:
    """Collect or submit; exit 75 with what is running unless the input's batches have ended."""

    def say(message: str) -> None:
        click.echo(f"scorer: {message}", err=True)

    async def run() -> BatchApiRun:
        try:
            return await submit_or_collect(papers, rubric, scorer, wait=wait, on_event=say)
        finally:
            await scorer.aclose()

    outcome = asyncio.run(run())
    if not outcome.done:
        ids = ", ".join(batch_id for batch_id, _, _ in outcome.running)
        say(
            f"waiting for {len(outcome.running)} batch(es) ({ids}); run the same command "
            "again to collect (or add --wait); no outputs written yet"
        )
        sys.exit(EXIT_PENDING)
    return outcome


def count_batch_api(summary: BatchSummary, outcome: BatchApiRun) -> None:
    """Count the answers this run collected as scored now, and what they cost."""
    collected = len(outcome.collected_keys & outcome.input_keys)
    summary.scored += collected
    summary.cached -= collected
    summary.usage = outcome.usage
    summary.tokens = outcome.usage.total_tokens
    summary.cost_usd = outcome.cost_usd
