"""Choosing a backend from settings: an OpenAI-compatible endpoint, or the embedded model."""

from __future__ import annotations

from scorer._settings import Settings
from scorer.backends._base import Backend

__all__ = ["backend_for"]


def backend_for(settings: Settings, *, connections: int | None = None) -> Backend:
    """The backend ``settings`` ask for: an endpoint, or the embedded model.

    ``connections``: how many requests the caller sends at once at most, which
    an endpoint's HTTP pool is sized to (default: the SDK's 100 kept alive).
    """
    if settings.uses_embedded:
        from scorer.backends._embedded import embedded_backend  # starts a server: import late

        return embedded_backend(settings)
    # openai and instructor take about a second to import: only a cache miss needs them.
    from scorer.backends._openai_compat import OpenAICompatBackend
    from scorer.backends._transport import DEFAULT_CONNECTIONS

    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return OpenAICompatBackend(
        base_url=settings.base_url,
        api_key=api_key,
        model=settings.model_id,
        settings=settings,
        connections=DEFAULT_CONNECTIONS if connections is None else connections,
    )
