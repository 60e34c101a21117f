"""The lines of a text file, screened: decoding, NUL bytes and over-long lines, by number.

The CSV, JSONL, RIS and BibTeX readers (:mod:`scorer.io._readers`) read
their records from these lines. A line that cannot be part of a paper (a
NUL byte, more than :data:`MAX_LINE_BYTES`, text that does not decode in an
explicit encoding) is noted in a :data:`BadLines` dict under its number and
still handed on (cleaned, or as a bare line break), so that the record
readers, which know where a record starts and ends, report and skip the
record that holds it. What dooms the whole file raises ``InputError``: a
UTF-16 BOM or NUL bytes on the first line.

A file is read in blocks: a clean block's lines are split and decoded in C
(a cached re-run reads 100,000 rows), anything else line by line, with the
same lines, numbers and problems (``tests/test_readers_blocks.py``).
"""

from __future__ import annotations

import codecs
import io
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TextIO

from scorer._errors import InputError

__all__ = ["MAX_LINE_BYTES", "TOO_LONG", "BadLines", "Notice", "file_lines", "stream_lines"]

MAX_LINE_BYTES = 16 * 1024 * 1024
"""Longest line read, in bytes; a longer one is a bad row (and never held in memory whole)."""

TOO_LONG = f"line longer than {MAX_LINE_BYTES // 2**20} MiB"
"""What :data:`BadLines` says of a line over the limit."""

BadLines = dict[int, str]
"""Lines that cannot be part of a paper, by line number, with the reason."""

Notice = Callable[[int, str], None]
"""Told (line number, message) of text that was read all the same (read as Windows-1252)."""

_ICONV_HINT = "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`"
# A file saved as UTF-16 ("Unicode text" in Excel) needs the other conversion.
_UTF16_HINT = "re-save it as UTF-8, e.g. `iconv -f utf-16 -t utf-8`"
_NOT_TEXT = "{name}: not UTF-8 text (NUL byte at line 1: UTF-16 or binary?); " + _UTF16_HINT


def file_lines(path: Path, encoding: str | None, notice: Notice, bad: BadLines) -> Iterator[str]:
    """The lines of the file at ``path``, lazily, with their line breaks, screened.

    ``encoding`` None is UTF-8, and Windows-1252 for a line that is not
    (``notice`` is told once); an explicit one is strict (a line that does
    not decode is bad). Bad lines go into ``bad``; see the module's text.
    """
    # The lines of whole blocks, chained in C: no Python frame per line on a clean file.
    return itertools.chain.from_iterable(_file_blocks(path, encoding, notice, bad))


def _file_blocks(
    path: Path, encoding: str | None, notice: Notice, bad: BadLines
) -> Iterator[Iterable[str]]:
    """The lines of ``path`` as :class:`_LineDecoder` reads them, a block at a time.

    A block of whole lines with no NUL byte whose every line decodes strictly
    is read at C speed: ``io.BytesIO`` splits it on ``b"\\n"`` as ``readline``
    does, and each line is decoded as :class:`_LineDecoder` would. The first
    line, a line over the limit and any other block go through
    :class:`_LineDecoder` itself, lazily, line by line: errors, notices, bad
    lines and their numbers stay what they were.
    """
    decoder = _LineDecoder(str(path), encoding, notice, bad)
    decode = operator.methodcaller("decode", encoding or "utf-8")  # strict, as the decoder
    fast = codecs.lookup(encoding or "utf-8").name in _BLOCK_CODECS
    number = 0  # lines handed on so far
    with path.open("rb") as raw:
        for block in _raw_blocks(raw, MAX_LINE_BYTES):
            if block is None:
                number += 1
                yield (decoder.line(number, None),)
                continue
            if number == 0:  # the first line: BOMs and NUL bytes say what the file is
                cut = block.find(b"\n") + 1 or len(block)
                number += 1
                yield (decoder.line(number, block[:cut]),)
                block = block[cut:]
                if not block:
                    continue
            if fast and b"\0" not in block:
                try:
                    lines = list(map(decode, io.BytesIO(block)))
                except UnicodeDecodeError:
                    pass
                else:
                    number += len(lines)
                    yield lines
                    continue
            yield decoder.lines(number, block)
            number += block.count(b"\n")  # (one not ending in b"\n" is the file's last)


# Codecs (codecs.lookup names) in which a NUL character is a NUL byte, so a block
# without b"\0" needs no screening. Not so in e.g. UTF-7 ("+AAA-") or unicode_escape.
_BLOCK_CODECS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
# 64 KiB: bigger blocks were slower (1 MiB: 0.90 us a line, 64 KiB: 0.47; readline: 0.75):
# their lines leave the CPU caches, and past malloc's mmap threshold (128 KiB) each
# read maps fresh pages.
_BLOCK_BYTES = 1 << 16


