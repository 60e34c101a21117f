"""Folding whitespace: the one rule every field, identity key and message uses."""

from __future__ import annotations

__all__ = ["one_line"]


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) to single spaces, trimmed at both ends.

    ``str.split()`` splits on exactly the characters re's ``\\s`` matches in a
    ``str`` pattern, so this is ``re.sub(r"\\s+", " ", text).strip()``, faster.

    >>> one_line("  a\\n\\n b\\t")
    'a b'
    """
    return " ".join(text.split())
