"""What a Batch API run produced, and the scorer the outputs are written with.

After the batches have ended, ``scorer batch`` writes its outputs through the
normal pipeline with :func:`batch_answers_scorer`: every answer is in the
cache, and a paper without one fails with the reason its batch gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from scorer._errors import BackendError
from scorer._models import Usage
from scorer.backends._base import Completion, FirstToken, Messages
from scorer.engine._batch_api_lines import prompt_digest
from scorer.engine._scorer import Scorer
from scorer.eval._prices import price_usage

__all__ = ["BatchApiRun", "batch_answers_scorer", "run_cost"]


@dataclass
class BatchApiRun:
    """What one ``--batch-api`` invocation did, and what is still running."""

    unique: int = 0
    cached: int = 0  # in the cache before the run: never submitted
    submitted: list[tuple[str, int]] = field(default_factory=list)  # (batch id, requests)
    running: list[tuple[str, str, int]] = field(default_factory=list)  # (id, status, requests)
    collected: int = 0  # answers stored in the cache by this run
    failed: dict[str, str] = field(default_factory=dict)  # cache key -> why
    batch_usage: Usage = field(default_factory=Usage)  # at the batch price
    online_usage: Usage = field(default_factory=Usage)  # re-asks of invalid answers, online
    cost_usd: float | None = 0.0
    collected_keys: set[str] = field(default_factory=set)
    input_keys: set[str] = field(default_factory=set)  # keys of this input's uncached papers
    reasons: dict[str, str] = field(default_factory=dict)  # prompt digest -> why it failed

    @property
    def done(self) -> bool:
        """Every paper of the input is answered (or failed): the outputs can be written."""
        return not self.running

    @property
    def usage(self) -> Usage:
        return self.batch_usage + self.online_usage

    def line(self) -> str:
        """The Batch API part of the summary: tokens and what they cost."""
        u = self.usage
        cost = "unknown price" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        return (
            f"Batch API: collected {self.collected}, failed {len(self.failed)}, tokens input "
            f"{u.prompt_tokens} (cached {u.cached_prompt_tokens}), output "
            f"{u.completion_tokens}; {cost} at the batch price"
            + (
                f" ({self.online_usage.requests} re-asks online)"
                if self.online_usage.requests
                else ""
            )
        )


def batch_answers_scorer(scorer: Scorer, run: BatchApiRun) -> Scorer:
    """A :class:`Scorer` that answers from the cache only: the outputs of a Batch API run.

    A paper it finds no answer for fails with the reason its batch gave
    (never an online request: a backfill must not quietly pay full price).
    """
    backend = _AnswersOnly(scorer.model_id, run)
    return Scorer(scorer.settings, backend=backend, cache=scorer.cache)


class _AnswersOnly:
    """A backend that never asks: each paper it is asked about failed in the batch."""

    def __init__(self, model_id: str, run: BatchApiRun) -> None:
        self._model_id = model_id
        self._run = run

    @property
    def model_id(self) -> str:
        return self._model_id

    async def complete(
        self,
        messages: Messages,
        response_model: type[BaseModel],
        *,
        sampling: Mapping[str, Any] | None = None,
    ) -> Completion:
        why = self._run.reasons.get(prompt_digest(messages))
        raise BackendError(why or "no Batch API answer for this paper; run again to submit it")

    async def first_token(self, messages: Messages, *, top: int = 20) -> FirstToken:
        raise BackendError("the Batch API route scores with the generate method only")

    async def aclose(self) -> None:
        return None


def run_cost(model: str, run: BatchApiRun) -> float | None:
    batch = price_usage(model, run.batch_usage, batch=True)
    online = price_usage(model, run.online_usage)
    return None if batch is None or online is None else batch + online
