"""Words in the lines the commands print."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str) -> str:
    """``word`` as it goes after the count ``n``.

    >>> f"1 {plural(1, 'paper')}, 2 {plural(2, 'paper')}"
    '1 paper, 2 papers'
    """
    return word if n == 1 else f"{word}s"
