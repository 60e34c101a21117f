"""scorer: LLM-based relevance scoring for research papers.

>>> from scorer import score
>>> result = score({"title": "...", "abstract": "..."}, "llm-inference")  # doctest: +SKIP

The names below are imported on first use (PEP 562): ``import scorer`` and the
``scorer`` command's start-up stay fast, and the scoring engine (with the
OpenAI client behind it) loads only for a program that scores.
"""

import typing as _typing

# A few names and no imports of its own: loading it costs nothing at start-up.
from scorer._errors import ERROR_CLASSES as _ERROR_CLASSES
from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer._api import ascore, ascore_many, score, score_many
    from scorer._errors import (
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
    from scorer._models import Paper, Review, Score, ScoredPaper, Usage
    from scorer._rubric import Dimension, Rubric, builtin_rubric_names, load_rubric
    from scorer._settings import RetryPolicy, Sampling, Settings
    from scorer.engine._scorer import Scorer

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
    "Review",
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

# Each public name -> the private module that defines it. Every module of the
# package is private (a leading underscore) or a subpackage with its own
# ``__all__``: these names are the top-level surface, pinned by
# tests/test_exported_members.py.
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer._api": ("ascore", "ascore_many", "score", "score_many"),
        "scorer.engine._scorer": ("Scorer",),
        "scorer._errors": _ERROR_CLASSES,
        "scorer._models": ("Paper", "Review", "Score", "ScoredPaper", "Usage"),
        "scorer._rubric": ("Dimension", "Rubric", "builtin_rubric_names", "load_rubric"),
        "scorer._settings": ("RetryPolicy", "Sampling", "Settings"),
    },
)
