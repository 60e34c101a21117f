"""csv_records reads what csv.reader reads, errors and line numbers included.

The CSV reader splits plain lines itself and gives the rest to csv.reader; a
difference would change a user's rows, or the line a bad row is reported on.
"""

from __future__ import annotations

import csv
import random
import re

import pytest

from scorer.io._csv_records import csv_records


def _lines(text: str) -> list[str]:
    # As the file readers give them: split after each LF only (a CR stays in its line).
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _by_csv_reader(lines: list[str], delimiter: str) -> list[tuple[object, int]]:
    reader = csv.reader(iter(lines), delimiter=delimiter)
    out: list[tuple[object, int]] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return out
        except csv.Error as exc:
            out.append((f"error: {exc}", reader.line_num))
            continue
        out.append((row, reader.line_num))


def _by_csv_records(lines: list[str], delimiter: str) -> list[tuple[object, int]]:
    read = [0]
    out: list[tuple[object, int]] = []
    for record in csv_records(iter(lines), delimiter, read):
        shown = f"error: {record}" if isinstance(record, csv.Error) else record
        out.append((shown, read[0]))
    return out


@pytest.mark.parametrize(
    "text",
    [
        "id,title,abstract\n1,T,A\n",
        "a,b\r\nc,d\r\n",
        "\n\n a , b \n,\n,,\n",
        'a,"b, c"\n"multi\nline",x\n',
        'a,"unterminated\nb,c\n',
        "a,b\rc,d\n",  # a lone CR inside an unquoted cell: csv.reader's error
        'x"y,z\n"a""b",c\n',
        "a,b\r",
        "a,b\r\r\n\r\n",
        "no newline at the end",
    ],
)
def test_same_as_csv_reader_on_known_text(text: str) -> None:
    for delimiter in (",", "\t"):
        lines = _lines(text.replace(",", delimiter))
        assert _by_csv_records(lines, delimiter) == _by_csv_reader(lines, delimiter)


def test_same_as_csv_reader_on_random_hostile_text() -> None:
    rng = random.Random(16)
    alphabet = ['"', ",", "\t", "\r", "\n", "\r\n", " ", "a", "é", "''", '""', "x"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        for delimiter in (",", "\t"):
            lines = _lines(text)
            assert _by_csv_records(lines, delimiter) == _by_csv_reader(lines, delimiter), text
