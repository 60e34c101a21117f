"""The Batch API's JSONL: the request files scorer writes, and what answer lines tell.

OpenAI's limits (50,000 requests and 200 MB per input file) and its words
for requests that never ran live here, apart from the submit/collect loop.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from openai.types import Batch
from openai.types.chat import ChatCompletion

from scorer._models import Usage

__all__ = [
    "ENDPOINT",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "TERMINAL",
    "batch_failure",
    "endpoint_name",
    "json_lines",
    "not_run_reason",
    "prompt_digest",
    "request_files",
    "usage_minus",
    "usage_of",
]

MAX_BATCH_REQUESTS = 50_000
"""OpenAI's limit of requests per batch; more papers are split into several batches."""
MAX_BATCH_BYTES = 190 * 2**20
"""Under OpenAI's 200 MB per input file."""
ENDPOINT: Final = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})

WHY_NOT_RUN = {
    "batch_expired": "the batch expired (24 h) before this request ran",
    "batch_cancelled": "the batch was cancelled before this request ran",
}


def not_run_reason(code: str, message: object) -> str:
    """Why a request the batch did not run failed, from its error line."""
    return WHY_NOT_RUN.get(code) or f"the batch could not run it: {code}: {message}"


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file; a bad line is skipped (its paper stays unanswered)."""
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def request_files(
    requests: Mapping[str, dict[str, Any]], max_requests: int
) -> Iterator[tuple[list[str], bytes]]:
    """The JSONL input files, one at a time (each up to 200 MB: only one is held at once),
    with at most ``max_requests`` lines and MAX_BATCH_BYTES each, and the keys they carry."""
    keys: list[str] = []
    data = bytearray()
    for key, body in requests.items():
        line = {"custom_id": key, "method": "POST", "url": ENDPOINT, "body": body}
        encoded = json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        if keys and (len(keys) >= max_requests or len(data) + len(encoded) > MAX_BATCH_BYTES):
            yield keys, bytes(data)
            keys, data = [], bytearray()
        keys.append(key)
        data += encoded
    if keys:
        yield keys, bytes(data)


def batch_failure(batch: Batch) -> str:
    """Why a paper the batch has no line for failed."""
    if batch.status == "failed" and batch.errors and batch.errors.data:
        reasons = "; ".join(
            f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "")
            for e in batch.errors.data[:3]
        )
        return f"the batch failed: {reasons}"
    return WHY_NOT_RUN.get(f"batch_{batch.status}") or (
        f"the batch ended {batch.status} without an answer for this paper"
    )


def usage_of(response: ChatCompletion) -> Usage:
    usage = response.usage
    if usage is None:
        return Usage(requests=1)
    details = usage.prompt_tokens_details
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        requests=1,
        cached_prompt_tokens=(details.cached_tokens or 0) if details else 0,
    )


def usage_minus(total: Usage, part: Usage) -> Usage:
    return Usage(
        prompt_tokens=max(0, total.prompt_tokens - part.prompt_tokens),
        completion_tokens=max(0, total.completion_tokens - part.completion_tokens),
        requests=max(0, total.requests - part.requests),
        cached_prompt_tokens=max(0, total.cached_prompt_tokens - part.cached_prompt_tokens),
    )


def prompt_digest(messages: Sequence[Mapping[str, Any]]) -> str:
    """A short digest of chat messages: how a failed paper's row finds its reason."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(f"{message.get('role')}\0{message.get('content')}\1".encode())
    return digest.hexdigest()


def endpoint_name(base_url: str | None) -> str:
    """The endpoint without credentials or query (a state file must hold no secret)."""
    if not base_url:
        return "https://api.openai.com/v1"
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path.rstrip("/"), "", ""))
