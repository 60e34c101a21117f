"""The result cache: validated scores on disk, keyed by content, stored as JSON.

Backed by ``diskcache`` (SQLite), which is safe for several processes using
one folder at once. Values are ``Score.model_dump_json()`` strings, never
pickles, so a changed model class cannot break old entries in strange ways:
an entry that no longer validates is dropped and scored again.

A failing store (a full disk, a read-only or corrupt file) raises
:class:`CacheError` from every method, never a raw ``sqlite3``/``OSError``.

Claims: a process about to pay for a paper first *claims* its key by adding
a marker under it (one SQLite ``INSERT`` that only one process can win); the
answer later overwrites the marker. Another process that finds the marker
waits for the answer instead of paying again. A claim ends when the answer is
stored, when its claimant gives up (:meth:`ResultCache.release`), when the
claimant's process is gone, or when it expires.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache
from pydantic import ValidationError

from scorer._errors import CacheError
from scorer._models import Paper, Score
from scorer._rubric import Rubric
from scorer._settings import Sampling
from scorer.engine._identity import normalize_text

__all__ = ["SCHEMA_VERSION", "CacheStats", "Claimed", "ResultCache", "cache_key", "cache_keys"]

_log = logging.getLogger(__name__)
_CLAIM = "claim:"  # prefix of a claim marker; a stored score is JSON, so starts with "{"
# Failures of the store itself. diskcache.Timeout: SQLite stayed locked for the busy timeout.
_STORE_ERRORS = (sqlite3.Error, OSError, diskcache.Timeout)
# Keys per SELECT of get_many (SQLite's oldest limit on parameters is 999).
_KEYS_PER_QUERY = 500
# diskcache's row for a text key and a short text value (diskcache.core.MODE_RAW).
_RAW_MODE = 1
# The ASCII control characters: json escapes them (as '"' and '\\'), one_line folds some.
_CONTROLS = bytes(range(0x20))

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
    mode: str | None = None,
) -> str:
    """Content key of one scoring request.

    Covers the normalized title and abstract, the rubric fingerprint, the
    prompt template hash, the model id, the sampling settings, the scoring
    method and the schema version: anything that could change the answer. Paper ids, authors and
    dates are left out, so the same text under two ids is scored once.

    ``mode`` (the structured-output mode) counts when it is ``tools`` or ``json``:
    they send another request (a tool's schema, the schema in the system
    message), which may be answered differently. ``json_schema`` and ``auto``
    keep the key they had before modes existed: on an endpoint that takes
    ``json_schema``, ``auto`` sends exactly its request; where ``auto`` falls back,
    it is because the endpoint cannot do ``json_schema`` at all. Methods that
    ask for no structured answer (``logprob``) pass no mode.
    """
    payload = _key_payload(
        normalize_text(paper.title),
        normalize_text(paper.abstract),
        rubric,
        prompt_hash=prompt_hash,
        model_id=model_id,
        sampling=sampling,
        method=method,
        mode=mode,
    )
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _key_payload(
    title: str,
    abstract: str,
    rubric: Rubric,
    *,
    prompt_hash: str,
    model_id: str,
    sampling: Sampling,
    method: str,
    mode: str | None,
) -> dict[str, object]:
    """What a cache key hashes (see :func:`cache_key`), as a JSON-ready dict."""
    payload: dict[str, object] = {
        "v": SCHEMA_VERSION,
        "title": title,
        "abstract": abstract,
        "rubric": rubric.fingerprint,
        "prompt": prompt_hash,
        "model": model_id,
        "sampling": sampling.as_request(),
    }
    if method != "generate":  # keys made before methods existed stay valid
        payload["method"] = method
    if mode in ("tools", "json"):  # keys made before modes existed stay valid
        payload["mode"] = mode
    return payload


def cache_keys(
    rubric: Rubric,
    *,
    prompt_hash: str,
    model_id: str,
    sampling: Sampling,
    method: str = "generate",
    mode: str | None = None,
) -> Callable[[str, str], str]:
    """:func:`cache_key` for many papers under one rubric and model: ``keys(title, abstract)``.

    The same keys, for a fraction of the CPU: the JSON around the two texts
    is laid out once (``sort_keys`` puts ``abstract`` first and ``title``
    after the settings), so each paper costs its normalisation, two string
    dumps and a SHA-256. A cached re-run of 100,000 papers makes 100,000 keys.

    >>> from scorer import load_rubric
    >>> from scorer._settings import Sampling
    >>> rubric, paper, same = load_rubric("llm-inference"), Paper(title="T", abstract="A"), {
    ...     "prompt_hash": "p", "model_id": "m", "sampling": Sampling()}
    >>> cache_keys(rubric, **same)("T", "A") == cache_key(paper, rubric, **same)
    True
    >>> tools = {**same, "mode": "tools"}
    >>> cache_keys(rubric, **tools)("T", "A") == cache_key(paper, rubric, **tools)
    True
    """
    marker = "\x00scorer-text\x00"
    payload = _key_payload(
        marker,
        marker,
        rubric,
        prompt_hash=prompt_hash,
        model_id=model_id,
        sampling=sampling,
        method=method,
        mode=mode,
    )
    layout = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    head, middle, tail = layout.split(json.dumps(marker, ensure_ascii=False))
    # What json.dumps(..., ensure_ascii=False) runs for a str, without its Python layers.
    dumps = json.encoder.encode_basestring
    sha256 = hashlib.sha256

    def text(value: str) -> str:
        # json escapes only '"', '\\' and control characters (\x00-\x1f): text without
        # them is its own JSON body, found by C scans instead of the encoder's loop.
        if value.isascii() and len(value.encode().translate(None, _CONTROLS)) == len(value):
            # ASCII without control characters: NFKC leaves it as it is, casefold() is
            # lower(), one_line has only spaces to fold, and json has none to escape:
            # one C pass over the text instead of normalize_text's and isprintable()'s.
            if "  " in value or value[:1] == " " or value[-1:] == " ":
                value = " ".join(value.split())
            value = value.lower()
        else:
            value = normalize_text(value)
            if not value.isprintable():
                return dumps(value)
        if '"' not in value and "\\" not in value:
            return f'"{value}"'
        return dumps(value)

    def keys(title: str, abstract: str) -> str:
        blob = f"{head}{text(abstract)}{middle}{text(title)}{tail}"
        return sha256(blob.encode()).hexdigest()

    return keys


@dataclass(frozen=True)
class Claimed:
    """Another live process is scoring this key now; wait for its answer."""

    owner: str


@dataclass(frozen=True)
class CacheStats:
    directory: Path
    entries: int
    size_bytes: int


def _open_store(directory: Path) -> Any:
    """diskcache's store in ``directory``, or its error with nothing left open.

    diskcache connects to SQLite before it reads the file, so a corrupt or
    read-only one fails with the connection open; only the error's traceback
    still holds it, until a garbage collection finds the cycle. So the store is
    made in two steps, and the half-made one closed.
    """
    store = diskcache.Cache.__new__(diskcache.Cache)
    try:
        store.__init__(str(directory))
    except BaseException:
        with contextlib.suppress(Exception):  # it may have failed before it had a connection
            store.close()
        raise
    return store


class ResultCache:
    """Validated scores by content key, on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._owner = f"{_CLAIM}{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._reported_corrupt = False
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._store: Any = _open_store(directory)
        except Exception as exc:  # sqlite3/OS errors: unwritable folder, corrupt db
            read_only = directory.is_dir() and not os.access(directory, os.W_OK)
            raise CacheError(
                f"cannot open the cache at {directory}: {_reason(exc)}"
                f"{' (the folder is read-only)' if read_only else ''}; "
                "use another --cache-dir / SCORER_CACHE_DIR, or --no-cache"
            ) from exc

    def get(self, key: str) -> Score | Claimed | None:
        """The stored score, a live claim by another process, or None (a miss).

        An entry that is not a valid score (corrupt, or from an older schema)
        is deleted and reported once: it is a miss, never a crash.
        """
        try:
            raw = self._store.get(key)
        except _STORE_ERRORS as exc:
            raise self._failed("read from", exc) from exc
        except Exception as exc:  # diskcache could not decode the row: a corrupt value
            self._drop_corrupt(key, exc)
            return None
        if raw is None:
            return None
        if isinstance(raw, str) and raw.startswith(_CLAIM):
            return self._claim_state(key, raw)
        try:
            return Score.model_validate_json(raw)
        except (ValidationError, TypeError, ValueError) as exc:
            self._drop_corrupt(key, exc)
            return None

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored scores' JSON among ``keys``, a few hundred keys per SQLite query.

        The hit path of a cached re-run: one ``SELECT ... WHERE key IN (...)``
        instead of a :meth:`get` per paper. Only plain stored scores come
        back; a key that is missing, expired, claimed or stored any other way
        is left out, and :meth:`get` decides what it is (a claim, a corrupt
        entry to drop). The caller validates the JSON (``Score``).
        """
        found: dict[str, str] = {}
        try:
            execute = self._store._sql  # diskcache's connection for this thread and process
            for start in range(0, len(keys), _KEYS_PER_QUERY):
                chunk = keys[start : start + _KEYS_PER_QUERY]
                found.update(
                    execute(
                        "SELECT key, value FROM Cache WHERE raw = 1 "
                        f"AND key IN ({','.join('?' * len(chunk))}) "
                        "AND (expire_time IS NULL OR expire_time > ?) "
                        "AND mode = ? AND typeof(value) = 'text' AND substr(value, 1, 1) = '{'",
                        (*chunk, time.time(), _RAW_MODE),
                    )
                )
        except _STORE_ERRORS as exc:
            raise self._failed("read from", exc) from exc
        return found

    def put(self, key: str, score: Score) -> None:
        """Store ``score`` under ``key`` (overwriting this process's claim, if any)."""
        try:
            self._store.set(key, score.model_dump_json())
        except _STORE_ERRORS as exc:
            raise self._failed("write to", exc) from exc

    def claim(self, key: str, *, ttl: float) -> bool:
        """Claim ``key`` for this process for at most ``ttl`` seconds; False if another holds it.

        One SQLite ``INSERT`` (diskcache's ``add``): of several processes at
        once, exactly one wins. An expired claim does not block.
        """
        try:
            return bool(self._store.add(key, self._owner, expire=ttl))
        except _STORE_ERRORS as exc:
            raise self._failed("write to", exc) from exc

    def release(self, key: str) -> None:
        """Drop this process's claim on ``key`` (it gave up), leaving anything else there."""
        self._drop_if(key, self._owner)

    def stats(self) -> CacheStats:
        try:
            return CacheStats(
                directory=self.directory,
                entries=len(self._store),
                size_bytes=int(self._store.volume()),
            )
        except _STORE_ERRORS as exc:
            raise self._failed("read from", exc) from exc

    def clear(self) -> int:
        """Remove every entry; return how many there were."""
        try:
            return int(self._store.clear())
        except _STORE_ERRORS as exc:
            raise self._failed("clear", exc) from exc

    def close(self) -> None:
        self._store.close()

    def _claim_state(self, key: str, owner: str) -> Claimed | None:
        """A claim that still counts (ours included), or None for a dead process's (dropped)."""
        if owner == self._owner or _owner_alive(owner):
            return Claimed(owner)
        self._drop_if(key, owner)  # its claimant died without storing an answer
        return None

    def _drop_if(self, key: str, expected: str) -> None:
        try:
            with self._store.transact():
                if self._store.get(key) == expected:
                    self._store.delete(key)
        except _STORE_ERRORS as exc:
            raise self._failed("write to", exc) from exc

    def _drop_corrupt(self, key: str, exc: Exception) -> None:
        if not self._reported_corrupt:
            self._reported_corrupt = True
            _log.warning(
                "warning: the cache at %s held an unreadable entry (%s); it is scored again",
                self.directory,
                _reason(exc),
            )
        try:
            self._store.delete(key)
        except _STORE_ERRORS as error:
            raise self._failed("write to", error) from error

    def _failed(self, doing: str, exc: BaseException) -> CacheError:
        return CacheError(f"cannot {doing} the cache at {self.directory}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """The first line of an exception, with its type when the text alone says little."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or type(exc).__name__


def _owner_alive(owner: str) -> bool:
    """False when ``owner`` names a process on this host that no longer exists."""
    parts = owner.removeprefix(_CLAIM).split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return True  # another machine's process: only the claim's expiry ends it
    if int(parts[1]) == os.getpid():
        return True  # another ResultCache of this process (two Scorers on one folder)
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True
