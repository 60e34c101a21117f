"""scorer: LLM-based relevance scoring for research papers.

>>> from scorer import score
>>> result = score({"title": "...", "abstract": "..."}, "llm-inference")  # doctest: +SKIP

The names below are imported on first use (PEP 562): ``import scorer`` and the
``scorer`` command's start-up stay fast, and the scoring engine (with the
OpenAI client behind it) loads only for a program that scores.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# A few names and no imports of its own: loading it costs nothing at start-up.
from scorer.errors import ERROR_CLASSES as _ERROR_CLASSES

if TYPE_CHECKING:
    from scorer.api import ascore, ascore_many, score, score_many
    from scorer.engine import Scorer
    from scorer.errors import (
        BackendError,
        CacheError,
        ConfigError,
        FatalBackendError,
        InputError,
        InvalidOutputError,
        RequestRefusedError,
        RetryExhausted,
        RubricError,
        ScorerError,
        UnsupportedMethodError,
    )
    from scorer.models import Paper, Score, ScoredPaper, Usage
    from scorer.rubric import Dimension, Rubric, builtin_rubric_names, load_rubric
    from scorer.settings import RetryPolicy, Sampling, Settings

__all__ = [
    "BackendError",
    "CacheError",
    "ConfigError",
    "Dimension",
    "FatalBackendError",
    "InputError",
    "InvalidOutputError",
    "Paper",
    "RequestRefusedError",
    "RetryExhausted",
    "RetryPolicy",
    "Rubric",
    "RubricError",
    "Sampling",
    "Score",
    "ScoredPaper",
    "Scorer",
    "ScorerError",
    "Settings",
    "UnsupportedMethodError",
    "Usage",
    "__version__",
    "ascore",
    "ascore_many",
    "builtin_rubric_names",
    "load_rubric",
    "score",
    "score_many",
]

__version__ = "0.1.0"

# Each public name -> the private module that defines it.
_SOURCES = {
    "scorer.api": ("ascore", "ascore_many", "score", "score_many"),
    "scorer.engine": ("Scorer",),
    "scorer.errors": _ERROR_CLASSES,
    "scorer.models": ("Paper", "Score", "ScoredPaper", "Usage"),
    "scorer.rubric": ("Dimension", "Rubric", "builtin_rubric_names", "load_rubric"),
    "scorer.settings": ("RetryPolicy", "Sampling", "Settings"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'scorer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
