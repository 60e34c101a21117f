"""One CSV record as text, exactly as ``csv.writer`` writes it, for a fraction of the CPU.

``csv.writer`` copies every character of every cell one at a time (about
20 µs for a row with an abstract); a cached re-run writes 100,000 such rows.
Python's own string search finds the four characters that matter at C speed.

The rules are the ``excel`` dialect's (``csv.writer(stream)`` with no options):
a cell holding ``"``, ``,``, CR or LF is quoted, a ``"`` inside doubled; the
record ends in CRLF; a record of one empty cell is ``""`` (so it is not read
back as no record). ``tests/test_csv_record.py`` pins the equality with
``csv.writer`` on hostile cells.

>>> csv_record(["a", "1,2", 'x"y', ""])
'a,"1,2","x""y",\\r\\n'
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["csv_record"]


def csv_record(cells: Sequence[str]) -> str:
    """``cells`` as one CSV record, line ending included (see the module docstring)."""
    if len(cells) == 1 and not cells[0]:
        return '""\r\n'
    line = ",".join(cells)
    if '"' in line or "\n" in line or "\r" in line:
        return ",".join([_field(cell) for cell in cells]) + "\r\n"
    # Only commas can need quotes now; most rows have none but the joins, or a few in a cell.
    if line.count(",") == len(cells) - 1:
        return line + "\r\n"
    return ",".join([f'"{cell}"' if "," in cell else cell for cell in cells]) + "\r\n"


def _field(cell: str) -> str:
    if '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    if "," in cell or "\n" in cell or "\r" in cell:
        return '"' + cell + '"'
    return cell
