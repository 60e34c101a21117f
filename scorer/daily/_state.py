"""What the daily run has sent to whom: a small SQLite file beside the cache.

Three things are remembered:

- each paper a target has been sent (or shown and passed over: a paper under
  the threshold is not offered again tomorrow), per digest;
- the "nothing new today" notices, so a target gets at most one a day, and
  none on a day it already had papers;
- per source, the last day on which a run delivered everything, which is
  where a ``since = "last-run"`` window starts.

Two runs at once (a cron job and a manual run) must not send a paper twice.
Papers are *claimed* in one ``BEGIN IMMEDIATE`` transaction (SQLite's write
lock, so two claims are never interleaved) before they are sent, marked sent
after, and released when the delivery fails, so the next run offers them
again. A claim left by a run that died mid-send is taken over after
``stale_after`` seconds. WAL mode lets a run read while another writes, and a
busy timeout makes a writer wait for the lock instead of failing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from scorer._errors import CacheError

__all__ = ["DEFAULT_STATE_NAME", "DeliveryState"]

DEFAULT_STATE_NAME = "daily-state.sqlite3"
"""The state file's name in the cache folder, unless the config says ``state = ...``."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    target TEXT NOT NULL, digest TEXT NOT NULL, paper TEXT NOT NULL,
    day TEXT NOT NULL, status TEXT NOT NULL, run TEXT NOT NULL, at REAL NOT NULL,
    shown INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (target, digest, paper));
CREATE TABLE IF NOT EXISTS notices (
    target TEXT NOT NULL, digest TEXT NOT NULL, day TEXT NOT NULL,
    status TEXT NOT NULL, run TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (target, digest, day));
CREATE TABLE IF NOT EXISTS windows (source TEXT PRIMARY KEY, last_ok_day TEXT NOT NULL);
"""


class DeliveryState:
    """The state file at ``path`` (created with its folder if missing); close it when done.

    ``clock`` gives the time in seconds (for stale claims); tests inject one.
    """

    def __init__(
        self,
        path: Path,
        *,
        stale_after: float = 3600.0,
        busy_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.run_id = uuid.uuid4().hex
        self._stale_after = stale_after
        self._clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: every write below opens its own explicit transaction.
            self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot use the delivery state file {path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self._db.executescript(_SCHEMA)  # idempotent; its own transaction
        except (OSError, sqlite3.Error) as exc:
            # SQLite reads the file only now: a corrupt or read-only one fails with the
            # connection open, which the error's traceback would hold until a collection.
            self._db.close()
            raise CacheError(f"cannot use the delivery state file {path}: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> DeliveryState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim(self, target: str, digest: str, papers: Iterable[str], day: dt.date) -> list[str]:
        """Claim the ``papers`` (identities) not yet sent to ``target`` for this run; return them.

        Order is kept. A paper claimed by another run less than ``stale_after``
        seconds ago is not returned (that run is sending it).
        """
        now = self._clock()
        wanted = list(dict.fromkeys(papers))
        with self._write():
            self._db.execute(
                "DELETE FROM sent WHERE status = 'claimed' AND at < ?", (now - self._stale_after,)
            )
            taken = {
                row[0]
                for row in self._db.execute(
                    "SELECT paper FROM sent WHERE target = ? AND digest = ?", (target, digest)
                )
            }
            fresh = [paper for paper in wanted if paper not in taken]
            self._db.executemany(
                "INSERT INTO sent VALUES (?, ?, ?, ?, 'claimed', ?, ?, 0)",
                [(target, digest, p, day.isoformat(), self.run_id, now) for p in fresh],
            )
        return fresh

    def mark_sent(self, target: str, digest: str, shown: Iterable[str] = ()) -> None:
        """Record this run's claims for ``target`` as done; ``shown`` are the papers it listed."""
        with self._write():
            self._db.executemany(
                "UPDATE sent SET shown = 1 WHERE target = ? AND digest = ? AND paper = ?"
                " AND run = ?",
                [(target, digest, paper, self.run_id) for paper in shown],
            )
            self._db.execute(
                "UPDATE sent SET status = 'sent' WHERE target = ? AND digest = ? AND run = ?"
                " AND status = 'claimed'",
                (target, digest, self.run_id),
            )

    def release(self, target: str, digest: str) -> None:
        """Forget this run's claims for ``target`` (the delivery failed): the next run retries."""
        with self._write():
            self._db.execute(
                "DELETE FROM sent WHERE target = ? AND digest = ? AND run = ?"
                " AND status = 'claimed'",
                (target, digest, self.run_id),
            )

    def claim_notice(self, target: str, digest: str, day: dt.date) -> bool:
        """Whether this run may send ``target`` today's "nothing new" notice (claimed if so).

        Not when one was sent (or is being sent) today, nor when papers were
        (or are being, by another run).
        """
        now = self._clock()
        with self._write():
            self._db.execute(
                "DELETE FROM notices WHERE status = 'claimed' AND at < ?",
                (now - self._stale_after,),
            )
            key = (target, digest, day.isoformat())
            noticed = self._db.execute(
                "SELECT 1 FROM notices WHERE target = ? AND digest = ? AND day = ?", key
            ).fetchone()
            papers = self._db.execute(
                # Papers shown today, or being sent by another run right now.
                "SELECT 1 FROM sent WHERE target = ? AND digest = ? AND day = ?"
                " AND (shown = 1 OR status = 'claimed')",
                key,
            ).fetchone()
            if noticed or papers:
                return False
            self._db.execute(
                "INSERT INTO notices VALUES (?, ?, ?, 'claimed', ?, ?)", (*key, self.run_id, now)
            )
        return True

    def finish_notice(self, target: str, digest: str, day: dt.date, *, sent: bool) -> None:
        """Record the claimed notice as sent, or forget it when sending failed."""
        key = (target, digest, day.isoformat(), self.run_id)
        with self._write():
            if sent:
                self._db.execute(
                    "UPDATE notices SET status = 'sent' WHERE target = ? AND digest = ?"
                    " AND day = ? AND run = ?",
                    key,
                )
            else:
                self._db.execute(
                    "DELETE FROM notices WHERE target = ? AND digest = ? AND day = ? AND run = ?",
                    key,
                )

    def last_ok_day(self, source: str) -> dt.date | None:
        """The last day a run fetching ``source`` delivered everything, if any."""
        row = self._db.execute(
            "SELECT last_ok_day FROM windows WHERE source = ?", (source,)
        ).fetchone()
        return dt.date.fromisoformat(row[0]) if row else None

    def set_last_ok_day(self, source: str, day: dt.date) -> None:
        """Record that the run of ``day`` fetched ``source`` and delivered everything."""
        with self._write():
            self._db.execute(
                "INSERT INTO windows VALUES (?, ?) ON CONFLICT(source) DO UPDATE SET"
                " last_ok_day = max(last_ok_day, excluded.last_ok_day)",
                (source, day.isoformat()),
            )

    def shown_count(self, target: str, digest: str) -> int:
        """Papers ``target`` has been sent in ``digest`` (listed, not only passed over)."""
        row = self._db.execute(
            "SELECT count(*) FROM sent WHERE target = ? AND digest = ? AND status = 'sent'"
            " AND shown = 1",
            (target, digest),
        ).fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise CacheError(f"cannot use the delivery state file {self.path}: {exc}") from exc
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise CacheError(f"cannot use the delivery state file {self.path}: {exc}") from exc
