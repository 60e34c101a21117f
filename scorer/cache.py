"""The result cache: validated scores on disk, keyed by content, stored as JSON.

Backed by ``diskcache`` (SQLite), which is safe for several processes using
one folder at once. Values are ``Score.model_dump_json()`` strings, never
pickles, so a changed model class cannot break old entries in strange ways:
an entry that no longer validates is dropped and scored again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
from pydantic import ValidationError

from scorer.errors import CacheError
from scorer.identity import normalize_text
from scorer.models import Paper, Score
from scorer.rubric import Rubric
from scorer.settings import Sampling

__all__ = ["SCHEMA_VERSION", "CacheStats", "ResultCache", "cache_key"]

SCHEMA_VERSION = 1
"""Bump when the shape of cached values or of the score schema changes."""


def cache_key(
    paper: Paper,
    rubric: Rubric,
    *,
    prompt_hash: str,
    model_id: str,
    sampling: Sampling,
    method: str = "generate",
) -> str:
    """Content key of one scoring request.

    Covers the normalized title and abstract, the rubric fingerprint, the
    prompt template hash, the model id, the sampling settings, the scoring
    method and the schema version: anything that could change the answer. Paper ids, authors and
    dates are left out, so the same text under two ids is scored once.
    """
    payload = {
        "v": SCHEMA_VERSION,
        "title": normalize_text(paper.title),
        "abstract": normalize_text(paper.abstract),
        "rubric": rubric.fingerprint,
        "prompt": prompt_hash,
        "model": model_id,
        "sampling": sampling.as_request(),
    }
    if method != "generate":  # keys made before methods existed stay valid
        payload["method"] = method
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class CacheStats:
    directory: Path
    entries: int
    size_bytes: int


class ResultCache:
    """Validated scores by content key, on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._store: Any = diskcache.Cache(str(directory))
        except Exception as exc:  # sqlite3/OS errors: unwritable folder, corrupt db
            raise CacheError(f"cannot open the cache at {directory}: {exc}") from exc

    def get(self, key: str) -> Score | None:
        raw = self._store.get(key)
        if raw is None:
            return None
        try:
            return Score.model_validate_json(raw)
        except ValidationError:
            self._store.delete(key)
            return None

    def put(self, key: str, score: Score) -> None:
        self._store.set(key, score.model_dump_json())

    def stats(self) -> CacheStats:
        return CacheStats(
            directory=self.directory,
            entries=len(self._store),
            size_bytes=int(self._store.volume()),
        )

    def clear(self) -> int:
        """Remove every entry; return how many there were."""
        return int(self._store.clear())

    def close(self) -> None:
        self._store.close()
