"""Choosing a backend from settings: an OpenAI-compatible endpoint, or the embedded model."""

from __future__ import annotations

from scorer._settings import Settings
from scorer.backends._base import Backend

__all__ = ["backend_for"]


def backend_for(settings: Settings) -> Backend:
    """The backend ``settings`` ask for: an endpoint, or the embedded model."""
    if settings.uses_embedded:
        from scorer.backends._embedded import embedded_backend  # starts a server: import late

        return embedded_backend(settings)
    # openai and instructor take about a second to import: only a cache miss needs them.
    from scorer.backends._openai_compat import OpenAICompatBackend

    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return OpenAICompatBackend(
        base_url=settings.base_url,
        api_key=api_key,
        model=settings.model_id,
        settings=settings,
    )
