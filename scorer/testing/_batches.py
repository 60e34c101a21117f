"""The fake server's files and Batch API: ``/v1/files`` and ``/v1/batches``.

A batch is answered when a retrieval first finds it ended, line by line, by
the fake's normal answering logic (scripted replies, rules, the schema-filled default), so a
batch and online requests get the same answers for the same prompts. How the
batch *ends* is played from :class:`BatchPlay` (completed, expired with part
of the output, failed, still in progress for some polls); a line whose
scripted reply is an HTTP error goes to the error file, as OpenAI's do.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scorer.testing._replies import JSON_TYPE, error_body

__all__ = ["BatchPlay", "FakeBatches", "LineAnswer"]

LineAnswer = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]
"""Answers one request body as the chat endpoint would: (HTTP status, JSON body)."""

_EXPIRED = "This request could not be executed before the completion window expired."
_CANCELLED = "This request was not executed because the batch was cancelled."


@dataclass(frozen=True)
class BatchPlay:
    """How the fake plays one batch.

    ``status``: how it ends. ``completed`` runs every line; ``expired`` runs
    the first ``ran`` lines (default: half) and puts the rest in the error
    file as ``batch_expired``; ``failed`` runs none and reports ``errors``
    (the batch object's ``errors.data``). ``in_progress_polls``: how many
    retrievals see it ``in_progress`` before it ends.
    """

    status: Literal["completed", "expired", "failed"] = "completed"
    in_progress_polls: int = 0
    ran: int | None = None
    errors: tuple[dict[str, Any], ...] = ()


@dataclass
class _Batch:
    obj: dict[str, Any]
    play: BatchPlay
    polls_left: int
    content: bytes = b""  # the input file
    final: dict[str, Any] | None = None  # fields set when the batch ends; None: not run yet


class FakeBatches:
    """Files and batches held in memory; ``routes`` are mounted by :class:`FakeOpenAI`."""

    def __init__(self, answer: LineAnswer) -> None:
        self._answer = answer
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (purpose, content)
        self.batches: dict[str, _Batch] = {}
        self.created: list[str] = []  # batch ids in creation order
        self.lines_answered = 0  # batch lines run through the answering logic
        self.retrievals = 0
        self._plays: deque[BatchPlay] = deque()
        self._lock = threading.Lock()
        self.routes = [
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/files/{file_id}", self._file, methods=["GET"]),
            Route("/v1/files/{file_id}/content", self._content, methods=["GET"]),
            Route("/v1/batches", self._create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", self._retrieve, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self._cancel, methods=["POST"]),
        ]

    def play(self, *plays: BatchPlay) -> None:
        """Script how the next batches end, one per batch created (then: completed)."""
        with self._lock:
            self._plays.extend(plays)

    def reset(self) -> None:
        with self._lock:
            self.files.clear()
            self.batches.clear()
            self.created.clear()
            self._plays.clear()
            self.lines_answered = 0
            self.retrievals = 0

    def input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        """The request lines a batch was created with."""
        _, content = self.files[self.batches[batch_id].obj["input_file_id"]]
        return [json.loads(line) for line in content.splitlines() if line.strip()]

    # -- routes --------------------------------------------------------------------------------

    async def _upload(self, request: Request) -> Response:
        raw = await request.body()
        head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts() if message.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = (part.get_filename(), payload)
        if "file" not in fields or "purpose" not in fields:
            return _error(400, "Both 'file' and 'purpose' are required.")
        filename, content = fields["file"]
        purpose = fields["purpose"][1].decode()
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        with self._lock:
            self.files[file_id] = (purpose, content)
        return JSONResponse(_file_object(file_id, filename or "upload.jsonl", purpose, content))

    async def _file(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}")
        purpose, content = self.files[file_id]
        return JSONResponse(_file_object(file_id, f"{file_id}.jsonl", purpose, content))

    async def _content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if file_id not in self.files:
            return _error(404, f"No such File object: {file_id}")
        return Response(self.files[file_id][1], media_type="application/octet-stream")

    async def _create(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        input_id = body.get("input_file_id")
        if input_id not in self.files:
            return _error(400, f"No such File object: {input_id}", param="input_file_id")
        batch_id = f"batch_{uuid.uuid4().hex[:24]}"
        with self._lock:
            play = self._plays.popleft() if self._plays else BatchPlay()
        obj: dict[str, Any] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body.get("endpoint"),
            "errors": None,
            "input_file_id": input_id,
            "completion_window": body.get("completion_window", "24h"),
            "status": "in_progress",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "metadata": body.get("metadata"),
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }
        batch = _Batch(
            obj=obj, play=play, polls_left=play.in_progress_polls, content=self.files[input_id][1]
        )
        with self._lock:
            self.batches[batch_id] = batch
            self.created.append(batch_id)
        return JSONResponse(self._current(batch, poll=False))

    async def _retrieve(self, request: Request) -> Response:
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(404, f"No such Batch object: {request.path_params['batch_id']}")
        with self._lock:
            self.retrievals += 1
        return JSONResponse(self._current(batch, poll=True))

    async def _cancel(self, request: Request) -> Response:
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            return _error(404, f"No such Batch object: {request.path_params['batch_id']}")
        if batch.final is None:  # still running: nothing ran, everything is cancelled
            lines = self.input_lines(batch.obj["id"])
            batch.final = self._finish(batch, [], [_not_run(x, "batch_cancelled") for x in lines])
            batch.final["status"] = "cancelled"
            batch.polls_left = 0
        return JSONResponse(self._current(batch, poll=False))

    # -- running a batch -------------------------------------------------------------------------

    def _current(self, batch: _Batch, *, poll: bool) -> dict[str, Any]:
        if batch.final is None and (batch.polls_left > 0 or not poll):
            if poll:
                batch.polls_left -= 1
            return batch.obj
        if batch.final is None:
            batch.final = self._run(batch, batch.content)
        batch.obj.update(batch.final)
        return batch.obj

    def _run(self, batch: _Batch, content: bytes) -> dict[str, Any]:
        """Answer the input's lines now; the fields the batch object gets when it ends."""
        play = batch.play
        if play.status == "failed":
            reasons = list(play.errors) or [
                {"code": "invalid_request", "message": "The batch failed.", "param": None}
            ]
            return {"status": "failed", "errors": {"object": "list", "data": reasons}}
        lines: list[dict[str, Any]] = []
        for number, text in enumerate(content.splitlines(), start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                if not isinstance(line, dict) or not isinstance(line.get("body"), dict):
                    raise ValueError("not a request line")
            except ValueError:
                error = {
                    "code": "invalid_json_line",
                    "message": f"This line is not parseable as valid JSON (line {number}).",
                    "param": None,
                    "line": number,
                }
                return {"status": "failed", "errors": {"object": "list", "data": [error]}}
            lines.append(line)
        ran = len(lines) if play.status == "completed" else play.ran
        ran = len(lines) // 2 if ran is None else min(ran, len(lines))
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for line in lines[:ran]:
            status, body = self._answer(line["body"])
            response = {"status_code": status, "request_id": uuid.uuid4().hex, "body": body}
            entry = {"id": _req_id(), "custom_id": line.get("custom_id"), "response": response}
            entry["error"] = None
            (output if status == 200 else errors).append(entry)
        with self._lock:
            self.lines_answered += ran
        errors += [_not_run(line, "batch_expired") for line in lines[ran:]]
        final = self._finish(batch, output, errors)
        final["status"] = play.status
        return final

    def _finish(
        self, batch: _Batch, output: list[dict[str, Any]], errors: list[dict[str, Any]]
    ) -> dict[str, Any]:
        final: dict[str, Any] = {
            "request_counts": {
                "total": len(output) + len(errors),
                "completed": len(output),
                "failed": len(errors),
            }
        }
        for name, entries in (("output_file_id", output), ("error_file_id", errors)):
            if entries:
                file_id = f"file-{uuid.uuid4().hex[:24]}"
                text = "".join(json.dumps(e) + "\n" for e in entries).encode()
                with self._lock:
                    self.files[file_id] = ("batch_output", text)
                final[name] = file_id
        return final


def _not_run(line: dict[str, Any], code: str) -> dict[str, Any]:
    message = _EXPIRED if code == "batch_expired" else _CANCELLED
    error = {"code": code, "message": message}
    return {"id": _req_id(), "custom_id": line.get("custom_id"), "response": None, "error": error}


def _req_id() -> str:
    return f"batch_req_{uuid.uuid4().hex[:24]}"


def _file_object(file_id: str, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def _error(status: int, message: str, param: str | None = None) -> Response:
    return Response(
        error_body(message, "invalid_request_error", None, param), status, media_type=JSON_TYPE
    )
