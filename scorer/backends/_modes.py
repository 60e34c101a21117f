"""How an endpoint is asked for a structured answer: the ``mode`` setting.

Each mode is a list of answer formats tried in order; a later format is only
tried when the endpoint *refuses* the one before (an error that names the
feature, see :func:`is_refusal_of`), never when an answer fails validation:

- ``json_schema``: ``response_format`` with the answer's JSON schema
  (instructor ``Mode.JSON_SCHEMA``).
- ``tools``: one forced function call whose parameters are the schema
  (instructor ``Mode.TOOLS``).
- ``json``: ``response_format: {"type": "json_object"}`` with the schema in the
  system message (``Mode.JSON``); where the endpoint refuses that, the schema
  in the system message and a fenced JSON block asked for in the text
  (``Mode.MD_JSON``), which any chat endpoint can serve.
- ``auto``: ``json_schema``, then ``tools``, then ``json``.

Answers written as text are read leniently in every mode: the last JSON
object in the text, so a fenced block or prose around it still validates
against the same answer model. Servers answer that way where they do not
enforce the format: vLLM 0.6.3 fenced its json_schema answers (vllm#9900), a
LiteLLM proxy with ``drop_params`` drops ``response_format`` (litellm#3724),
Ollama Cloud accepts json_schema without enforcing it. A tools answer without
a tool call is read from its text the same way, ``{"name": ..., "arguments":
{...}}`` unwrapped (what a server without a tool-call parser passes through).

:class:`ModeChoice` remembers, per backend (one endpoint and model), which
format the endpoint accepted, for as long as the backend (its ``Scorer``)
lives: a batch, or a ``scorer serve`` process, probes once, not once per
paper. An explicit mode the endpoint refused fails every later paper at
once, without a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import urllib.parse
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from instructor import Mode
from instructor.v2 import Provider, mode_registry
from instructor.v2.core.errors import ResponseParsingError
from instructor.v2.core.json import extract_json_from_codeblock
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from scorer._errors import BackendError, FatalBackendError, InvalidOutputError
from scorer._settings import StructuredMode

__all__ = ["AnswerFormat", "ModeChoice", "endpoint_name", "formats_for", "is_refusal_of"]

_log = logging.getLogger(__name__)

Request = dict[str, Any]
T = TypeVar("T")
Attempt = Callable[["AnswerFormat"], Awaitable[T]]
"""One paper's request and re-asks in the given answer format."""


@dataclass(frozen=True)
class AnswerFormat:
    """One way of asking for the answer, built on one instructor mode's handlers."""

    name: str
    mode: Mode
    # What an endpoint's refusal of this format mentions (None: it asks for nothing special).
    refused_if: re.Pattern[str] | None
    # The ``mode`` setting this format belongs to (named in errors).
    setting: StructuredMode

    def request(self, model: type[BaseModel], kwargs: Request) -> tuple[type[BaseModel], Request]:
        """The request body asking ``model``'s schema in this format."""
        prepared, out = _handlers(self.mode).request_handler(model, kwargs)
        return prepared, out

    def parse(self, response: ChatCompletion, model: type[BaseModel]) -> BaseModel:
        """The validated answer in ``response`` (raises what instructor's parsers raise)."""
        if self.mode is Mode.TOOLS:
            try:
                return _parse(Mode.TOOLS, response, model)
            except ResponseParsingError:
                if not _text_of(response):
                    raise
                # No tool call, but text: read the arguments from it.
                # (instructor's parser has already refused an answer cut at max_tokens)
                return model.model_validate_json(_unwrapped_call(_text_of(response)))
        try:  # the whole text is the JSON: what an endpoint that honours the format sends
            return _parse(Mode.JSON_SCHEMA, response, model)
        except ValidationError as exc:
            if not _not_json(exc):
                raise
        # Prose or a fence around it: the last JSON object in the text (about 0.2 ms
        # more CPU, so only when needed).
        return _parse(Mode.MD_JSON, response, model)

    def reask(self, kwargs: Request, response: ChatCompletion, exc: Exception) -> Request:
        """``kwargs`` with the invalid answer and what was wrong with it appended."""
        out: Request = _handlers(self.mode).reask_handler(
            kwargs=kwargs, response=response, exception=exc
        )
        return out


