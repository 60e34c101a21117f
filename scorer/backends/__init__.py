"""Talking to models. Every backend speaks the OpenAI chat-completions protocol.

``Backend`` is the one interface the engine uses; :func:`backend_for` picks
the implementation from settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scorer._settings import Settings
from scorer.backends.base import Backend, Completion

if TYPE_CHECKING:
    from scorer.backends.openai_compat import OpenAICompatBackend

__all__ = ["Backend", "Completion", "OpenAICompatBackend", "backend_for"]


def backend_for(settings: Settings) -> Backend:
    """The backend ``settings`` ask for: an endpoint, or the embedded model."""
    if settings.uses_embedded:
        from scorer.backends.embedded import embedded_backend  # starts a server: import late

        return embedded_backend(settings)
    # openai and instructor take about a second to import: only a cache miss needs them.
    from scorer.backends.openai_compat import OpenAICompatBackend

    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return OpenAICompatBackend(
        base_url=settings.base_url,
        api_key=api_key,
        model=settings.model_id,
        settings=settings,
    )


def __getattr__(name: str) -> Any:
    if name == "OpenAICompatBackend":
        from scorer.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend
    raise AttributeError(f"module 'scorer.backends' has no attribute {name!r}")
