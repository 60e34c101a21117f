"""The daily run: fetch → dedup → prefilter → score → digest → deliver, each paper sent once.

Everything that can be checked before the first request is: the config, the
rubrics, the outputs, every target's URL and secrets. Then the papers of all
sources are gathered (deduplicated), and each ``[[digest]]`` (one rubric)
scores them through the one pipeline (:func:`~scorer.engine._batch.run_batch`,
so the cache answers every paper scored before), writes its files, and is
sent to its targets.

Several rubrics make several digests, one message each: a digest's counts,
threshold and order belong to one rubric, and a target that wants only one
topic names only that digest.

What a target is sent is the digest of the papers it has not been sent yet
(the state, :mod:`scorer.daily._state`): the first run's message lists
exactly the papers ``scorer batch`` lists for the same input; a re-run sends
nothing new. A day with nothing new at or above the threshold sends a short
notice (``on_empty = "notify"``, at most one a day, none on a day that had
papers) or nothing (``"skip"``). A failed delivery releases its papers, and
the window of a ``since = "last-run"`` search only moves on when everything
was delivered and scored, so the next run fetches them again, finds their
scores in the cache and sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scorer._api import scorer_for
from scorer._errors import ConfigError
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer._settings import RateLimits, Settings
from scorer.daily._config import DailyConfig, DigestSpec
from scorer.daily._messages import digest_message, nothing_new_message
from scorer.daily._sources import gather_papers
from scorer.daily._state import DEFAULT_STATE_NAME, DeliveryState
from scorer.daily._targets import Target, resolve_targets, send_message
from scorer.digest._markdown import Digest
from scorer.engine._batch import BatchSummary, run_batch
from scorer.engine._identity import paper_identity
from scorer.engine._scorer import Scorer
from scorer.io._batch_outputs import check_batch_outputs, open_sinks, paper_columns
from scorer.io._writers import ResultWriter

__all__ = ["DailyReport", "Delivery", "run_daily", "settings_for"]

DeliveryKind = Literal["papers", "notice", "nothing", "failed"]


@dataclass(frozen=True)
class Delivery:
    """What one target got of one digest: papers, the notice, nothing, or a failure (why)."""

    target: str
    digest: str
    kind: DeliveryKind
    papers: int = 0
    error: str | None = None

    def line(self) -> str:
        """One line for the run's summary."""
        where = f"{self.target} ({self.digest})"
        if self.kind == "papers":
            return f"sent {self.papers} {'paper' if self.papers == 1 else 'papers'} to {where}"
        if self.kind == "notice":
            return f"nothing new for {where}: sent the notice"
        if self.kind == "nothing":
            return f"nothing new for {where}: nothing sent"
        return f"delivery to {where} failed: {self.error}; it is retried on the next run"


@dataclass
class DailyReport:
    """What a run did: the day, the papers gathered, each digest's summary, each delivery."""

    day: dt.date
    gathered: int = 0
    skipped_rows: int = 0
    summaries: dict[str, BatchSummary] = field(default_factory=dict)
    listed: dict[str, int] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def failed_deliveries(self) -> list[Delivery]:
        """The deliveries that failed (retried on the next run)."""
        return [d for d in self.deliveries if d.kind == "failed"]

    @property
    def incomplete(self) -> bool:
        """Some papers could not be scored or some rows could not be read."""
        return self.skipped_rows > 0 or any(s.failed for s in self.summaries.values())

    @property
    def delivered(self) -> bool:
        """Some new paper went out: to a target, or (with no targets) into a digest file."""
        if any(d.kind == "papers" for d in self.deliveries):
            return True
        return not self.deliveries and any(self.listed.values())


def settings_for(config: DailyConfig, env: Mapping[str, str] | None = None) -> Settings:
    """The scoring settings of the config's ``[model]`` table (the environment fills the rest)."""
    options = config.model
    limits = RateLimits(rpm=options.rpm, tpm=options.tpm) if options.rpm or options.tpm else None
    return Settings.resolve(
        env=env,
        model=options.model,
        base_url=options.base_url,
        backend=options.backend,
        method=options.method,
        timeout=options.timeout,
        cache_dir=options.cache_dir,
        use_cache=False if options.no_cache else None,
        limits=limits,
    )


def _refuse_shared_state(state: Path, files: list[Path]) -> None:
    """The state is a file of its own: as an output, the digest written over it loses it."""
    real = os.path.realpath(state)
    for path in files:
        same = os.path.realpath(path) == real
        with contextlib.suppress(OSError):  # a hard link: one file under two names
            same = same or path.samefile(state)
        if same:
            raise ConfigError(f"state: {state} is also an input or output file")


