"""How long a server asked us to wait: the ``retry-after-ms`` and ``retry-after`` headers.

One reading for every client that honours them (the model backends' tenacity
policy and the arXiv source's back-off), so both treat a garbled, negative or
past value the same way: as no request to wait.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping

__all__ = ["retry_after"]


def retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """The wait in seconds ``headers`` ask for, or None if they ask for none (or garble it).

    ``retry-after-ms`` (OpenAI's, milliseconds) wins over ``retry-after``
    (seconds, or an HTTP date measured against ``now``; a past date is 0).

    >>> retry_after({"retry-after": "7"}), retry_after({"retry-after-ms": "1500"})
    (7.0, 1.5)
    """
    from_ms = _seconds(headers.get("retry-after-ms"), scale=1000)
    if from_ms is not None:
        return from_ms
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _seconds(raw)
    if seconds is not None:
        return seconds
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    try:
        return max(0.0, email.utils.mktime_tz(parsed) - now())
    except (ValueError, OverflowError):  # a date past year 9999 parses but does not convert
        return None


def _seconds(raw: str | None, *, scale: float = 1) -> float | None:
    """A non-negative finite number of seconds, or None (absent, garbage, negative, nan, inf)."""
    if raw is None:
        return None
    try:
        value = float(raw) / scale
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
