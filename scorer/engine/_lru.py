"""A small bounded mapping for objects built once per rubric (answer models, system texts).

A server takes rubrics from its clients: keyed by fingerprint in a plain
dict, every distinct rubric would stay in memory for good. These keep the
most recently used ``maxsize`` and rebuild the rest on demand (a rebuild
costs a few milliseconds; a model request costs far more).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """The ``maxsize`` most recently used entries; thread-safe.

    >>> cache: LRU[str, int] = LRU(maxsize=2)
    >>> cache["a"] = 1; cache["b"] = 2; cache["c"] = 3
    >>> cache.get("a"), cache.get("c"), len(cache)
    (None, 3, 2)
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()  # the sync API scores from threads too

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
