"""The ``scorer`` command: thin commands over the library.

Exit codes: 0 success; 2 bad usage or input (unknown rubric, invalid paper or
option); 3 the model could not score (endpoint errors, invalid answers);
4 the cache could not be used; 130 interrupted.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from scorer import __version__
from scorer.cli.batch_cmd import batch
from scorer.cli.cache_cmd import cache
from scorer.cli.digest_cmd import digest
from scorer.cli.eval_cmd import evaluate_cmd
from scorer.cli.fetch_cmd import fetch
from scorer.cli.rubrics_cmd import rubrics
from scorer.cli.score_cmd import score
from scorer.cli.serve_cmd import serve
from scorer.errors import BackendError, CacheError, ScorerError

__all__ = ["cli", "main"]

EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_CACHE = 4
EXIT_INTERRUPTED = 130


def exit_code_for(error: ScorerError) -> int:
    if isinstance(error, BackendError):
        return EXIT_BACKEND
    if isinstance(error, CacheError):
        return EXIT_CACHE
    return EXIT_USAGE


class _ScorerGroup(click.Group):
    """Turns every ``ScorerError`` into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScorerError as error:
            click.echo(f"scorer: error: {error}", err=True)
            ctx.exit(exit_code_for(error))
        except KeyboardInterrupt:
            # click would turn this into "Aborted!" and exit 1; 130 is the documented code.
            click.echo("scorer: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


@click.group(cls=_ScorerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scorer")
def cli() -> None:
    """Score research papers against a topic rubric with an LLM."""
    # instructor logs every failed request at ERROR. With logging unconfigured,
    # Python prints those records to stderr, so one failure would show up three
    # times around the single line this command prints for it.
    logging.getLogger("instructor").setLevel(logging.CRITICAL)


cli.add_command(score)
cli.add_command(batch)
cli.add_command(digest)
cli.add_command(evaluate_cmd)
cli.add_command(rubrics)
cli.add_command(cache)
cli.add_command(serve)
cli.add_command(fetch)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="scorer")
