"""Where the shipped prompt templates and built-in rubrics live.

In a source checkout (or an editable install) they are the top-level
``prompts/`` and ``rubrics/`` folders; a built wheel carries them as
``scorer/_data/prompts`` and ``scorer/_data/rubrics``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

__all__ = ["resource_dir"]

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(kind: Literal["prompts", "rubrics"]) -> Path:
    """Return the folder holding the shipped ``prompts`` or ``rubrics``."""
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"scorer's {kind}/ folder is missing from this installation")
