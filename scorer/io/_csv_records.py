"""The records of CSV lines, as ``csv.reader`` reads them, with a shortcut for plain lines.

``csv.reader`` looks at every character of every line through its state
machine (a few µs for a row with an abstract). A line holding no quote and no
CR or LF but its line ending is, to that machine, its cells between the
delimiters: ``str.split`` gives them at C string-search speed. Any other line
(a quoted cell, one spanning lines, a stray CR) goes to a real ``csv.reader``
with the lines after it, so what it reads, and every error it raises, stay
``csv.reader``'s own. ``tests/test_csv_records.py`` pins the equality on
hostile text.

>>> read = [0]
>>> list(csv_records(iter(['a,b\\n', '"x\\n', 'y",z\\n', '\\n']), ",", read)), read
([['a', 'b'], ['x\\ny', 'z'], []], [4])
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

__all__ = ["csv_records"]


def csv_records(
    lines: Iterator[str], delimiter: str, read: list[int]
) -> Iterator[list[str] | csv.Error]:
    """Each record of ``lines`` (``excel`` with ``delimiter``), or the ``csv.Error`` of a bad one.

    ``read[0]`` counts the lines read so far, as ``csv.reader``'s
    ``line_num`` would: after a record, the line it ended on. After an error
    the next record starts on the next line, as with ``csv.reader``.
    """
    held: list[str] = []  # the line the shortcut could not read, for csv.reader

    def feed() -> Iterator[str]:
        while True:
            if held:
                yield held.pop()
                continue
            line = next(lines, None)
            if line is None:
                return
            read[0] += 1
            yield line

    reader = csv.reader(feed(), delimiter=delimiter)
    for line in lines:
        read[0] += 1
        # Trailing CRs and LFs end the record and nothing else (csv.reader eats them).
        body = line.rstrip("\r\n")
        if '"' not in body and "\r" not in body and "\n" not in body:
            yield body.split(delimiter) if body else []  # a blank line is no cells
            continue
        held.append(line)  # counted already
        try:
            record = next(reader)
        except StopIteration:  # it always gets the held line; a guard, not a case
            return
        except csv.Error as exc:
            yield exc
            continue
        yield record
