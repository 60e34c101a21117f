"""The answers of the fake server: scripted :class:`Reply` objects and default completions.

Over 300 lines: one :class:`Reply` constructor per fault the fake can play,
each documented, and the default completions they replace.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from scorer.testing._schema_fill import fill_schema

MODEL_ID = "fake-model"
JSON_TYPE = "application/json"
_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> str:
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


@dataclass(frozen=True)
class Reply:
    """One scripted answer; see the classmethods for realistic OpenAI error replies."""

    status: int = 200
    content: str | None = None  # assistant content for a 200; None = the schema-filled content
    json_override: dict[str, object] | None = None  # merged over the schema-filled object
    body: str | bytes | None = None  # raw response body, verbatim; overrides everything
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # extra seconds before answering (on top of the server latency)
    hang: bool = False  # never answer (until the client disconnects or the server stops)
    # Answer only once this is set (by the test, from any thread): a gate for one
    # request where hold() stops them all, and no wall-clock delay to outlast.
    gate: threading.Event | None = None
    finish_reason: str = "stop"
    # First-token alternatives (token -> log-probability) when the request asks for
    # logprobs; None = derived from the paper text. ignore_logprobs=True answers
    # without them, like an endpoint that does not support them.
    logprobs: dict[str, float] | None = None
    ignore_logprobs: bool = False

    @classmethod
    def rate_limited(
        cls,
        retry_after: float | None = 2,
        retry_after_ms: float | None = None,
        code: str = "rate_limit_exceeded",
    ) -> Reply:
        wait = retry_after if retry_after is not None else (retry_after_ms or 1000) / 1000
        message = (
            "Rate limit reached for requests per min (RPM) in organization org-fake: "
            f"Limit 500, Used 500, Requested 1. Please try again in {wait:g}s. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        headers = {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-limit-tokens": "200000",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-remaining-tokens": "199000",
            "x-ratelimit-reset-requests": f"{wait:g}s",
            "x-ratelimit-reset-tokens": "300ms",
        }
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        return cls(status=429, body=error_body(message, "tokens", code), headers=headers)

    @classmethod
    def insufficient_quota(cls) -> Reply:
        message = "You exceeded your current quota, please check your plan and billing details."
        return cls(status=429, body=error_body(message, "insufficient_quota", "insufficient_quota"))

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status=status, body=error_body(_SERVER_ERROR, "server_error"))

    @classmethod
    def unauthorized(cls) -> Reply:
        message = (
            "Incorrect API key provided: sk-...xxxx. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return cls(status=401, body=error_body(message, "invalid_request_error", "invalid_api_key"))

    @classmethod
    def bad_request(
        cls, message: str = "Invalid request.", param: str | None = None, code: str | None = None
    ) -> Reply:
        return cls(status=400, body=error_body(message, "invalid_request_error", code, param))

    @classmethod
    def context_length_exceeded(cls, limit: int = 128000) -> Reply:
        """OpenAI's 400 for a prompt longer than the model's context window."""
        message = (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {limit + 4207} tokens. Please reduce the length of the messages."
        )
        body = error_body(message, "invalid_request_error", "context_length_exceeded", "messages")
        return cls(status=400, body=body)

    @classmethod
    def content_filtered(cls) -> Reply:
        """Azure OpenAI's 400 for a prompt its content filter blocked."""
        message = (
            "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy. Please modify your prompt and retry. To learn more about our "
            "content filtering policies please read our documentation: "
            "https://go.microsoft.com/fwlink/?linkid=2198766"
        )
        inner = {
            "message": message,
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": False, "severity": "safe"},
                    "self_harm": {"filtered": False, "severity": "safe"},
                    "sexual": {"filtered": False, "severity": "safe"},
                    "violence": {"filtered": True, "severity": "high"},
                },
            },
        }
        return cls(status=400, body=json.dumps({"error": inner}))

    @classmethod
    def unsupported_response_format(cls) -> Reply:
        """OpenAI's 400 for a model that cannot do structured output: every request gets it."""
        message = (
            "Invalid parameter: 'response_format' of type 'json_schema' is not supported "
            "with this model."
        )
        body = error_body(message, "invalid_request_error", None, "response_format")
        return cls(status=400, body=body)

    @classmethod
    def not_found_model(cls, model: str = "gpt-fake") -> Reply:
        message = f"The model `{model}` does not exist or you do not have access to it."
        return cls(status=404, body=error_body(message, "invalid_request_error", "model_not_found"))

    @classmethod
    def malformed(cls) -> Reply:
        return cls(body='{"id": "chatcmpl-x", "choices": [', headers={"content-type": JSON_TYPE})

    @classmethod
    def out_of_range(cls, field: str = "relevance", value: object = 150) -> Reply:
        return cls(json_override={field: value})

    @classmethod
    def hanging(cls) -> Reply:
        return cls(hang=True)


