"""Scoring on a Ray cluster: :func:`score_dataset` (optional extra ``scorer[ray]``).

Ray is imported only when a function here runs, so ``import scorer`` and
``scorer --help`` never load it.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.ray._dataset import score_dataset

__all__ = [
    "score_dataset",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.ray._dataset": ("score_dataset",),
    },
)
