"""Testing helpers for code built on scorer: a fake OpenAI-compatible server.

    from scorer.testing import BatchPlay, FakeOpenAI, PromptCache, Reply

The names are imported lazily, so ``python -m scorer.testing.fake_openai`` does not import the
module twice. ``scorer.testing.fake_openai`` is also public: it is that command.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.testing.fake_openai import BatchPlay, FakeOpenAI, Personality, PromptCache, Reply

__all__ = ["BatchPlay", "FakeOpenAI", "Personality", "PromptCache", "Reply"]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.testing.fake_openai": (
            "BatchPlay",
            "FakeOpenAI",
            "Personality",
            "PromptCache",
            "Reply",
        )
    },
)
