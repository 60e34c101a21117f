"""Reporting an input's row problems on standard error, as every command that reads rows does."""

from __future__ import annotations

import click

from scorer.io._readers import RowProblem

__all__ = ["ProblemLog"]


class ProblemLog:
    """An ``on_problem`` handler: prints ``SOURCE:LINE: skipped: ...`` (or ``note:``), counts skips.

    A problem without a line (a whole-file notice) is printed as ``SOURCE: ...``.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.skipped = 0

    def __call__(self, problem: RowProblem) -> None:
        if problem.skipped:
            self.skipped += 1
        where = f"{self.source}:{problem.line}" if problem.line else self.source
        verdict = "skipped" if problem.skipped else "note"
        click.echo(f"{where}: {verdict}: {problem.message}", err=True)
