"""The HTTP client under the ``openai`` SDK: aiohttp (the default) or httpx's own transport.

Both are an ``httpx2.AsyncClient`` with the SDK's defaults, so the SDK sees
the same requests, responses and exceptions; only what moves the bytes
differs. aiohttp costs about a third less CPU per request than httpx's
httpcore/anyio stack (1.7 against 2.6 ms measured against the fake server,
see ``bench/README.md``), and a batch on two cores is CPU-bound there.

Not the SDK's own ``openai.DefaultAioHttpClient``: its transport maps any
``aiohttp.ClientConnectionError`` to a *connect timeout*, so a refused
connection or a server that drops the connection reads as "request timed
out", not "cannot connect", and the engine would stop a batch for the wrong
reason with the wrong hint. :class:`AiohttpTransport` keeps httpx's meaning:
only timeouts are timeouts.

The pool holds ``connections`` connections and keeps all of them alive
between requests; the engine never has more requests in flight than its
concurrency, which is what the pool is sized to.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import ssl
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, Generic, Literal, Protocol, TypeVar

import httpx2
import openai

from scorer._errors import ConfigError
from scorer._settings import AIOHTTP_MISSING, TransportKind

__all__ = [
    "DEFAULT_CONNECTIONS",
    "AiohttpTransport",
    "ClientPerLoop",
    "http_client",
    "resolve_transport",
    "tls_context",
]


class _Closable(Protocol):
    async def close(self) -> None: ...


_Client = TypeVar("_Client", bound=_Closable)

DEFAULT_CONNECTIONS = 100
"""Connections kept when nothing says how many requests run at once (the SDK keeps 100)."""


def aiohttp_available() -> bool:
    """Whether aiohttp can be imported (``pip install 'openai[aiohttp]'``)."""
    return importlib.util.find_spec("aiohttp") is not None


def resolve_transport(kind: TransportKind) -> Literal["aiohttp", "httpx"]:
    """``auto``: aiohttp when it is installed, else httpx; an explicit aiohttp must be there."""
    if kind == "httpx":
        return "httpx"
    if aiohttp_available():
        return "aiohttp"
    if kind == "aiohttp":
        raise ConfigError(AIOHTTP_MISSING)
    return "httpx"


def http_client(
    kind: TransportKind, *, connections: int = DEFAULT_CONNECTIONS
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` for ``openai.AsyncOpenAI(http_client=...)``.

    With the SDK's defaults (redirects followed, its timeouts until a request
    sets its own), a pool of ``connections`` kept alive, moving bytes over
    aiohttp or httpx's own transport (see :func:`resolve_transport`). Build it
    on the event loop that will use it.
    """
    # Idle connections expire after httpx's default 5 s with either transport.
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    if resolve_transport(kind) == "httpx":
        return openai.DefaultAsyncHttpxClient(limits=limits, verify=tls_context())
    return openai.DefaultAsyncHttpxClient(limits=limits, transport=AiohttpTransport(limits))


