"""One ``POST /chat/completions`` as the ``openai`` SDK sends it, without its per-request work.

``AsyncOpenAI.post`` spends about 0.85 ms of CPU per request on work that is
the same for every request of a client: it copies its options twice, merges
headers, query and URL, and builds the answer field by field
(``construct_type``). Measured over a stub transport: 1.05 ms per request
through the SDK, 0.20 ms here; a batch on two cores is CPU-bound, so that is
throughput.

Here the URL, headers and timeouts are the ones the SDK builds for the
client, built once; each request adds its body, serialised as the SDK does,
and the cookies the server has set so far, as the SDK's client adds them.
What comes back is the SDK's wherever it matters:

- a failure to send is ``APITimeoutError`` / ``APIConnectionError``, an error
  status the SDK's own ``APIStatusError`` subclass, made by the SDK;
- a 2xx JSON answer that is a well-formed ``ChatCompletion`` (strict, so no
  value is coerced) is validated in one pydantic-core call, which gives the
  same object the SDK's ``construct`` would; anything else (another content
  type, a body that does not parse, an unexpected shape) goes through the
  SDK's own response handling.

The SDK sends a client's first request itself (it finds the platform its
headers name then), and every request while its debug log is on (its log
lines stay as they were) or when the client authenticates in a way this
module does not know (an API-key provider, a provider runtime, workload
identity).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from openai._models import FinalRequestOptions, add_request_id
from openai._utils._json import openapi_dumps
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

__all__ = ["ChatPost"]

_PATH = "/chat/completions"
_OPTIONS: Any = {"security": {"bearer_auth": True}}  # the SDK's own for this route
_SDK_LOG = logging.getLogger("openai")


@dataclass(frozen=True)
class _Template:
    """What every request of one client shares (see :func:`_template`)."""

    url: httpx2.URL
    # The API key is among them: a template shown in a log or a traceback's locals
    # must not show it.
    headers: list[tuple[bytes, bytes]] = field(repr=False)
    extensions: dict[str, Any]
    options: FinalRequestOptions


class ChatPost:
    """``await post(body)``: the ``ChatCompletion`` the SDK's ``client.post`` would return.

    Raises what it would raise. ``client`` must have been made for this event loop.
    """

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self._client = client
        self._template: _Template | None = None
        self._sdk_only = not _plain_client(client)

    async def close(self) -> None:
        """Close the client (and its connections)."""
        await self._client.close()

    async def __call__(self, body: dict[str, Any]) -> ChatCompletion:
        template = self._template
        if template is None or _SDK_LOG.isEnabledFor(logging.DEBUG):
            return await self._through_sdk(body)
        request = httpx2.Request(
            "POST",
            template.url,
            headers=template.headers,
            content=openapi_dumps(body),
            extensions=dict(template.extensions),
        )
        client = self._client
        cookies = client._client.cookies
        if cookies:  # what the server set so far (a load balancer's sticky session)
            cookies.set_cookie_header(request)
        # The SDK's own mapping of failures (openai._base_client.AsyncAPIClient.request).
        try:
            response = await client._client.send(request)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except openai.OpenAIError:
            raise
        except Exception as exc:
            raise openai.APIConnectionError(request=request) from exc
        try:
            response.raise_for_status()
        except httpx2.HTTPStatusError:
            if not response.is_closed:
                await response.aread()
            raise client._make_status_error_from_response(response) from None
        if response.headers.get("content-type", "*").split(";")[0].endswith("json"):
            try:
                answer = ChatCompletion.model_validate_json(response.content, strict=True)
            except ValidationError:
                pass  # not the usual shape: the SDK decides what it is
            else:
                add_request_id(answer, response.headers.get("x-request-id"))
                return answer
        parsed: ChatCompletion = await client._process_response(
            cast_to=ChatCompletion,
            options=template.options,
            response=response,
            stream=False,
            stream_cls=None,
        )
        return parsed

    async def _through_sdk(self, body: dict[str, Any]) -> ChatCompletion:
        try:
            answer: ChatCompletion = await self._client.post(
                _PATH, body=body, cast_to=ChatCompletion, options=_OPTIONS
            )
            return answer
        finally:
            # After the SDK's first request: it has found the platform its headers name.
            if self._template is None and not self._sdk_only:
                try:
                    self._template = _template(self._client)
                except Exception:  # an SDK that builds requests otherwise: it sends them all
                    self._sdk_only = True


def _plain_client(client: openai.AsyncOpenAI) -> bool:
    """True when ``client`` sends its API key as a fixed bearer header and builds answers
    without validating them (the SDK's default)."""
    return (
        getattr(client, "_provider_runtime", None) is None
        and getattr(client, "_api_key_provider", None) is None
        and getattr(client, "_workload_identity_auth", None) is None
        and client.custom_auth is None
        and not client._strict_response_validation
    )


def _template(client: openai.AsyncOpenAI) -> _Template | None:
    """The request the SDK builds for this route, minus its body; None if it cannot tell."""
    if getattr(client, "_platform", None) is None:
        return None  # the SDK has not found it yet: its headers would differ
    options = FinalRequestOptions.construct(method="post", url=_PATH, json_data={}, **_OPTIONS)
    request = client._build_request(options)
    # Set per request: the body's length, and the cookies the server has set by then.
    per_request = (b"content-length", b"cookie")
    headers = [(k, v) for k, v in request.headers.raw if k.lower() not in per_request]
    return _Template(request.url, headers, dict(request.extensions), options)
