"""one_line: the shortcut for text already on one line gives what splitting gives."""

from __future__ import annotations

import functools
import random
import sys

from scorer._whitespace import one_line


@functools.cache
def whitespace() -> list[str]:
    """Every whitespace character (a scan of all of Unicode: made when a test asks, not at
    collection, which every test worker does)."""
    return [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


def test_every_whitespace_character_but_the_space_is_unprintable() -> None:
    # What one_line's shortcut rests on: a printable text's only whitespace is " ".
    assert [c for c in whitespace() if c.isprintable()] == [" "]


def test_same_as_split_and_join_on_random_text() -> None:
    rng = random.Random(16)
    alphabet = [*whitespace(), "a", "b", "é", "\u200b", "\x00", "😀", " ", " "]
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 9)))
        assert one_line(text) == " ".join(text.split()), repr(text)


def test_the_ascii_whitespace_checked_is_all_of_it() -> None:
    from scorer._whitespace import _ASCII_CONTROL_SPACES

    assert {c for c in whitespace() if c.isascii()} == {" ", *_ASCII_CONTROL_SPACES}
