"""A fake OpenAI-compatible chat-completions server: real HTTP on 127.0.0.1, for tests.

uvicorn serves a small starlette app from a background thread with its own event loop, so the
fake works from sync and async code alike::

    with FakeOpenAI(latency=0.0) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        fake.enqueue(Reply.rate_limited(retry_after=1), Reply.malformed())
        ...
        assert fake.count == 3

Without a scripted reply, ``POST /v1/chat/completions`` answers 200 with a completion whose
content fills the request's ``response_format`` JSON schema deterministically (seeded by the last
user message); with ``tools`` it calls the chosen tool instead; without either the content is
``"ok"``. ``stream: true`` is answered as server-sent events. ``GET /v1/models`` lists
``fake-model``. ``fake.play(Personality.refusing("json_schema"))`` (or ``"tools"``, or
``Personality.text_only()``) makes it another kind of endpoint for structured output.
``/v1/files`` and ``/v1/batches`` are OpenAI's Batch API, answered by the same
logic (see :mod:`scorer.testing._batches`; script how batches end with ``fake.batch_api.play``).
``prompt_cache=PromptCache()`` reports cached prompt tokens when a prompt's prefix repeats.

Run it in the foreground (prints the base URL, serves until SIGINT/SIGTERM)::

    python -m scorer.testing.fake_openai --port 8123 --latency 0.1

Over 300 lines: the server, its scripting API (replies, rules, hold and
release, signals) and the standalone entry point are one test fixture.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from scorer._thread_server import ThreadServer
from scorer.testing._batches import BatchPlay, FakeBatches
from scorer.testing._personality import Personality
from scorer.testing._prompt_cache import PromptCache, prompt_words
from scorer.testing._replies import (
    JSON_TYPE,
    MODEL_ID,
    Reply,
    completion,
    default_error_body,
    error_body,
    sse_chunks,
)

__all__ = ["BatchPlay", "FakeOpenAI", "Personality", "PromptCache", "Reply", "main"]


class FakeOpenAI:
    """The fake server. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        latency: float = 0.0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        prompt_cache: PromptCache | None = None,
    ) -> None:
        """``prompt_cache``: report cached prompt tokens as it says (default: never)."""
        self.latency = latency
        self.prompt_cache = prompt_cache
        self.batch_requests: list[dict[str, Any]] = []  # request bodies answered in batches
        self.batch_api = FakeBatches(self._answer_line)
        self.host = host
        self.port = port  # after start(): the port actually bound
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.in_flight = 0  # chat requests being answered now
        self.peak_in_flight = 0  # the most at once since start or reset()
        self._generation = 0  # bumped by reset(): requests from before it stop counting
        self._queue: deque[Reply] = deque()
        self._rules: list[tuple[str, Reply]] = []
        self._model_rules: list[tuple[str, str, Reply]] = []  # (model, text, reply)
        self._held = False  # hold(): answers wait until release()
        self.personality = Personality()  # play(): which kind of endpoint it is
        self._lock = threading.Lock()
        self._server: ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._startup_error: BaseException | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                *self.batch_api.routes,
            ],
            exception_handlers={HTTPException: self._http_error},
        )

    # -- public API ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running; call start() or use `with`")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def count(self) -> int:
        return len(self.requests)

    def enqueue(self, *replies: Reply) -> None:
        """Script the next answers, consumed FIFO one per chat-completions request."""
        with self._lock:
            self._queue.extend(replies)

    def answer_when(self, text: str, reply: Reply) -> None:
        """Answer every request whose messages contain ``text`` with ``reply``.

        For batches, where requests arrive in no fixed order: the paper whose
        title holds ``text`` always gets ``reply``. Scripted replies
        (:meth:`enqueue`) come first; the first matching rule wins.
        """
        with self._lock:
            self._rules.append((text, reply))

    def answer_model(self, model: str, reply: Reply, *, when: str = "") -> None:
        """Answer requests for ``model`` (whose messages contain ``when``) with ``reply``.

        Two models behind one endpoint that answer differently (a second
        reviewer, a cascade's stages). Checked before :meth:`answer_when`'s
        rules; the first matching one wins.
        """
        with self._lock:
            self._model_rules.append((model, when, reply))

    def requests_for(self, model: str) -> int:
        """How many chat requests asked for ``model``."""
        with self._lock:
            return sum(body.get("model") == model for body in self.requests)

    def always(self, reply: Reply) -> None:
        """Answer every request with ``reply`` (after the scripted ones), e.g. hang forever."""
        self.answer_when("", reply)

    def play(self, personality: Personality) -> None:
        """Be another kind of endpoint for structured output (until :meth:`reset`): one
        that refuses ``response_format`` or ``tools``, or only writes text."""
        self.personality = personality

    def hold(self) -> None:
        """Take requests but answer none until :meth:`release`: a gate for tests that need
        several requests in flight at once (e.g. from two processes)."""
        self._held = True

    def release(self) -> None:
        """Answer the held requests (and every later one) as usual."""
        self._held = False

    def reset(self) -> None:
        """Forget the recorded requests, the scripted replies, the rules and the
        personality; release a hold."""
        self._held = False
        self.personality = Personality()
        with self._lock:
            self.requests.clear()
            self.request_headers.clear()
            self.batch_requests.clear()
            self._queue.clear()
            self._rules.clear()
            self._model_rules.clear()
            # Requests still in flight (a hanging reply of an earlier test) no longer count.
            self._generation += 1
            self.in_flight = 0
            self.peak_in_flight = 0
        self.batch_api.reset()

    def start(self) -> FakeOpenAI:
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP, not the default 0: asyncio only turns on TCP_NODELAY for
        # sockets that say they are TCP, and without it every answer on a kept-alive
        # connection waits ~40 ms for a delayed ACK (Nagle's algorithm).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,  # leave the process's logging configuration alone
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            # The same HTTP stack whether or not uvicorn[standard]'s httptools is
            # installed (scorer serve uses it): tests and benchmarks keep one server.
            http="h11",
        )
        self._stopping = asyncio.Event()
        self._startup_error = None
        self._server = server = ThreadServer(config)
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name="FakeOpenAI", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeOpenAI failed to start") from self._startup_error
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); hanging requests are cut off. Returns within ~2 s."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is None or thread is None:
            return
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(self._stopping.set)
        server.request_exit()
        thread.join(timeout=3)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=2)
        self._server = self._thread = self._loop = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:  # the same however the block ended
        self.stop()

    # -- server side (runs in the background thread) -------------------------------------------

    def _serve(self, server: ThreadServer, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # uvicorn calls sys.exit() when startup fails
            self._startup_error = exc
        finally:
            sock.close()
            loop.close()

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = f"Invalid URL ({request.method} {request.url.path})"
        return Response(error_body(message, "invalid_request_error"), status, media_type=JSON_TYPE)

    async def _models(self, request: Request) -> Response:
        model = {"id": MODEL_ID, "object": "model", "created": 1700000000, "owned_by": "scorer"}
        return JSONResponse({"object": "list", "data": [model]})

    async def _chat_completions(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return Response(error_body(message, "invalid_request_error"), 400, media_type=JSON_TYPE)
        with self._lock:
            self.requests.append(body)
            self.request_headers.append({k.lower(): v for k, v in request.headers.items()})
            reply = self._queue.popleft() if self._queue else self._by_rule(body)
            generation = self._generation
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request, body, reply)
        finally:
            with self._lock:
                if generation == self._generation:  # not a request from before reset()
                    self.in_flight -= 1

    def _by_rule(self, body: dict[str, Any]) -> Reply:
        if not self._rules and not self._model_rules:
            return Reply()
        text = json.dumps(body.get("messages"), ensure_ascii=False)
        for model, needle, reply in self._model_rules:
            if body.get("model") == model and needle in text:
                return reply
        return next((reply for needle, reply in self._rules if needle in text), Reply())

    async def _answer(self, request: Request, body: dict[str, Any], reply: Reply) -> Response:
        # Polled, not an asyncio.Event: hold() and release() are called from other threads.
        while self._held and not self._stopping.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        gate = reply.gate
        while gate is not None and not gate.is_set() and not self._stopping.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        delay = self.latency + reply.delay
        interrupted = delay > 0 and await self._stopped_within(delay)
        if reply.hang or interrupted:
            await self._hang(request)
        personality = self.personality
        refusal = personality.refusal(body)
        if refusal is not None and reply.status < 400 and reply.body is None:
            reply = refusal
        reply = personality.shaped(body, reply)
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}", **reply.headers}
        if reply.body is not None or reply.status >= 400:
            raw = reply.body if reply.body is not None else default_error_body(reply.status)
            return Response(raw, reply.status, headers=headers, media_type=JSON_TYPE)
        try:
            answer = completion(personality.heard(body), reply)
        except (ValueError, LookupError, TypeError, AttributeError, RecursionError) as exc:
            message = f"Invalid request (fake server could not answer it): {exc!r}"
            return Response(error_body(message, "invalid_request_error"), 400, media_type=JSON_TYPE)
        self._count_cached(body, answer)
        if body.get("stream"):
            chunks = sse_chunks(answer, body)
            return StreamingResponse(chunks, reply.status, headers, media_type="text/event-stream")
        return Response(json.dumps(answer), reply.status, headers, media_type=JSON_TYPE)

    def _answer_line(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One Batch API line, answered as the chat endpoint would (no latency, no hangs)."""
        with self._lock:
            self.batch_requests.append(body)
            reply = self._queue.popleft() if self._queue else self._by_rule(body)
        if reply.body is not None or reply.status >= 400:
            raw = reply.body if reply.body is not None else default_error_body(reply.status)
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"error": {"message": "malformed answer", "type": "server_error"}}
            return (reply.status if reply.status >= 400 else 500), parsed
        try:
            answer = completion(body, reply)
        except (ValueError, LookupError, TypeError, AttributeError, RecursionError) as exc:
            message = f"Invalid request (fake server could not answer it): {exc!r}"
            return 400, json.loads(error_body(message, "invalid_request_error"))
        self._count_cached(body, answer)
        return 200, answer

    def _count_cached(self, body: dict[str, Any], answer: dict[str, Any]) -> None:
        """Report the prompt tokens the prompt cache served, as OpenAI does."""
        if self.prompt_cache is None:
            return
        cached = self.prompt_cache.cached_tokens(prompt_words(body))
        answer["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}

    async def _stopped_within(self, seconds: float) -> bool:
        """Sleep (without blocking the loop); True if stop() was called meanwhile."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _hang(self, request: Request) -> None:
        """Wait until the client disconnects; on stop(), drop the connection ourselves."""

        async def disconnected() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        gone = asyncio.ensure_future(disconnected())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({gone, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not gone.done():
                self._drop_connection(request.scope.get("client"))
                await asyncio.wait({gone}, timeout=1.0)
        finally:
            gone.cancel()
            stopping.cancel()
        # Whatever the caller answers now is discarded by uvicorn: the connection is gone.

    def _drop_connection(self, client: Any) -> None:
        server = self._server
        if server is None or client is None:
            return
        for conn in list(server.server_state.connections):
            transport = getattr(conn, "transport", None)
            if tuple(getattr(conn, "client", None) or ()) == tuple(client) and transport:
                transport.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve in the foreground: print the base URL, then serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m scorer.testing.fake_openai",
        description="Fake OpenAI-compatible chat-completions server (for tests and benchmarks).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    fake = FakeOpenAI(latency=args.latency, host=args.host, port=args.port).start()
    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT may be ignored in a background job
        signal.signal(signum, interrupt)
    try:
        print(fake.base_url, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut stop()
            signal.signal(signum, signal.SIG_IGN)
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