_RESPONSE_FORMAT = r"response_format|json_schema|structured output|guided"
JSON_SCHEMA = AnswerFormat(
    "json_schema", Mode.JSON_SCHEMA, re.compile(_RESPONSE_FORMAT, re.I), "json_schema"
)
TOOLS = AnswerFormat(
    "tools", Mode.TOOLS, re.compile(r"\btools?\b|tool_choice|tool use|function", re.I), "tools"
)
JSON_OBJECT = AnswerFormat(
    "json_object", Mode.JSON, re.compile(r"response_format|json_object|json mode", re.I), "json"
)
JSON_IN_TEXT = AnswerFormat("json_in_text", Mode.MD_JSON, None, "json")

_FORMATS: dict[str, tuple[AnswerFormat, ...]] = {
    "json_schema": (JSON_SCHEMA,),
    "tools": (TOOLS,),
    "json": (JSON_OBJECT, JSON_IN_TEXT),
    "auto": (JSON_SCHEMA, TOOLS, JSON_OBJECT, JSON_IN_TEXT),
}


def formats_for(mode: StructuredMode) -> tuple[AnswerFormat, ...]:
    """The answer formats ``mode`` tries, in order."""
    return _FORMATS[mode]


def is_refusal_of(error: BackendError, answer: AnswerFormat) -> bool:
    """True when ``error`` is the endpoint saying it cannot serve ``answer`` at all.

    Only errors every request would get count (:class:`FatalBackendError`):
    a 400/422 (OpenAI, vLLM, Azure, Ollama, LiteLLM), a 404 (OpenRouter: "No
    endpoints found that support tool use") or a 500 (llama.cpp: "tools param
    requires --jinja flag") whose message or ``param`` names the feature.
    """
    if answer.refused_if is None or not isinstance(error, FatalBackendError):
        return False
    if error.status_code not in (400, 404, 422, 500, 501):
        return False
    return bool(answer.refused_if.search(_error_text(error)))


def _error_text(error: BackendError) -> str:
    body = error.body
    inner = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(inner, dict):
        parts = [inner.get("message"), inner.get("param"), inner.get("code")]
        return " ".join(str(part) for part in parts if part)
    return str(inner) if inner is not None else str(error)


@dataclass
class _Probe:
    """The request finding out which format an endpoint accepts, as others see it."""

    done: asyncio.Event
    fatal: FatalBackendError | None = None  # it ended in an error every request gets


