"""Which kind of endpoint the fake plays for structured output.

The default cooperates: it honours ``response_format`` (``json_schema`` and
``json_object``) and ``tools``, and a JSON schema given in the system message
(instructor's JSON modes) is answered like a model that read it: bare JSON in
JSON-object mode, else a fenced ```json block.

Other personalities refuse a feature the way real servers do (their error
bodies are copied from real answers), or only ever write text::

    fake.play(Personality.refusing("json_schema"))          # OpenAI, older models
    fake.play(Personality.refusing("tools"))                # Ollama, a model without tools
    fake.play(Personality.refusing("tools", replies={"tools": LLAMA_CPP_NO_JINJA}))
    fake.play(Personality.text_only())                      # ignores both, writes prose
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scorer.testing._replies import Reply, error_body
from scorer.testing._schema_fill import fill_schema

__all__ = [
    "AZURE_OLD_API_VERSION",
    "LLAMA_CPP_NO_JINJA",
    "OPENROUTER_NO_TOOLS",
    "Personality",
]

FEATURES = ("json_schema", "json_object", "tools")

# Azure OpenAI on an api-version before 2024-08-01-preview (no param, code "BadRequest").
AZURE_OLD_API_VERSION = Reply(
    status=400,
    body=json.dumps(
        {
            "error": {
                "code": "BadRequest",
                "message": "response_format value as json_schema is enabled only for api "
                "versions 2024-08-01-preview and later",
            }
        }
    ),
)
# llama.cpp's server started without --jinja: a 500, though no retry can help.
LLAMA_CPP_NO_JINJA = Reply(
    status=500,
    body=json.dumps(
        {
            "error": {
                "code": 500,
                "message": "tools param requires --jinja flag",
                "type": "server_error",
            }
        }
    ),
)
# OpenRouter when no provider of the model serves tools: a 404.
OPENROUTER_NO_TOOLS = Reply(
    status=404,
    body=json.dumps(
        {
            "error": {
                "message": "No endpoints found that support tool use. To learn more about "
                "provider routing, visit: https://openrouter.ai/docs/provider-routing",
                "code": 404,
            }
        }
    ),
)


def _default_refusal(feature: str, model: str) -> Reply:
    if feature == "tools":  # Ollama's answer for a model whose template has no tools
        body = error_body(f"{model} does not support tools", "api_error")
        return Reply(status=400, body=body)
    # OpenAI's answer for a model without this response_format type.
    message = (
        f"Invalid parameter: 'response_format' of type '{feature}' is not supported "
        "with this model."
    )
    return Reply(
        status=400, body=error_body(message, "invalid_request_error", None, "response_format")
    )


@dataclass(frozen=True)
class Personality:
    """How the fake treats ``response_format`` and ``tools`` (see the module docstring)."""

    refuses: frozenset[str] = frozenset()
    writes_text_only: bool = False
    replies: Mapping[str, Reply] = field(default_factory=dict)  # refusal per feature

    @classmethod
    def refusing(cls, *features: str, replies: Mapping[str, Reply] | None = None) -> Personality:
        """An endpoint that answers a request using any of ``features`` with an error.

        ``features``: ``json_schema``, ``json_object`` (the two ``response_format``
        types) and ``tools``. ``replies`` replaces the default error per feature
        (OpenAI's 400 for ``response_format``, Ollama's 400 for ``tools``).
        """
        unknown = set(features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown feature(s) {sorted(unknown)}; known: {FEATURES}")
        return cls(refuses=frozenset(features), replies=dict(replies or {}))

    @classmethod
    def text_only(cls) -> Personality:
        """An endpoint that ignores ``response_format`` and ``tools`` and answers in prose,
        with the JSON the request's schema asks for in a fenced block inside it."""
        return cls(writes_text_only=True)

    def refusal(self, body: dict[str, Any]) -> Reply | None:
        """The error this endpoint answers ``body`` with, if it refuses what it asks."""
        for feature in _features_of(body):
            if feature in self.refuses:
                default = _default_refusal(feature, str(body.get("model") or "fake-model"))
                return self.replies.get(feature, default)
        return None

    def heard(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request as this endpoint takes it (a text-only one drops what it ignores)."""
        if not self.writes_text_only:
            return body
        ignored = ("response_format", "tools", "tool_choice")
        return {k: v for k, v in body.items() if k not in ignored}

    def shaped(self, body: dict[str, Any], reply: Reply) -> Reply:
        """``reply`` with the content this endpoint writes, where the default would not do."""
        if reply.content is not None or reply.status >= 400 or reply.body is not None:
            return reply
        fmt = _response_format_type(body)
        if not self.writes_text_only and (fmt == "json_schema" or body.get("tools")):
            return reply  # the default completion fills the schema or calls the tool
        schema = _schema_asked(body) if self.writes_text_only else _schema_in_messages(body)
        if schema is None:
            return reply
        filled = json.dumps(_fill(schema, _seed(body), reply.json_override))
        if self.writes_text_only:
            content = (
                "Here is my assessment of the paper.\n\n"
                f"```json\n{filled}\n```\n\nLet me know if you need anything else."
            )
        elif fmt == "json_object":
            content = filled
        else:
            content = f"```json\n{filled}\n```"
        return replace(reply, content=content)


def _features_of(body: dict[str, Any]) -> list[str]:
    features = []
    fmt = _response_format_type(body)
    if fmt in ("json_schema", "json_object"):
        features.append(fmt)
    if body.get("tools"):
        features.append("tools")
    return features


def _response_format_type(body: dict[str, Any]) -> str | None:
    fmt = body.get("response_format")
    return str(fmt.get("type")) if isinstance(fmt, dict) else None


def _schema_asked(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a request asks for, however it asks: format, tool, or message."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return schema
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            parameters = tool["function"].get("parameters")
            if isinstance(parameters, dict):
                return parameters
    return _schema_in_messages(body)


def _schema_in_messages(body: dict[str, Any]) -> dict[str, Any] | None:
    """A JSON schema written into a system message (instructor's JSON and MD_JSON modes)."""
    decoder = json.JSONDecoder()
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") != "system":
            continue
        text = message.get("content")
        if not isinstance(text, str):
            continue
        start = text.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                value = None
            if isinstance(value, dict) and isinstance(value.get("properties"), dict):
                return value
            start = text.find("{", start + 1)
    return None


def _seed(body: dict[str, Any]) -> str:
    users = [
        m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"
    ]
    content = users[-1].get("content") if users else ""
    return content if isinstance(content, str) else json.dumps(content)


def _fill(schema: dict[str, Any], seed: str, override: dict[str, object] | None) -> Any:
    value = fill_schema(schema, seed)
    if override:
        value = {**(value if isinstance(value, dict) else {}), **override}
    return value
