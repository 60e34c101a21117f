"""Talking to models. Every backend speaks the OpenAI chat-completions protocol.

``Backend`` is the one interface the engine uses; :func:`backend_for` picks
the implementation from settings. Each name is imported on first use: openai
and instructor take about a second to import, and only a cache miss needs them.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.backends._base import Backend, Completion
    from scorer.backends._choose import backend_for
    from scorer.backends._openai_compat import OpenAICompatBackend

__all__ = ["Backend", "Completion", "OpenAICompatBackend", "backend_for"]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.backends._base": ("Backend", "Completion"),
        "scorer.backends._choose": ("backend_for",),
        "scorer.backends._openai_compat": ("OpenAICompatBackend",),
    },
)