class ModeChoice:
    """Which answer format one endpoint and model accept, found once per run.

    Until the endpoint has answered a format, the first request tries it and
    the others wait for its verdict, but at most ``probe_wait`` seconds
    (``None``: for as long as it takes): a refusal comes back at once, while
    an answer takes the model's time, which the other papers should not wait
    for. A request that goes ahead and is refused moves on by itself. A
    refusal moves on to the next format; a refusal of the last one (an
    explicit ``json_schema`` or ``tools``) fails this paper and every later
    one without a request. A paper that fails for its own reasons leaves the
    search where it was, for the next paper to go on with.
    """

    def __init__(
        self,
        mode: StructuredMode,
        *,
        endpoint: str,
        model: str,
        probe_wait: float | None = None,
    ) -> None:
        self._formats = formats_for(mode)
        self._at = 0  # the first format not refused yet
        self._settled = False  # the endpoint has answered the current format
        self._endpoint = endpoint
        self._model = model
        self._probe_wait = probe_wait
        # The probe in progress, per event loop (an asyncio.Event cannot cross loops).
        self._probes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Probe]
        self._probes = weakref.WeakKeyDictionary()
        self._refused: FatalBackendError | None = None  # the endpoint refused the last format

    @property
    def current(self) -> AnswerFormat:
        return self._formats[self._at]

    async def ask(self, attempt: Attempt[T]) -> T:
        """``await attempt(format)`` with the format this endpoint accepts, finding it if needed."""
        if self._refused is not None:
            # The endpoint will not change its mind within a run: no request for it.
            raise copy.copy(self._refused)
        if self._settled:
            return await attempt(self.current)
        loop = asyncio.get_running_loop()
        probe = self._probes.get(loop)
        if probe is None:  # this request finds out
            probe = self._probes[loop] = _Probe(asyncio.Event())
            try:
                return await self._find(attempt, probe)
            finally:
                probe.done.set()
                if self._probes.get(loop) is probe:
                    del self._probes[loop]
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
        # lands as the probe finishes (cpython gh-86296), so a paper of a batch closed at
        # that moment would still send its request, and retry it, after the close.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._probe_wait):
                await probe.done.wait()
        # One more turn of the loop before sending: what the verdict's own turn set off
        # (the first answer handed out, a consumer closing the batch on it) cancels this
        # paper before, not after, its request goes out. Sending may not yield at all
        # on a kept-alive connection.
        await asyncio.sleep(0)
        if probe.fatal is not None:
            # It hit an error every request gets (a bad key, no quota): not one more request.
            raise copy.copy(probe.fatal)
        return await self._find(attempt, None)

    async def _find(self, attempt: Attempt[T], probe: _Probe | None) -> T:
        """Try the current format, moving on while the endpoint refuses it."""
        while True:
            tried = self._at
            answer = self._formats[tried]
            try:
                result = await attempt(answer)
            except BackendError as exc:
                if is_refusal_of(exc, answer):
                    if tried + 1 < len(self._formats):
                        # Another request may have moved on meanwhile: never skip a format.
                        self._at = max(self._at, tried + 1)
                        continue
                    self._refused = _unsupported(exc, answer, self._model)
                    if probe is not None:
                        probe.fatal = self._refused
                    raise copy.copy(self._refused) from exc
                if isinstance(exc, InvalidOutputError):
                    self._settle()  # the endpoint answered in this format
                elif isinstance(exc, FatalBackendError) and probe is not None:
                    probe.fatal = exc
                raise
            self._settle()
            return result

    def _settle(self) -> None:
        if self._settled:
            return
        self._settled = True
        chosen = self.current
        refused = [f.name for f in self._formats[: self._at]]
        if refused:
            _log.warning(
                "structured output: %s refused %s for model %s; using %s for the rest of this run",
                self._endpoint,
                ", ".join(refused),
                self._model,
                chosen.name,
            )
        else:
            _log.info(
                "structured output: %s accepts %s for model %s",
                self._endpoint,
                chosen.name,
                self._model,
            )


def _unsupported(exc: BackendError, answer: AnswerFormat, model: str) -> FatalBackendError:
    others = ", ".join(f"--mode {m}" for m in ("auto", "tools", "json") if m != answer.setting)
    error = FatalBackendError(
        f"the endpoint does not support {answer.name} structured output for model {model!r} "
        f"({exc}); try {others}, or SCORER_MODE",
        status_code=exc.status_code,
        body=exc.body,
        attempts=exc.attempts,
        usage=exc.usage,
    )
    return error


def _handlers(mode: Mode) -> Any:
    return mode_registry.get_handlers(Provider.OPENAI, mode)


def _parse(mode: Mode, response: ChatCompletion, model: type[BaseModel]) -> BaseModel:
    answer: BaseModel = _handlers(mode).response_parser(
        response=response,
        response_model=model,
        validation_context=None,
        strict=None,
        stream=False,
        is_async=True,
    )
    return answer


def _not_json(exc: ValidationError) -> bool:
    """True when the text did not parse as JSON at all (rather than failing the model)."""
    return any(error["type"] == "json_invalid" for error in exc.errors())


def _text_of(response: ChatCompletion) -> str:
    choices = response.choices
    return (choices[0].message.content or "") if choices else ""


def _unwrapped_call(text: str) -> str:
    """The arguments of a tool call written as text (``{"name": ..., "arguments": {...}}``)."""
    found = extract_json_from_codeblock(text)
    try:
        value = json.loads(found)
    except ValueError:
        return found
    if isinstance(value, dict) and set(value) <= {"name", "arguments", "parameters"}:
        inner = value.get("arguments", value.get("parameters"))
        if isinstance(inner, dict):
            return json.dumps(inner)
        if isinstance(inner, str):
            return inner
    return found


def endpoint_name(base_url: str | None) -> str:
    """``base_url`` for a log line: no user, password or query (never a secret)."""
    if base_url is None:
        return "api.openai.com"
    parts = urllib.parse.urlsplit(base_url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: the address is shown without it
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))
