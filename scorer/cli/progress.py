"""Batch progress on stderr: a live bar on a terminal, otherwise a plain line now and then."""

from __future__ import annotations

import csv
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from scorer._models import ScoredPaper
from scorer.cli.wording import plural
from scorer.engine._batch import BatchSummary

__all__ = ["BatchProgress", "count_records"]

Clock = Callable[[], float]


# Where a record starts in RIS and BibTeX (an @string or @comment is no paper).
_RECORD_STARTS = {
    ".ris": re.compile(r"^(?:\ufeff)?TY  -"),
    ".bib": re.compile(r"^\s*@(?!(?:comment|string|preamble)\b)\w+\s*[{(]", re.IGNORECASE),
}


def count_records(source: str) -> int | None:
    """How many records ``source`` holds (for the bar's total); None for stdin.

    >>> count_records("-") is None
    True
    """
    path = Path(source)
    if source == "-" or path.suffix.lower() == ".xlsx":  # a workbook is not text
        return None
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            return sum(1 for line in f if line.strip())
        if path.suffix.lower() in _RECORD_STARTS:
            start = _RECORD_STARTS[path.suffix.lower()]
            return sum(1 for line in f if start.match(line))
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        rows = sum(1 for row in csv.reader(f, delimiter=delimiter) if row)
        return max(rows - 1, 0)  # the header


# The bar redraws ten times a second; computing its text for every result cost
# about 8 us each, an eighth of a cached paper's whole cost.
_BAR_UPDATE = 0.05


class BatchProgress:
    """Shows how a batch is going; pass it as ``run_batch(on_result=...)``.

    ``live`` draws a bar (done/total, cached, failed, tokens, rate, ETA) that
    redraws in place; otherwise a line is printed every ``interval`` seconds;
    ``quiet`` shows nothing.
    """

    def __init__(
        self,
        total: int | None,
        *,
        live: bool,
        quiet: bool = False,
        stream: TextIO | None = None,
        interval: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.total = total
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._last_update = float("-inf")
        self._summary: BatchSummary | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._quiet = quiet and not live
        if live:
            self._bar = Progress(
                TextColumn("[bold]scoring"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
            )

    def __enter__(self) -> BatchProgress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("scoring", total=self.total, detail="")
        return self

    def __exit__(self, *exc_info: object) -> None:  # the same however the block ended
        if self._bar is not None:
            if self._summary is not None:
                self._update_bar(self._summary, self._clock())
            self._bar.stop()

    def __call__(self, result: ScoredPaper, summary: BatchSummary) -> None:
        if self._quiet:  # off a terminal by default: a cached re-run calls this 100,000 times
            return
        now = self._clock()
        if self._bar is not None:
            self._summary = summary  # drawn as it is at the end, however recent the update
            if now - self._last_update >= _BAR_UPDATE:
                self._update_bar(summary, now)
        elif now - self._last_line >= self._interval:
            done = _done(summary)
            self._last_line = now
            of_total = f"/{self.total}" if self.total is not None else ""
            noun = plural(self.total if self.total is not None else done, "paper")
            self._stream.write(f"scorer: {done}{of_total} {noun}, {self._detail(summary, now)}\n")
            self._stream.flush()

    def _update_bar(self, summary: BatchSummary, now: float) -> None:
        if self._bar is not None and self._task is not None:
            self._last_update = now
            detail = self._detail(summary, now)
            self._bar.update(self._task, completed=_done(summary), detail=detail)

    def _detail(self, summary: BatchSummary, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = (summary.scored + summary.cached + summary.failed) / elapsed
        return (
            f"cached {summary.cached} · failed {summary.failed} · "
            f"{summary.tokens:,} tokens · {rate:.1f} papers/s"
        )


def _done(summary: BatchSummary) -> int:
    return summary.scored + summary.cached + summary.failed + summary.duplicates
