"""The scoring engine: a paper's identity, the result cache, request slots, batch runs.

The data path through it: papers are de-duplicated by identity
(:func:`paper_identity`), looked up in the cache (:class:`ResultCache`, keyed
by :func:`cache_key`), and the misses are scored by :class:`Scorer` through a
backend, one model call per paper even across processes. :func:`run_batch`
drives a whole file through it to the sinks.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.engine._batch import BatchSummary, run_batch
    from scorer.engine._cache import ResultCache, cache_key
    from scorer.engine._identity import dedupe_papers, paper_identity
    from scorer.engine._scorer import PaperLike, Scorer

__all__ = [
    "BatchSummary",
    "PaperLike",
    "ResultCache",
    "Scorer",
    "cache_key",
    "dedupe_papers",
    "paper_identity",
    "run_batch",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.engine._batch": (
            "BatchSummary",
            "run_batch",
        ),
        "scorer.engine._cache": (
            "ResultCache",
            "cache_key",
        ),
        "scorer.engine._identity": (
            "dedupe_papers",
            "paper_identity",
        ),
        "scorer.engine._scorer": (
            "PaperLike",
            "Scorer",
        ),
    },
)