def _raw_blocks(raw: IO[bytes], limit: int, size: int = _BLOCK_BYTES) -> Iterator[bytes | None]:
    """The bytes of ``raw`` in blocks of whole lines, as :func:`_raw_lines` splits them.

    Each block ends with ``b"\\n"`` (but the file's last) and holds no line
    longer than ``limit``; None stands for such a line, read past, never held
    whole. A line longer than a block is gathered from its pieces.
    """
    size = min(size, limit)  # a line inside one read is never over the limit
    held: list[bytes] = []  # the start of a line that began in an earlier read
    length = 0  # of held
    skipping = False  # past the limit: reading to the end of that line
    while chunk := raw.read(size):
        if skipping:
            cut = chunk.find(b"\n") + 1
            if not cut:
                continue
            skipping, chunk = False, chunk[cut:]
        end = chunk.rfind(b"\n") + 1
        if held and end:
            first = chunk.find(b"\n") + 1
            if length + first - 1 > limit:
                yield None
            else:
                yield b"".join([*held, chunk[:first]])
            held, length = [], 0
            chunk, end = chunk[first:], end - first
        if end:
            yield chunk[:end]
        if end < len(chunk):
            held.append(chunk[end:])
            length += len(chunk) - end
            if length > limit:
                yield None
                held, length, skipping = [], 0, True
    if held:
        yield b"".join(held)


class _LineDecoder:
    """Lines of bytes as text: strictly in an explicit encoding, else UTF-8 or Windows-1252.

    Splitting bytes on ``b"\\n"`` is safe: no byte of a multi-byte UTF-8 (or
    Windows-1252) character is 0x0A. Decoding line by line lets an error name
    its line. A line that does not decode is bad in an explicit encoding, and
    read as Windows-1252 with one notice otherwise; NUL bytes on the first
    line (or a UTF-16 BOM) mean the file is not text at all.
    """

    def __init__(self, name: str, encoding: str | None, notice: Notice, bad: BadLines):
        self.name, self.encoding, self.notice, self.bad = name, encoding, notice, bad
        self.fell_back = False

    def lines(self, before: int, block: bytes) -> Iterator[str]:
        """The lines of ``block``, whose first is line ``before + 1``, one at a time."""
        for number, line in enumerate(io.BytesIO(block), start=before + 1):
            yield self.line(number, line)

    def line(self, number: int, line: bytes | None) -> str:
        """Line ``number`` (None: one over the limit) decoded, its NUL bytes noted and dropped."""
        text = self._decoded(number, line)
        if "\0" in text:
            if number == 1:
                raise InputError(_NOT_TEXT.format(name=self.name), line=1)
            self.bad.setdefault(number, "NUL byte in the line (a damaged file?)")
            text = text.replace("\0", "")
        return text

    def _decoded(self, number: int, line: bytes | None) -> str:
        if line is None:
            self.bad[number] = TOO_LONG
            return "\n"
        name, encoding = self.name, self.encoding
        if number == 1:
            if line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise InputError(f"{name}: UTF-16 text, not UTF-8; {_UTF16_HINT}", line=1)
            line = line.removeprefix(codecs.BOM_UTF8)
            if b"\0" in line:  # before any decoding notice: the file is not text
                raise InputError(_NOT_TEXT.format(name=name), line=1)
        try:
            return line.decode(encoding or "utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte 0x{line[exc.start]:02x} at line {number}"
            if encoding is not None:
                self.bad[number] = f"not {encoding} text ({where}); {_ICONV_HINT}"
                return line.decode(encoding, errors="replace")
            if not self.fell_back:
                self.fell_back = True
                self.notice(
                    number,
                    f"not UTF-8 text ({where}); reading such lines as Windows-1252. "
                    "If characters look wrong, re-save the file as UTF-8",
                )
            return line.decode("cp1252", errors="replace")


def stream_lines(
    stream: TextIO, name: str, encoding: str | None, notice: Notice, bad: BadLines
) -> Iterator[str]:
    """:func:`file_lines` of ``stream`` (standard input, called ``name``), read line by line."""
    raw = getattr(stream, "buffer", None)
    if raw is not None:  # a real stdin: decode its bytes the same way as a file's
        decoder = _LineDecoder(name, encoding, notice, bad)
        for number, line in enumerate(_raw_lines(raw, MAX_LINE_BYTES), start=1):
            yield decoder.line(number, line)  # line by line: a pipe is read as it comes
        return
    yield from _screened(_text_lines(stream, name, bad), name, bad)


def _text_lines(stream: TextIO, name: str, bad: BadLines) -> Iterator[str]:
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            if len(line) > MAX_LINE_BYTES:
                bad[number] = TOO_LONG
                line = "\n"
            yield line.removeprefix("\ufeff") if number == 1 else line
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (after line {number}); {_ICONV_HINT}") from exc


def _screened(lines: Iterable[str], name: str, bad: BadLines) -> Iterator[str]:
    """Lines with NUL bytes marked bad; NULs on the first line mean UTF-16 or binary."""
    for number, line in enumerate(lines, start=1):
        if "\0" in line:
            if number == 1:
                raise InputError(_NOT_TEXT.format(name=name), line=1)
            bad.setdefault(number, "NUL byte in the line (a damaged file?)")
            line = line.replace("\0", "")
        yield line


def _raw_lines(raw: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The lines of ``raw``; None for a line longer than ``limit``, which is read past, not kept."""
    while line := raw.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := raw.readline(limit)) and not rest.endswith(b"\n"):
            pass
        yield None
