"""Reading request bodies so that no body, however hostile, is a 500 or stops a batch.

FastAPI parses JSON with :func:`json.loads`: bytes that are not UTF-8, an
integer of 5,000 digits or a list nested 100,000 deep raise something other
than ``JSONDecodeError`` and become a bare 400 or a 500. :class:`SafeJSONRoute`
parses bodies itself; what it refuses is a 422 that says why.

``POST /v1/score/batch`` goes further: one bad paper is one bad record, not a
bad request. Each paper is checked on its own; the bad ones are taken out of
the body and handed to the endpoint as :class:`~scorer.service._schemas.InvalidRecord`
lines (by ``index`` in a JSON body). A body of ``application/x-ndjson`` (a
header line ``{"rubric": ..., "concurrency": ...}``, then one paper per line)
is read line by line, so even a line that is not JSON, not UTF-8, or nested
too deeply to parse is one invalid record (by ``line``) and the rest go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from scorer.service._schemas import MAX_DEPTH, InvalidRecord, RequestPaper

__all__ = ["NDJSON_TYPES", "SafeJSONRoute", "invalid_records"]

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/ndjson"})
_INVALID = "scorer.invalid_records"
_PAPER: TypeAdapter[Any] = TypeAdapter(RequestPaper)


class BodyError(json.JSONDecodeError):
    """A body that cannot be taken as JSON; FastAPI answers a ``JSONDecodeError`` with a 422."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message, "", position)


def invalid_records(request: Request) -> list[InvalidRecord]:
    """The records of a batch body that were not papers, in body order."""
    found = request.scope.get(_INVALID, [])
    assert isinstance(found, list)
    return found


class SafeJSONRoute(APIRoute):
    """An API route whose JSON (and NDJSON) bodies are read by :func:`_parse_body`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        batch = self.path.endswith("/batch")

        async def route(request: Request) -> Response:
            if _media_type(request) in NDJSON_TYPES and batch:
                # FastAPI parses only JSON media types: read the lines here, and let
                # it validate the result as the JSON body it stands for.
                headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
                request.scope["headers"] = [*headers, (b"content-type", b"application/json")]
                request.scope[_NDJSON] = True
            return await handler(_SafeJSONRequest(request.scope, request.receive, batch=batch))

        return route


_NDJSON = "scorer.ndjson"


class _SafeJSONRequest(Request):
    def __init__(self, *args: Any, batch: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch = batch

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if self.scope.get(_NDJSON):
                self._json = _ndjson_batch(body, self.scope.setdefault(_INVALID, []))
            else:
                self._json = _loads(body)
                if self._batch:
                    _sift_papers(self._json, self.scope.setdefault(_INVALID, []))
        return self._json


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _loads(raw: bytes, what: str = "the body") -> Any:
    """``raw`` as JSON, or a :class:`BodyError` saying in one line why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(
            f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            exc.start,
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(
            f"{what} is not valid JSON: {exc.msg} (offset {exc.pos})", exc.pos
        ) from None
    except RecursionError:
        raise BodyError(f"{what} is nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise BodyError(f"{what} holds a value JSON cannot carry here: {exc}") from None


def _problem(error: ValidationError) -> str:
    """The first problem of ``error`` in one line: ``title: Input should be a valid string``."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}{more}" if where else f"{message}{more}"


def _paper_problem(value: Any) -> str | None:
    """Why ``value`` is not a paper, or None if it is one."""
    try:
        _PAPER.validate_python(value)
    except ValidationError as exc:
        return _problem(exc)
    except RecursionError:
        return f"nested more than {MAX_DEPTH} levels deep"
    return None


def _sift_papers(body: Any, invalid: list[InvalidRecord]) -> None:
    """Take the papers of a JSON batch body that are not papers out of it, into ``invalid``."""
    if not isinstance(body, dict) or not isinstance(body.get("papers"), list):
        return  # not a batch: validation says what is wrong with it
    kept = []
    for index, value in enumerate(body["papers"]):
        problem = _paper_problem(value)
        if problem is None:
            kept.append(value)
        else:
            invalid.append(InvalidRecord(index=index, error=f"papers.{index}: {problem}"))
    body["papers"] = kept


def _ndjson_batch(raw: bytes, invalid: list[InvalidRecord]) -> Any:
    """An NDJSON batch body as the JSON body it stands for; bad paper lines into ``invalid``."""
    lines = raw.split(b"\n")
    header = _loads(lines[0].strip(), "line 1 (the header)") if lines[0].strip() else None
    if not isinstance(header, dict) or "rubric" not in header or "papers" in header:
        raise BodyError(
            'line 1 must be the header {"rubric": ..., "concurrency": ...} '
            "(then one paper per line)"
        )
    papers = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            value = _loads(line.strip(), f"line {number}")
        except BodyError as exc:
            invalid.append(InvalidRecord(line=number, error=exc.msg))
            continue
        problem = _paper_problem(value)
        if problem is None:
            papers.append(value)
        else:
            invalid.append(InvalidRecord(line=number, error=f"line {number}: {problem}"))
    return {**header, "papers": papers}
