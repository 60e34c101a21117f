"""The interface between the engine and a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from scorer._models import Usage

__all__ = ["Backend", "Completion", "FirstToken", "Messages"]

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Completion:
    """A validated answer and what it cost."""

    answer: BaseModel
    usage: Usage


@dataclass(frozen=True)
class FirstToken:
    """The most likely first tokens of an answer, with their log-probabilities."""

    logprobs: dict[str, float]
    usage: Usage


class Backend(Protocol):
    """Something that turns chat messages into a validated ``response_model``."""

    @property
    def model_id(self) -> str:
        """The model name requests use; part of every cache key."""
        ...

    async def complete(
        self,
        messages: Messages,
        response_model: type[BaseModel],
        *,
        sampling: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Ask the model; raise a :class:`~scorer._errors.BackendError` on failure.

        ``sampling`` overrides the settings' sampling values for this call.
        """
        ...

    async def first_token(self, messages: Messages, *, top: int = 20) -> FirstToken:
        """The ``top`` most likely first tokens of the answer (one token generated).

        Raise :class:`~scorer._errors.UnsupportedMethodError` when the endpoint
        returns no log-probabilities.
        """
        ...

    async def aclose(self) -> None:
        """Release connections opened from the running event loop."""
        ...
