"""Testing helpers for code built on scorer: a fake OpenAI-compatible server.

    from scorer.testing import FakeOpenAI, Reply

The names are imported lazily, so ``python -m scorer.testing.fake_openai`` does not import the
module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scorer.testing.fake_openai import FakeOpenAI, Reply

__all__ = ["FakeOpenAI", "Reply"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("scorer.testing.fake_openai"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
