"""Any OpenAI-compatible chat-completions endpoint, through ``openai`` + ``instructor``.

Structured output is asked for in the settings' ``mode`` through instructor's
handlers (``response_format`` with the rubric's JSON schema, a forced tool
call, or JSON mode); :mod:`scorer.backends._modes` owns which, and ``auto``
finds the one the endpoint accepts.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import openai
from instructor import OpenAISchema
from instructor.v2.core.errors import IncompleteOutputException, ResponseParsingError
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from scorer._errors import (
    BackendError,
    FatalBackendError,
    InvalidOutputError,
    UnsupportedMethodError,
    redact,
)
from scorer._models import Usage
from scorer._settings import Settings
from scorer.backends._base import Completion, FirstToken, Messages
from scorer.backends._chat_post import ChatPost
from scorer.backends._modes import JSON_SCHEMA, AnswerFormat, ModeChoice, endpoint_name
from scorer.backends._ratelimit import Clock, RequestGate, estimate_tokens
from scorer.backends._retry import Sleep, to_backend_error, with_retries
from scorer.backends._stop import raise_if_stopped
from scorer.backends._transport import DEFAULT_CONNECTIONS, ClientPerLoop, http_client

__all__ = ["OpenAICompatBackend"]

_NO_KEY = "not-needed"  # local servers (vLLM, Ollama, llama.cpp) take any key


@dataclass
class _Ledger:
    """What one ``complete()`` call spent, across retries and re-asks."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cached_prompt_tokens: int = 0

    def usage(self) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            requests=self.requests,
            cached_prompt_tokens=self.cached_prompt_tokens,
        )

    def add(self, response: ChatCompletion) -> None:
        """Count the tokens ``response`` reports (cached prompt tokens apart)."""
        usage = response.usage
        if usage is None:
            return
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        details = usage.prompt_tokens_details
        if details is not None and details.cached_tokens:
            self.cached_prompt_tokens += details.cached_tokens


# What instructor itself re-asks on: the answer is not valid JSON of the schema.
_INVALID_ANSWER = (ValidationError, json.JSONDecodeError, ResponseParsingError)