def run_daily(
    config: DailyConfig,
    *,
    today: dt.date | None = None,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = lambda line: None,
    clock: Callable[[], float] | None = None,
) -> DailyReport:
    """Run ``config`` once for ``today`` (default: today in UTC, arXiv's clock).

    ``echo`` receives progress lines (papers fetched, rows skipped, each
    digest's summary, each delivery) as they happen. Config, rubric, output
    and target problems raise :class:`~scorer._errors.ConfigError` (or the
    rubric's / input's error) before anything is fetched or sent; a model
    that cannot score at all raises :class:`~scorer._errors.BackendError`.
    A failed delivery does not raise: it is in the report.
    """
    day = today or dt.datetime.now(dt.UTC).date()
    settings = settings_for(config, env)
    rubrics = [load_rubric(spec.rubric) for spec in config.digest]
    inputs = [str(f.path) for f in config.file]
    outputs = [p for spec in config.digest for p in spec.outputs]
    for folder in {p.parent for p in outputs}:
        # A scheduled run's folders are made once by the first run, not by hand first.
        with contextlib.suppress(OSError):  # check_batch_outputs says why it is unusable
            folder.mkdir(parents=True, exist_ok=True)
    check_batch_outputs(outputs, inputs=inputs)
    targets = resolve_targets(config.targets, env=env)
    state_path = config.state or settings.cache_dir / DEFAULT_STATE_NAME
    _refuse_shared_state(Path(state_path), [*map(Path, inputs), *outputs])
    report = DailyReport(day)
    extra: dict[str, Any] = {} if clock is None else {"clock": clock}
    with DeliveryState(Path(state_path), **extra) as state:
        gathered = gather_papers(config, state, day, env=env, echo=echo)
        report.gathered = len(gathered.papers)
        report.skipped_rows = gathered.skipped_rows
        scorer = scorer_for(settings)
        for spec, rubric in zip(config.digest, rubrics, strict=True):
            papers = _prefiltered(config, gathered.papers, rubric, echo)
            results, summary = _score(spec, rubric, papers, scorer, config.model.concurrency)
            report.summaries[rubric.name] = summary
            digest = Digest.of(results, rubric, threshold=spec.threshold, top_n=spec.top)
            report.listed[rubric.name] = len(digest.listed)
            echo(f"{rubric.name}: {summary.line()}")
            for name in spec.send_to:
                delivery = _deliver(targets[name], spec, rubric, results, state, day, config)
                report.deliveries.append(delivery)
                echo(delivery.line())
        if not report.failed_deliveries and not report.incomplete:
            for source in gathered.last_run_sources:
                state.set_last_ok_day(source, day)
    return report


def _prefiltered(
    config: DailyConfig, papers: list[Paper], rubric: Rubric, echo: Callable[[str], None]
) -> list[Paper]:
    if config.prefilter is None or not papers:
        return papers
    from scorer.eval._baseline import top_positions

    keep = top_positions(papers, rubric, config.prefilter.fraction)
    echo(f"{rubric.name}: prefilter: {len(keep)} of {len(papers)} papers go to the model")
    return [papers[i] for i in keep]


class _Collect:
    def __init__(self) -> None:
        self.results: list[ScoredPaper] = []

    def write(self, result: ScoredPaper) -> None:
        self.results.append(result)


def _score(
    spec: DigestSpec, rubric: Rubric, papers: list[Paper], scorer: Scorer, concurrency: int
) -> tuple[list[ScoredPaper], BatchSummary]:
    collect = _Collect()
    sinks: list[ResultWriter] = [collect]

    def run() -> BatchSummary:
        return asyncio.run(
            run_batch(
                papers,
                rubric,
                scorer,
                sinks=sinks,
                concurrency=concurrency,
                threshold=spec.threshold,
            )
        )

    if not spec.outputs:
        return collect.results, run()
    with open_sinks(
        spec.outputs,
        rubric,
        threshold=spec.threshold,
        top_n=spec.top,
        input_columns=paper_columns(papers),
    ) as out:
        sinks += out.sinks
        summary = run()
    return collect.results, summary


def _deliver(
    target: Target,
    spec: DigestSpec,
    rubric: Rubric,
    results: list[ScoredPaper],
    state: DeliveryState,
    day: dt.date,
    config: DailyConfig,
) -> Delivery:
    ok = [paper_identity(r.paper) for r in results if r.ok]
    fresh = set(state.claim(target.name, rubric.name, ok, day))
    # Failures stay in (the digest says how many and why); they are never claimed,
    # so a paper that failed today is offered again once it is scored.
    new = [r for r in results if not r.ok or paper_identity(r.paper) in fresh]
    digest = Digest.of(new, rubric, threshold=spec.threshold, top_n=spec.top)
    # What the digest files show: the papers at or above the threshold, and the best
    # below it when the digest lists those too (``top``, or the demo model's default).
    shown = [*digest.listed, *digest.below_threshold]
    if shown:
        error = send_message(target, digest_message(digest, day))
        if error is not None:
            state.release(target.name, rubric.name)
            return Delivery(target.name, rubric.name, "failed", error=error)
        state.mark_sent(target.name, rubric.name, [paper_identity(r.paper) for r in shown])
        return Delivery(target.name, rubric.name, "papers", papers=len(shown))
    # Nothing to show: what was scanned is passed over for good.
    state.mark_sent(target.name, rubric.name)
    if config.on_empty == "skip" or not state.claim_notice(target.name, rubric.name, day):
        return Delivery(target.name, rubric.name, "nothing")
    error = send_message(target, nothing_new_message(digest, day))
    state.finish_notice(target.name, rubric.name, day, sent=error is None)
    if error is not None:
        return Delivery(target.name, rubric.name, "failed", error=error)
    return Delivery(target.name, rubric.name, "notice")
