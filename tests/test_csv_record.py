"""csv_record writes exactly what csv.writer writes (scorer's CSV rows skip csv.writer: speed)."""

from __future__ import annotations

import csv
import io
import random

import pytest

from scorer.io._csv_record import csv_record

# Every character the excel dialect treats specially, and some it must leave alone.
_ALPHABET = ['"', ",", "\r", "\n", "\r\n", " ", "\t", "'", "=", "a", "é", "😀", "\0", ";", ""]


def _csv_writer(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()


@pytest.mark.parametrize(
    "cells",
    [
        [],
        [""],
        ["", ""],
        [","],
        ['"'],
        ["\r\n"],
        ["a", "b,c", 'd"e', "f\ng", "h\ri", ""],
        ["plain", "row", "2026-02-24", "50", "True"],
        ["We study speculative decoding, paged attention and batching.", "x"],
        ['"quoted", and more', "=1+1"],
    ],
)
def test_same_as_csv_writer_on_known_cells(cells: list[str]) -> None:
    assert csv_record(cells) == _csv_writer(cells)


def test_same_as_csv_writer_on_random_hostile_cells() -> None:
    rng = random.Random(16)
    for _ in range(5000):
        cells = [
            "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 8)))
            for _ in range(rng.randrange(0, 7))
        ]
        assert csv_record(cells) == _csv_writer(cells), cells


def test_read_back_by_csv_reader() -> None:
    cells = ['a "b", c', "line\none", "", "x\r\ny", ","]
    assert next(csv.reader(io.StringIO(csv_record(cells), newline=""))) == cells
