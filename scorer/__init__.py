"""scorer: LLM-based relevance scoring for research papers.

>>> from scorer import score
>>> result = score({"title": "...", "abstract": "..."}, "llm-inference")  # doctest: +SKIP
"""

from scorer.api import ascore, ascore_many, score, score_many
from scorer.engine import Scorer
from scorer.errors import (
    BackendError,
    CacheError,
    ConfigError,
    FatalBackendError,
    InputError,
    InvalidOutputError,
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
