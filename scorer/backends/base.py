"""The interface between the engine and a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from scorer.models import Usage

__all__ = ["Backend", "Completion", "Messages"]

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Completion:
    """A validated answer and what it cost."""

    answer: BaseModel
    usage: Usage


class Backend(Protocol):
    """Something that turns chat messages into a validated ``response_model``."""

    @property
    def model_id(self) -> str:
        """The model name requests use; part of every cache key."""
        ...

    async def complete(self, messages: Messages, response_model: type[BaseModel]) -> Completion:
        """Ask the model; raise a :class:`~scorer.errors.BackendError` on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections opened from the running event loop."""
        ...