def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (its CA bundle, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``).

    Made once per process for each value of those variables: loading the CA
    bundle costs 50-150 ms of CPU, and every client (each ``Scorer``, each
    event loop of the service) made its own. A context is only read once built
    (the HTTP/1.1 ALPN that httpcore sets on it per connection is always the
    same), so clients can share it.
    """
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _tls_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    # The arguments key the cache; httpx reads the same variables itself.
    return httpx2.create_ssl_context()


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """httpx's transport interface over one ``aiohttp.ClientSession`` (made on first use).

    Each response body is read whole before it is handed back: the backend
    never streams, and a failure while reading it is then mapped here, like
    one while sending. HTTP/1.1 only (aiohttp has no HTTP/2).
    """

    def __init__(self, limits: httpx2.Limits) -> None:
        self._limits = limits
        self._session: Any = None  # aiohttp.ClientSession, imported on first use
        self._ssl = tls_context()  # httpx's CA bundle and SSL_CERT_FILE rules
        # The proxy for each origin, looked up once (see _proxy_for).
        self._proxies: dict[tuple[str, str, int | None], tuple[Any, Any]] = {}

    def _new_session(self) -> Any:
        import aiohttp

        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=self._ssl,
        )
        # Not trust_env: with it aiohttp looks up the proxy and reads ~/.netrc in a
        # worker thread on every request (about 0.15 ms of CPU each); the proxy is
        # looked up once per origin instead (_proxy_for). And a ~/.netrc entry for
        # the endpoint's host would clash with the SDK's Authorization header.
        return aiohttp.ClientSession(connector=connector)

    async def _proxy_for(self, url: httpx2.URL) -> tuple[Any, Any]:
        """The proxy (and its auth) from HTTP(S)_PROXY / NO_PROXY for ``url``'s origin, or Nones.

        Read once per origin for the life of the session, as httpx reads them once
        per client; aiohttp's own rules (its ``trust_env``), in a worker thread as
        aiohttp does, since they may read ~/.netrc for the proxy's credentials.
        """
        origin = (url.scheme, url.host, url.port)
        found = self._proxies.get(origin)
        if found is None:
            found = self._proxies[origin] = await asyncio.to_thread(_env_proxy, str(url))
        return found

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        import aiohttp

        if self._session is None:
            self._session = self._new_session()
        timeout = request.extensions.get("timeout", {})
        headers = request.headers
        encoding = headers.encoding  # what multi_items() decodes with, found once
        with _mapped_errors():
            proxy, proxy_auth = await self._proxy_for(request.url)
            async with self._session.request(
                request.method,
                str(request.url),
                headers=[(k.decode(encoding), v.decode(encoding)) for k, v in headers.raw],
                proxy=proxy,
                proxy_auth=proxy_auth,
                data=request.content or None,
                allow_redirects=False,  # httpx follows them, as with its own transport
                auto_decompress=False,  # httpx decodes content-encoding, as with its own
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            ) as response:
                body = await response.read()
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx2.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=httpx2.ByteStream(body),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _env_proxy(url: str) -> tuple[Any, Any]:
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        return get_env_proxy_for_url(URL(url))
    except (LookupError, ValueError):  # no proxy for it, NO_PROXY names it, or a bad URL
        return None, None


class _mapped_errors:
    """aiohttp's exceptions as the httpx ones its own transport raises in the same case.

    The SDK turns an httpx timeout into ``APITimeoutError`` and anything else
    into ``APIConnectionError``; the engine's "endpoint hangs" and "endpoint
    unreachable" stops rest on that difference.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, httpx2.HTTPError | asyncio.CancelledError):
            return
        mapped = _httpx_error(exc)
        if mapped is not None:
            raise mapped from exc


def _httpx_error(exc: BaseException) -> httpx2.TransportError | None:
    import aiohttp

    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(message)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return httpx2.ReadTimeout(message)
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp.ServerTimeoutError and a total timeout
        return httpx2.TimeoutException(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        return httpx2.ConnectError(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx2.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx2.RemoteProtocolError(message)  # closed early, or not HTTP
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx2.ReadError(message)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return httpx2.NetworkError(message)
    return None


class ClientPerLoop(Generic[_Client]):
    """One client per event loop (a connection pool cannot cross loops), closed with its loop.

    :meth:`aclose` closes the running loop's client; a loop run by
    ``asyncio.run`` (the CLI, the service, a user's script) that ends without
    it closes the client as it shuts down, through an async generator that
    the loop finalises then (``loop.shutdown_asyncgens``). Without that, every
    command would end with aiohttp's "Unclosed client session" warning.
    """

    def __init__(self, make: Callable[[], _Client]) -> None:
        self._make = make
        self._open: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[_Client, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()

    async def get(self) -> _Client:
        """The running loop's client, made on first use."""
        loop = asyncio.get_running_loop()
        held = self._open.get(loop)
        if held is None:
            client = self._make()
            closer = _closed_at_loop_end(client)
            held = self._open[loop] = (client, closer)
            await anext(closer)  # registered with the loop, parked at its yield
        return held[0]

    async def aclose(self) -> None:
        """Close the running loop's client, if it has one."""
        held = self._open.pop(asyncio.get_running_loop(), None)
        if held is not None:
            await held[1].aclose()


async def _closed_at_loop_end(client: _Closable) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.close()
