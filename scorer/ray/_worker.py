"""One Ray worker: an actor holding one :class:`~scorer.engine.Scorer`, fed batches of papers.

``scorer batch --ray`` calls :meth:`PaperScorer.score_rows` on plain Ray
actors (:mod:`scorer.ray._route`); :func:`scorer.ray.score_dataset` has Ray
Data call it once per batch (``map_batches`` over an actor pool). Each actor
is a long-lived process with its own event loop (:mod:`scorer._loop`), HTTP
connections, request slots and cache handle, so a batch is scored exactly as
``scorer batch`` scores a file: ``concurrency`` requests at once, cache hits
never waiting for a slot, a failure kept with its paper. Every actor opens
the same cache folder, so a paper scored by one worker (in this run or an
earlier one) is a cache hit for all of them; its claims keep two workers on
one machine from paying for the same paper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scorer._loop import run_sync
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer._settings import Settings
from scorer.backends._base import Backend
from scorer.engine._scorer import Scorer

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RESULT_COLUMNS", "PaperScorer"]

RESULT_COLUMNS = ("identity", "result", "problem", "record", "copies")
"""What a worker returns per unique paper: its identity, the ``ScoredPaper`` as
JSON (None for a record that is not a paper), why it is not one and its own
columns as JSON, and how many input records it stands for."""


class PaperScorer:
    """Scores one batch of unique papers at a time (the callable class ``map_batches`` runs).

    ``permits`` is the handle of the cluster's permit actor when ``--rpm`` or
    ``--tpm`` are set (see :mod:`scorer.ray._permits`); ``workers`` is how many
    actors share it.
    """

    def __init__(
        self,
        settings: Settings,
        rubric: Rubric,
        *,
        concurrency: int,
        permits: Any = None,
        workers: int = 1,
    ) -> None:
        self._rubric = rubric
        self._concurrency = concurrency
        backend: Backend | None = None
        if permits is not None:
            # Here, not at the top: the driver imports this class without the
            # backends (openai takes a second to import, and only workers call it).
            from scorer.backends._openai_compat import OpenAICompatBackend
            from scorer.ray._bucket import asker
            from scorer.ray._permits import ClusterGate

            gate = ClusterGate(asker(permits), settings.limits, workers=workers)
            api_key = settings.api_key.get_secret_value() if settings.api_key else None
            backend = OpenAICompatBackend(
                base_url=settings.base_url,
                api_key=api_key,
                model=settings.model_id,
                settings=settings,
                rate_gate=gate,
            )
        self._scorer = Scorer(settings, backend=backend)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Ray Data's call: a batch of keyed rows -> :data:`RESULT_COLUMNS`."""
        import pyarrow as pa

        rows = batch.to_pylist()
        results = self.score_rows(rows)
        return pa.table(
            {
                "identity": [row["identity"] for row in rows],
                "result": results,
                "problem": [row["problem"] for row in rows],
                "record": [row["paper"] if row["problem"] is not None else None for row in rows],
                "copies": [row["copies"] for row in rows],
            },
            schema=pa.schema(
                [
                    ("identity", pa.string()),
                    ("result", pa.string()),
                    ("problem", pa.string()),
                    ("record", pa.string()),
                    ("copies", pa.int64()),
                ]
            ),
        )

    def score_rows(self, rows: list[dict[str, Any]]) -> list[str | None]:
        """Keyed rows -> each one's ``ScoredPaper`` as JSON (None for a record that is not a paper).

        JSON, not the objects: what crosses to the driver does not depend on both
        ends having the same pickled model classes.
        """
        results = run_sync(self._score(rows))
        return [r.model_dump_json() if r is not None else None for r in results]

    async def _score(self, rows: list[dict[str, Any]]) -> list[ScoredPaper | None]:
        found: list[ScoredPaper | None] = [None] * len(rows)
        papers = (
            (index, Paper.model_validate_json(row["paper"]))
            for index, row in enumerate(rows)
            if row["problem"] is None  # a record that is not a paper is passed by
        )
        async for index, result in self._scorer.ascore_tagged(
            papers, self._rubric, concurrency=self._concurrency
        ):
            found[index] = result
        return found
