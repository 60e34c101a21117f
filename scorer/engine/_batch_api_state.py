"""What a Batch API backfill has submitted and not yet collected: a small JSON file.

One file per (endpoint, model, rubric fingerprint, prompt, sampling), in
``<cache dir>/batch-api/``, holding each open batch's id, its input file's
id and the cache keys it carries. Keys, not input files: a paper is pending
whatever file it was read from, so no input and no second run submits it
twice. The file holds ids and hashes only: never a key, a prompt or a paper.

While a run works on a state file it holds an exclusive lock on it (a
second run at the same time stops with a clear message instead of
submitting the same papers again).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scorer._errors import CacheError, InputError

__all__ = ["BatchApiState", "OpenBatch", "open_state"]

_VERSION = 1


@dataclass
class OpenBatch:
    """A batch submitted and not yet collected."""

    id: str
    input_file_id: str
    keys: list[str]
    submitted_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )


@dataclass
class BatchApiState:
    """The open batches of one (endpoint, model, rubric) and the file they are kept in."""

    path: Path
    scope: dict[str, str]
    batches: list[OpenBatch] = field(default_factory=list)

    def pending_keys(self) -> set[str]:
        """Cache keys some open batch carries."""
        return {key for batch in self.batches for key in batch.keys}

    def add(self, batch: OpenBatch) -> None:
        self.batches.append(batch)
        self.save()

    def remove(self, batch_id: str) -> None:
        self.batches = [b for b in self.batches if b.id != batch_id]
        self.save()

    def save(self) -> None:
        """Write the file beside its place and move it there: never half a file."""
        body = {"version": _VERSION, **self.scope, "batches": [asdict(b) for b in self.batches]}
        staged = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            staged.write_text(json.dumps(body, indent=1), encoding="utf-8")
            staged.replace(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                staged.unlink()
            raise CacheError(f"cannot write the Batch API state {self.path}: {exc}") from exc


@contextlib.contextmanager
def open_state(cache_dir: Path, scope: dict[str, str]) -> Iterator[BatchApiState]:
    """The state for ``scope`` (what names the batches: endpoint, model, rubric...),
    locked for this process until the block ends."""
    folder = cache_dir / "batch-api"
    name = hashlib.sha256(json.dumps(scope, sort_keys=True).encode()).hexdigest()[:24]
    path = folder / f"{name}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise CacheError(f"cannot open the Batch API state in {folder}: {exc}") from exc
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"another scorer run is submitting or collecting these batches ({path}); "
                "wait for it to end"
            ) from None
        yield BatchApiState(path=path, scope=scope, batches=_read(path))
    finally:
        os.close(lock)  # also releases the lock


def _read(path: Path) -> list[OpenBatch]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CacheError(f"cannot read the Batch API state {path}: {exc}") from exc
    try:
        data: Any = json.loads(raw)
        return [OpenBatch(**b) for b in data["batches"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise CacheError(
            f"the Batch API state {path} is damaged ({exc}); its batches can be found in "
            "the provider's dashboard; delete the file to start again"
        ) from exc
