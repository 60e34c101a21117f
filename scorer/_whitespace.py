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
    # Most text is on one line already: its only whitespace is single spaces inside
    # it, and it comes back as it is. Checking that reads the text at C speed (a
    # search per control character; every whitespace character but the space is
    # unprintable); splitting makes a string per word, and cache keys and
    # identities fold every title and abstract of a run.
    if text.isascii():
        for control in _ASCII_CONTROL_SPACES:
            if control in text:
                return " ".join(text.split())
    elif not text.isprintable():
        return " ".join(text.split())
    if "  " in text or text[:1] == " " or text[-1:] == " ":
        return " ".join(text.split())
    return text


# The ASCII whitespace other than the space (str.isspace() says so of each).
_ASCII_CONTROL_SPACES = ("\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e", "\x1f")
