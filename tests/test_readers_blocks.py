"""A file is read in blocks of lines and reads exactly as line by line: rows, problems, numbers.

The file readers split a clean block of a file into lines at C speed and
leave any other block (a NUL byte, a line that does not decode), the first
line and lines over the limit to the line-by-line decoder that standard input
uses. A difference would change a user's rows, or the line a bad row is
reported on; these tests hold the two to each other on hostile files whose
trouble sits on both sides of block boundaries.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scorer import InputError
from scorer.io._lines import _BLOCK_BYTES, MAX_LINE_BYTES, _raw_blocks, _raw_lines, stream_lines
from scorer.io._readers import RowProblem, _notice, _read_csv, read_papers

Outcome = tuple[list[dict[str, Any]], list[RowProblem], str | None]


def _by_blocks(path: Path, encoding: str | None) -> Outcome:
    problems: list[RowProblem] = []
    try:
        papers = list(read_papers(path, encoding=encoding, on_problem=problems.append))
    except InputError as exc:
        return [], problems, str(exc)
    return [p.model_dump() for p in papers], problems, None


def _by_lines(path: Path, encoding: str | None) -> Outcome:
    # The same CSV reader over the line-by-line decoder (standard input's bytes path).
    problems: list[RowProblem] = []
    bad: dict[int, str] = {}
    with path.open("rb") as raw:
        stdin: Any = SimpleNamespace(buffer=raw)
        lines = stream_lines(stdin, str(path), encoding, _notice(problems.append), bad)
        try:
            papers = list(_read_csv(lines, bad, str(path), ",", {}, problems.append))
        except InputError as exc:
            return [], problems, str(exc)
    return [p.model_dump() for p in papers], problems, None


_TROUBLE = [
    b'T{n},"a quoted cell\nover two lines"\n',
    b'T{n},"a quoted cell\r\nover CRLF lines"\r\n',
    b"T{n},A lone\rCR\n",
    b"T{n},CRLF\r\n",
    b"T{n},a NUL\x00byte\n",
    b"T{n},caf\xe9 in Windows-1252\n",
    b"T{n},\xff\xfe\n",
    b"T{n},\xc3\xa9 UTF-8\n",
    b"T{n}," + b"a line longer than a block " * (_BLOCK_BYTES // 20) + b"\n",
    b'T{n},"a quote\n',
    b"\n",
    b"\r\n",
    b"T{n},A,too many\n",
    b"T{n}\n",
    b"T{n},\x0bvertical tab\x0c\x1c\x1d\x1e\xc2\x85\xe2\x80\xa8\n",
]


def _hostile_file(path: Path, rng: random.Random) -> Path:
    head = rng.choice([b"", b"\xef\xbb\xbf"]) + b"title,abstract" + rng.choice([b"\n", b"\r\n"])
    lines = [head]
    for n in range(rng.randrange(1500, 4000)):
        if rng.random() < 0.03:
            lines.append(rng.choice(_TROUBLE).replace(b"{n}", str(n).encode()))
        else:
            end = rng.choice([b"\n", b"\r\n"])
            lines.append(b"Title %d,An abstract of paper %d" % (n, n) + end)
    text = b"".join(lines)
    if rng.random() < 0.5:
        text = text.rstrip(b"\r\n")  # the last line without its line break
    path.write_bytes(text)
    return path


@pytest.mark.parametrize("encoding", [None, "utf-8", "latin-1"])
def test_hostile_files_read_in_blocks_as_line_by_line(tmp_path: Path, encoding: str | None) -> None:
    rng = random.Random(f"blocks-{encoding}")
    for i in range(12):
        path = _hostile_file(tmp_path / f"p{i}.csv", rng)
        assert path.stat().st_size > 2 * _BLOCK_BYTES
        by_blocks = _by_blocks(path, encoding)
        assert by_blocks == _by_lines(path, encoding)
        assert len(by_blocks[0]) > 100 and by_blocks[1]  # rows read, problems met


@pytest.mark.parametrize(
    "first",
    [b"\xff\xfetitle", b"\xef\xbb\xbftitle", b"title\x00", b"t\xedtle", b"title" * 30000],
)
def test_the_first_line_says_what_the_file_is_in_blocks_too(tmp_path: Path, first: bytes) -> None:
    body = b"".join(b"Title %d,Abstract\n" % n for n in range(10000))
    path = tmp_path / "p.csv"
    path.write_bytes(first + b",abstract\n" + body)
    for encoding in (None, "utf-8"):
        assert _by_blocks(path, encoding) == _by_lines(path, encoding)


def test_a_line_over_the_limit_midway_reads_in_blocks_as_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    rows = b"".join(b"Title %d,Abstract\n" % n for n in range(5000))
    huge = b"Huge," + b"x" * (MAX_LINE_BYTES + 10) + b"\n"
    path.write_bytes(b"title,abstract\n" + rows + huge + rows + b"T,A\x00\n" + rows)
    by_blocks = _by_blocks(path, None)
    assert by_blocks == _by_lines(path, None)
    assert [(p.line, p.message) for p in by_blocks[1]] == [
        (5002, "line longer than 16 MiB"),
        (10003, "NUL byte in the line (a damaged file?)"),
    ]


def test_blocks_split_bytes_into_the_lines_readline_gives() -> None:
    # Lines around the limit and around the block size, with and without their LF.
    rng = random.Random(1616)
    for _ in range(3000):
        limit = rng.randrange(1, 40)
        size = rng.randrange(1, 50)
        data = b"".join(
            b"x" * rng.choice([0, 1, limit - 1, limit, limit + 1, 2 * limit, rng.randrange(90)])
            + rng.choice([b"\n", b"\r\n", b"\r", b""])
            for _ in range(rng.randrange(8))
        )
        expected = list(_raw_lines(io.BytesIO(data), limit))
        got: list[bytes | None] = []
        for block in _raw_blocks(io.BytesIO(data), limit, size):
            got.extend([None] if block is None else io.BytesIO(block))
        assert got == expected, (data, limit, size)
