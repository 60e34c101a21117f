"""A module imported when a test first uses one of its names, not when pytest collects.

Every pytest-xdist worker imports every test module to collect it, and most
workers never run the few tests that need pandas or openpyxl (1-3 s of CPU
to import, per worker).
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """``name``, imported on first attribute access: ``pd = LazyModule("pandas")``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_") or attribute == "pytestmark":
            # What pytest's collection probes every module-level name for.
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self._name), attribute)