_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to access this resource.", "invalid_request_error", None),
    404: ("Not found.", "invalid_request_error", None),
    409: ("Conflict.", "invalid_request_error", None),
    422: ("Unprocessable entity.", "invalid_request_error", None),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
}


def default_error_body(status: int) -> str:
    """The error body for a scripted ``Reply(status=...)`` without an explicit body."""
    if status >= 500:
        return error_body(_SERVER_ERROR, "server_error")
    generic = (f"HTTP error {status}.", "invalid_request_error", None)
    message, type_, code = _DEFAULT_ERRORS.get(status, generic)
    return error_body(message, type_, code)


def _text(content: Any) -> str:
    """The text of a message's content (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _words(text: str) -> int:
    return max(1, len(text.split()))


def completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object answering ``body`` (the request JSON)."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"] or messages
    seed = _text(users[-1].get("content")) if users else ""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    tool = _chosen_tool(body) if reply.content is None else None
    if tool is not None:
        args = _fill(tool.get("parameters") or {}, seed, reply.json_override)
        name = tool.get("name", "tool")
        call = {"name": name, "arguments": json.dumps(args)}
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        message["tool_calls"] = [{"id": call_id, "type": "function", "function": call}]
        out_text = call["arguments"]
    else:
        if message["content"] is None:
            message["content"] = _default_content(body, seed, reply)
        out_text = message["content"]
    logprobs = None
    if body.get("logprobs") and not reply.ignore_logprobs:
        logprobs = _logprobs(out_text, seed, reply, int(body.get("top_logprobs") or 0))
        if _is_yes_no(body):
            out_text = message["content"] = logprobs["content"][0]["token"]
    prompt_tokens = _words(" ".join(_text(m.get("content")) for m in messages))
    completion_tokens = _words(out_text)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or MODEL_ID,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason,
                "logprobs": logprobs,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _fill(schema: dict[str, Any], seed: str, override: dict[str, object] | None) -> Any:
    value = fill_schema(schema, seed)
    if override:
        value = {**(value if isinstance(value, dict) else {}), **override}
    return value


def _is_yes_no(body: dict[str, Any]) -> bool:
    """A one-token question without a response format: the logprob method's shape."""
    return body.get("max_tokens") == 1 and not body.get("response_format")


def p_yes(seed: str) -> float:
    """The fake model's P(yes) for a question about ``seed`` (the last user message)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return 0.05 + 0.9 * int.from_bytes(digest[:4], "big") / 2**32


def _logprobs(text: str, seed: str, reply: Reply, top: int) -> dict[str, Any]:
    """An OpenAI ``logprobs`` object: one entry per whitespace token of ``text``."""
    if reply.logprobs is not None:
        first = dict(reply.logprobs)
    elif _is_yes_no_text(text) or not text:
        p = p_yes(seed)
        first = {"Yes": math.log(0.9 * p), "No": math.log(0.9 * (1 - p)), "The": math.log(0.05)}
    else:
        first = {}
    tokens = text.split() or [""]
    ranked = sorted(first.items(), key=lambda kv: -kv[1])
    if ranked:
        tokens[0] = ranked[0][0]
    entries = []
    for i, token in enumerate(tokens):
        alternatives = ranked if i == 0 and ranked else [(token, -0.01)]
        entries.append(
            {
                "token": token,
                "logprob": alternatives[0][1],
                "bytes": list(token.encode()),
                "top_logprobs": [
                    {"token": t, "logprob": lp, "bytes": list(t.encode())}
                    for t, lp in alternatives[:top]
                ],
            }
        )
    return {"content": entries, "refusal": None}


def _is_yes_no_text(text: str) -> bool:
    return text.strip().lower() in ("yes", "no", "ok")


def _default_content(body: dict[str, Any], seed: str, reply: Reply) -> str:
    override = reply.json_override
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        return json.dumps(_fill(schema, seed, override))
    if (isinstance(fmt, dict) and fmt.get("type") == "json_object") or override:
        return json.dumps(override or {})
    return "ok"


def _chosen_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function the model "decides" to call: the forced one, else the first (unless "none")."""
    tools: list[dict[str, Any]] = [
        t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t
    ]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t.get("name") == wanted), tools[0])
    return tools[0]


async def sse_chunks(completion: dict[str, Any], body: dict[str, Any]) -> AsyncIterator[str]:
    """The completion as server-sent chunks (one content chunk, a finish chunk, maybe usage)."""
    choice = completion["choices"][0]
    delta = dict(choice["message"])
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(delta["tool_calls"])]
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    finish = {"index": 0, "delta": {}, "finish_reason": choice["finish_reason"], "logprobs": None}
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{**finish, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [finish]},
    ]
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n"
    yield "data: [DONE]\n\n"