class OpenAICompatBackend:
    """Scores through an OpenAI-compatible endpoint.

    One ``AsyncOpenAI`` client per event loop (an HTTP connection pool cannot
    cross loops). Transport retries are tenacity's, per HTTP request; instructor
    wraps those requests and re-asks ``settings.reasks`` times on invalid answers.
    ``sleep`` and ``clock`` are the time that retries and rate limits wait on
    (tests inject fake ones).
    """

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        settings: Settings,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        extra_body: Mapping[str, Any] | None = None,
        rate_gate: RequestGate | None = None,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        """``extra_body``: fields added to every request (e.g. llama.cpp's ``id_slot``);
        ``rate_gate``: the rate limits to share with other backends (default: its own);
        ``connections``: the HTTP pool's size, at least the requests sent at once."""
        self._base_url = base_url
        self._api_key = api_key or _NO_KEY
        self._model = model
        self._settings = settings
        self._sleep = sleep
        self._clients = ClientPerLoop(self._new_client)
        limits = settings.limits
        if rate_gate is None and (limits.rpm or limits.tpm):
            # Retry waits and rate-limit waits take the same injected time.
            rate_gate = RequestGate(limits, clock=clock, sleep=sleep)
        self._gate = rate_gate
        self._sampling = settings.sampling.as_request()
        self._extra_body = dict(extra_body or {})
        # Which answer format this endpoint and model accept, found once (see _modes).
        self._mode = ModeChoice(
            settings.structured_mode,
            endpoint=endpoint_name(base_url),
            model=model,
            # The embedded llama.cpp takes json_schema: its papers need not wait for a verdict.
            probe_wait=0.0 if settings.uses_embedded else settings.probe_wait,
        )
        self._connections = connections

    @property
    def model_id(self) -> str:
        return self._model

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatBackend(model={self._model!r}, base_url={self._base_url!r})"

    def _new_client(self) -> ChatPost:
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._base_url,
            timeout=self._settings.timeout,
            max_retries=0,  # tenacity owns transport retries
            # aiohttp or httpx under the SDK, closed with it (see _transport).
            http_client=http_client(self._settings.transport, connections=self._connections),
        )
        return ChatPost(client)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def complete(
        self,
        messages: Messages,
        response_model: type[BaseModel],
        *,
        sampling: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Ask, validate, and re-ask ``settings.reasks`` times if the answer is invalid.

        The answer is asked for in the format the settings' mode picks (see
        :mod:`scorer.backends._modes`); ``auto`` may first spend one request
        that the endpoint refuses, counted in this paper's usage.
        """
        ledger = _Ledger()
        prepared = _prepared(response_model)
        body = self._body(messages, sampling)

        async def attempt(answer: AnswerFormat) -> Completion:
            model, kwargs = answer.request(prepared, body)
            response = await self._request(ledger, kwargs)
            return await self._validated(answer, ledger, model, kwargs, response)

        completion: Completion = await self._mode.ask(attempt)
        return completion

    async def complete_answered(
        self, model: type[BaseModel], kwargs: dict[str, Any], response: ChatCompletion
    ) -> Completion:
        """Validate ``response``, an answer to ``kwargs`` got elsewhere (the Batch API),
        exactly as :meth:`complete` validates its own; an invalid one is re-asked
        here, online, ``settings.reasks`` times. ``model`` and ``kwargs`` come from
        :meth:`chat_request`; the usage returned includes ``response``'s."""
        ledger = _Ledger(requests=1)
        ledger.add(response)
        return await self._validated(JSON_SCHEMA, ledger, model, kwargs, response)

    async def _validated(
        self,
        answer: AnswerFormat,
        ledger: _Ledger,
        model: type[BaseModel],
        kwargs: dict[str, Any],
        response: ChatCompletion,
    ) -> Completion:
        """Parse ``response`` in ``answer``'s format; re-ask while attempts are left and
        the answer is invalid. instructor's handlers parse and word the re-ask; the loop
        is ours (instructor's own loop costs about 0.5 ms of CPU per request, a quarter
        of a batch's CPU, mostly in debug logging it formats even when it is off)."""
        attempts = 1 + self._settings.reasks
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                response = await self._request(ledger, kwargs)
            try:
                return Completion(answer=answer.parse(response, model), usage=ledger.usage())
            except IncompleteOutputException as exc:
                raise InvalidOutputError(
                    "the model's answer was cut off at max_tokens "
                    f"({self._settings.sampling.max_tokens}); raise max_tokens or shorten "
                    "the prompt",
                    usage=ledger.usage(),
                    attempts=ledger.requests,
                ) from exc
            except _INVALID_ANSWER as exc:
                if attempt == attempts:
                    detail = redact(str(exc), self._api_key).splitlines()[0]
                    raise InvalidOutputError(
                        f"the model's answer failed validation after {attempt} attempt(s): "
                        f"{detail}",
                        usage=ledger.usage(),
                        attempts=ledger.requests,
                    ) from exc
                kwargs = answer.reask(kwargs, response, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def chat_request(
        self,
        messages: Messages,
        response_model: type[BaseModel],
        *,
        sampling: Mapping[str, Any] | None = None,
    ) -> tuple[type[BaseModel], dict[str, Any]]:
        """The body of a ``json_schema`` chat-completions request for ``messages``, and
        the model its answer is parsed with: what :meth:`complete` sends first on an
        endpoint that takes ``response_format`` (the Batch API route sends the same)."""
        return JSON_SCHEMA.request(_prepared(response_model), self._body(messages, sampling))

    def _body(self, messages: Messages, sampling: Mapping[str, Any] | None) -> dict[str, Any]:
        """The request body every answer format starts from."""
        return {
            "model": self._model,
            "messages": list(messages),
            **self._sampling,
            **(sampling or {}),
            **self._extra_body,
        }

    async def first_token(self, messages: Messages, *, top: int = 20) -> FirstToken:
        """The ``top`` most likely first answer tokens and their log-probabilities."""
        ledger = _Ledger()
        kwargs: dict[str, Any] = {
            "model": self._model,
            "messages": list(messages),
            **self._sampling,
            "temperature": 0.0,
            "max_tokens": 1,
            "logprobs": True,
            "top_logprobs": top,
            **self._extra_body,
        }
        response = await self._request(ledger, kwargs)
        choice = response.choices[0] if response.choices else None
        content = choice.logprobs.content if choice and choice.logprobs else None
        if not content:
            raise UnsupportedMethodError(
                f"the endpoint returned no log-probabilities for model {self._model!r}; "
                "the logprob method needs one that does (llama.cpp's server, OpenAI's "
                "non-reasoning models); use --method generate",
                status_code=200,
                usage=ledger.usage(),
            )
        first = content[0]
        alternatives = {alt.token: alt.logprob for alt in first.top_logprobs}
        alternatives.setdefault(first.token, first.logprob)
        return FirstToken(logprobs=alternatives, usage=ledger.usage())

    async def _request(self, ledger: _Ledger, kwargs: dict[str, Any]) -> ChatCompletion:
        """One chat completion, with transport retries.

        No attempt is sent once the batch it belongs to has stopped at a fatal
        error (see :mod:`scorer.backends._stop`): that error is raised instead.
        """
        post = await self._clients.get()
        attempts = 0

        async def send() -> ChatCompletion:
            nonlocal attempts
            if self._gate is not None:  # every attempt counts against the limits
                tokens = estimate_tokens(kwargs["messages"], kwargs.get("max_tokens", 0))
                await self._gate.admit(tokens)
            raise_if_stopped()
            attempts += 1
            ledger.requests += 1
            # Not chat.completions.create: it re-walks every message through the
            # SDK's TypedDict transform (about 1.5 ms of CPU per request) to turn
            # plain dicts into the same plain dicts; and not client.post either
            # (0.85 ms more, see _chat_post).
            return await post(kwargs)

        try:
            response = await with_retries(self._settings.retry, self._sleep, send)
        except FatalBackendError as exc:  # the batch stopped before this attempt (a copy)
            exc.usage = ledger.usage()  # what this paper spent, not the paper that stopped it
            raise
        except Exception as exc:
            error = to_backend_error(exc, attempts=attempts)
            error.usage = ledger.usage()  # what the paper cost, re-asks included
            raise self._redacted(error) from exc
        ledger.add(response)
        return response

    def _redacted(self, error: BackendError) -> BackendError:
        error.args = (redact(str(error), self._api_key),)
        if error.body is not None:
            error.body = _redact_json(error.body, self._api_key)
        return error


@functools.lru_cache(maxsize=256)  # bounded: a server sees many rubrics
def _prepared(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` as an instructor ``OpenAISchema`` whose JSON schema is built once.

    instructor wraps a plain model with ``create_model`` and regenerates its
    JSON schema on every request (about 1.2 ms of CPU each); a model that is
    already an ``OpenAISchema`` is used as is. Response models are built once
    per rubric, so this cache stays small.
    """
    # Kept as JSON text: each request gets a fresh copy (callers may change theirs),
    # and parsing it back costs a third of copy.deepcopy (9 against 25 us).
    schema = json.dumps(model.model_json_schema())

    class Prepared(model, OpenAISchema):  # type: ignore[valid-type,misc]
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            if args or kwargs:
                return super().model_json_schema(*args, **kwargs)
            copied: dict[str, Any] = json.loads(schema)
            return copied

    Prepared.__name__ = model.__name__
    Prepared.__qualname__ = model.__qualname__
    return Prepared


def _redact_json(value: object, secret: str) -> object:
    """``value`` with every string in it redacted.

    Not by redacting its JSON text: a short key such as ``1234`` or ``true``
    would also match numbers and literals and leave text that does not parse.
    """
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {redact(str(k), secret): _redact_json(v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_json(item, secret) for item in value]
    return value
