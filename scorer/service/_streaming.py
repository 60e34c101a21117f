"""``POST /v1/score/batch`` as NDJSON: one line per paper as it finishes, then a summary.

Lines, in order::

    {"paper": {...}, "scores": {...}, ...}            a ScoredPaper, one per unique paper
    {"index": 3, "error": "..."}  or  {"line": 4, ...}  a record that is not a paper
    {"paper": {...}, ..., "error": "..."}             a paper that failed (the rest go on)
    {"error": {"type": ..., "status": ..., "message": ...}}
                                                      only if the batch stopped early
    {"summary": {"scanned": ..., "complete": ...}}    always last

A stream without the summary line was cut off (the client or server went away).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from scorer._errors import ScorerError
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.engine._pipeline import BatchSummary, Scored, score_stream
from scorer.engine._scorer import Scorer
from scorer.service._errors import public_message, scrub, status_for
from scorer.service._metrics import ServiceMetrics
from scorer.service._schemas import BatchAbort, BatchTotals, InvalidRecord

__all__ = ["NDJSON", "BatchStream"]

NDJSON = "application/x-ndjson"

logger = logging.getLogger(__name__)


class BatchStream:
    """One batch request: duplicates merged, papers scored concurrently, lines as they finish.

    Call :meth:`start` before sending the response headers: it waits for the
    first result, so an error that fails every paper (a rejected API key) is
    an HTTP error status rather than a 200 stream holding one error line.
    """

    def __init__(
        self,
        scorer: Scorer,
        papers: list[Paper],
        rubric: Rubric,
        *,
        concurrency: int,
        metrics: ServiceMetrics,
        secrets: tuple[str | None, ...] = (),
        invalid: list[InvalidRecord] | None = None,
    ) -> None:
        self._invalid = invalid or []
        self._metrics = metrics
        self._secrets = secrets
        # Invalid records were found while parsing the body: counted, never scored.
        self._summary = BatchSummary(scanned=len(self._invalid), invalid=len(self._invalid))
        self._results = score_stream(
            papers, rubric, scorer, summary=self._summary, concurrency=concurrency
        )
        self._first: Scored | None = None

    async def start(self) -> None:
        """Wait for the first result; raise the error if it stops the whole batch."""
        try:
            first = await anext(self._results)
        except StopAsyncIteration:
            self._first = None
        except BaseException:
            await self._close()
            raise
        else:
            self._first = first if isinstance(first, Scored) else None

    async def lines(self) -> AsyncIterator[bytes]:
        """The response body, one NDJSON line per chunk."""
        error: BatchAbort | None = None
        for record in self._invalid:
            yield record.model_dump_json(exclude_none=True).encode() + b"\n"
        try:
            if self._first is not None:
                yield self._line(self._first)
            async for outcome in self._results:
                if isinstance(outcome, Scored):
                    yield self._line(outcome)
        except ScorerError as exc:  # e.g. FatalBackendError: every other paper would fail too
            error = BatchAbort(
                type=type(exc).__name__,
                status=status_for(exc),
                message=public_message(exc, *self._secrets),
            )
            logger.warning("batch stopped early: %s: %s", error.type, error.message)
        except Exception:  # a bug: the headers are sent, so end the stream cleanly and log it
            logger.exception("batch stream failed")
            error = BatchAbort(type="InternalError", status=500, message="internal server error")
        finally:
            await self._close()  # on a client disconnect too: no more model requests
        if error is not None:
            yield _json_line({"error": error.model_dump()})
        yield _json_line({"summary": self._totals(complete=error is None).model_dump()})

    def _line(self, outcome: Scored) -> bytes:
        result: ScoredPaper = outcome.result
        self._metrics.observe(result)
        if result.error is not None:
            result = result.model_copy(update={"error": scrub(result.error, *self._secrets)})
        return result.model_dump_json().encode() + b"\n"

    def _totals(self, *, complete: bool) -> BatchTotals:
        counts = self._summary.model_dump()
        return BatchTotals(**(counts | {"wall_s": round(counts["wall_s"], 3)}), complete=complete)

    async def _close(self) -> None:
        close = getattr(self._results, "aclose", None)
        if close is not None:
            await close()


def _json_line(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"
