"""Scoring a pandas DataFrame: :func:`score_frame`.

>>> from scorer.pandas import score_frame
>>> callable(score_frame)
True
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.pandas._frame import score_frame

__all__ = [
    "score_frame",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.pandas._frame": ("score_frame",),
    },
)
