"""Paper identity: when two records are the same paper, and text normalization."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text"]

_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Fold the differences that do not change meaning: Unicode forms, case, whitespace.

    >>> normalize_text("  KV-Cache\\n  Offloading ")
    'kv-cache offloading'
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()
