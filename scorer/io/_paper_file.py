"""One paper from a JSON file or stream (``scorer score --paper``, or standard input).

Whatever way the text is not one JSON object of a paper's fields (too large,
UTF-16, not UTF-8, not JSON, nested too deep, a list) is one
:class:`~scorer._errors.InputError` naming the file, never a traceback.

>>> import io
>>> read_paper_json(io.BytesIO(b'{"title": "T", "abstract": "A"}'), "paper.json")
{'title': 'T', 'abstract': 'A'}
>>> read_paper_json(io.BytesIO(b"[1]"), "paper.json")
Traceback (most recent call last):
scorer._errors.InputError: paper.json: expected one JSON object with the paper's fields
"""

from __future__ import annotations

import codecs
import json
from typing import IO, Any

from scorer._errors import InputError
from scorer._models import MAX_NESTING
from scorer.io._readers import MAX_LINE_BYTES

__all__ = ["read_paper_json"]


def read_paper_json(stream: IO[bytes] | IO[str], name: str) -> dict[str, Any]:
    """The one JSON object in ``stream`` (``name`` is what messages call it), for ``score()``."""
    raw = stream.read(MAX_LINE_BYTES + 1)
    if len(raw) > MAX_LINE_BYTES:
        raise InputError(f"{name}: larger than {MAX_LINE_BYTES // 2**20} MiB; not one paper")
    text = _decode(raw, name) if isinstance(raw, bytes) else raw
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{name}: not valid JSON: {exc}", line=exc.lineno) from exc
    except RecursionError as exc:
        raise InputError(f"{name}: JSON nested too deep (more than {MAX_NESTING} levels)") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InputError(f"{name}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected one JSON object with the paper's fields")
    return data


def _decode(raw: bytes, name: str) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{name}: UTF-16 text, not UTF-8; re-save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}); "
            "re-save it as UTF-8",
            line=line,
        ) from exc
