"""The ``scorer`` command: thin commands over the library.

Exit codes are listed, and errors mapped to them, in :mod:`scorer.cli.exit_codes`.

Each command's module is imported only when that command runs (click's
"lazily loading subcommands" pattern): the commands between them import the
OpenAI client, instructor, jinja, rich, FastAPI and scikit-learn, which took
2 s before ``scorer --help`` could print anything.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import click

from scorer import __version__
from scorer._errors import ScorerError
from scorer.cli.exit_codes import EXIT_INTERRUPTED, exit_code_for
from scorer.cli.signals import accept_interrupts

__all__ = ["cli", "main"]

# name -> (module, attribute, the first paragraph of its help). The help is
# copied here so that `scorer --help` can list the commands without importing
# them; tests/test_cli.py checks that it matches each command's own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "batch": (
        "scorer.cli.batch_cmd",
        "batch",
        "Score every paper in INPUT (.csv, .jsonl, .ris, .bib, .xlsx, or - for JSONL on stdin).",
    ),
    "cache": ("scorer.cli.cache_cmd", "cache", "The result cache (scores already paid for)."),
    "digest": (
        "scorer.cli.digest_cmd",
        "digest",
        "Render a digest from SCORED (.csv, .jsonl, .ris, .bib, .xlsx from `scorer batch`).",
    ),
    "eval": (
        "scorer.cli.eval_cmd",
        "evaluate_cmd",
        "Score LABELLED (.csv, .jsonl, .ris, .bib, .xlsx; a human label each) and compare.",
    ),
    "fetch": (
        "scorer.cli.fetch_cmd",
        "fetch",
        "Fetch papers from a source into a file that `scorer batch` reads.",
    ),
    "rubrics": ("scorer.cli.rubrics_cmd", "rubrics", "Built-in rubrics, and checking your own."),
    "run": (
        "scorer.cli.run_cmd",
        "run",
        "Run a daily digest: fetch, score, write and send what CONFIG (.toml) says.",
    ),
    "score": ("scorer.cli.score_cmd", "score", "Score one paper against a rubric."),
    "serve": (
        "scorer.cli.serve_cmd",
        "serve",
        "Serve the scoring API over HTTP (OpenAPI docs at /docs).",
    ),
}


def load_command(name: str) -> click.Command:
    """Import the command ``name`` (a key of ``COMMANDS``)."""
    module, attribute, _ = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command), (name, command)
    return command


class _ScorerGroup(click.Group):
    """Loads commands on demand; turns every ``ScorerError`` into one line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return load_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own version calls get_command for every row, importing them all;
        # this one shortens the copied help lines exactly as click would.
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=help_text).get_short_help_str(limit))
            for name, (_, _, help_text) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScorerError as error:
            click.echo(f"scorer: error: {error}", err=True)
            ctx.exit(exit_code_for(error))
        except KeyboardInterrupt:
            # click would turn this into "Aborted!" and exit 1; 130 is the documented code.
            _say_interrupted()
            ctx.exit(EXIT_INTERRUPTED)


def _say_interrupted() -> None:
    click.echo("scorer: interrupted", err=True)


@click.group(cls=_ScorerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="scorer")
def cli() -> None:
    """Score research papers against a topic rubric with an LLM.

    \b
    Shell completion (bash; zsh and fish alike, with zsh_source/fish_source):
      eval "$(_SCORER_COMPLETE=bash_source scorer)"
    """
    # instructor logs every failed request at ERROR. With logging unconfigured,
    # Python prints those records to stderr, so one failure would show up three
    # times around the single line this command prints for it.
    logging.getLogger("instructor").setLevel(logging.CRITICAL)


def main() -> None:
    """Console-script entry point."""
    try:
        accept_interrupts()  # a Ctrl-C held pending while blocked arrives here
    except KeyboardInterrupt:
        _say_interrupted()
        raise SystemExit(EXIT_INTERRUPTED) from None
    cli(prog_name="scorer")
