"""Configuration, read in one place at call time: argument, then environment, then default."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import SecretStr

from scorer._errors import ConfigError
from scorer._local_model import check_gguf, gguf_model_id, is_gguf_name
from scorer.engine._panel_spec import PanelSpec, panel_spec, parse_margin, parse_models
from scorer.methods._spec import MethodSpec, parse_method
from scorer.prompt._paper_limits import PaperLimits

__all__ = [
    "AIOHTTP_MISSING",
    "DEFAULT_OPENAI_MODEL",
    "DEFAULT_PROBE_WAIT",
    "DEFAULT_TIMEOUT",
    "EMBEDDED_MODEL",
    "EMBEDDED_TIMEOUT",
    "RateLimits",
    "RetryPolicy",
    "Sampling",
    "Settings",
    "StructuredMode",
    "TransportKind",
]

EMBEDDED_MODEL = "smollm2-135m-instruct-q4_1"
"""Model id of the embedded offline model (part of every cache key it produces)."""

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"

DEFAULT_TIMEOUT = 60.0

DEFAULT_PROBE_WAIT = 2.0
"""Seconds the other papers wait for ``auto``'s first request to be refused or answered."""
"""Seconds per request to an endpoint."""

EMBEDDED_TIMEOUT = 300.0
"""Seconds per request to the embedded model, unless set. Generous because it
is safe: a request is only sent when one of the server's slots is free, so the
clock runs while the model works on it, never while it waits its turn, and
only a machine many times too busy makes one paper take minutes."""

BackendKind = Literal["auto", "openai", "embedded"]
TransportKind = Literal["auto", "aiohttp", "httpx"]
"""What carries requests to an endpoint: ``auto`` is aiohttp when installed, else httpx."""

StructuredMode = Literal["auto", "json_schema", "tools", "json"]
"""How an endpoint is asked for a structured answer (see :mod:`scorer.backends._modes`)."""
_MODES: tuple[StructuredMode, ...] = ("auto", "json_schema", "tools", "json")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures (429, 408, 409, 5xx, timeouts, connection errors).

    ``max_attempts`` counts every request, the first one included. Waits grow
    exponentially from ``initial_wait`` up to ``max_wait`` with jitter; a
    server's ``retry-after`` is honoured up to ``max_retry_after`` seconds.
    After ``max_consecutive_timeouts`` papers in a row whose requests all timed
    out (no answer in between), a batch stops: the endpoint is hanging.
    """

    max_attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 20.0
    jitter: float = 0.5
    max_retry_after: float = 60.0
    max_consecutive_timeouts: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetryPolicy:
        """The default policy with ``SCORER_MAX_ATTEMPTS``, ``SCORER_RETRY_MAX_WAIT``
        and ``SCORER_MAX_CONSECUTIVE_TIMEOUTS`` applied (unset or empty: the default)."""
        policy = cls()
        attempts = env.get("SCORER_MAX_ATTEMPTS", "").strip()
        if attempts:
            policy = replace(policy, max_attempts=_positive_int("SCORER_MAX_ATTEMPTS", attempts))
        wait = env.get("SCORER_RETRY_MAX_WAIT", "").strip()
        if wait:
            cap = _non_negative_float("SCORER_RETRY_MAX_WAIT", wait)
            # The cap bounds every wait: backoff, jitter, and a server's retry-after.
            policy = replace(
                policy,
                max_wait=cap,
                initial_wait=min(policy.initial_wait, cap),
                jitter=min(policy.jitter, cap),
                max_retry_after=min(policy.max_retry_after, cap),
            )
        timeouts = env.get("SCORER_MAX_CONSECUTIVE_TIMEOUTS", "").strip()
        if timeouts:
            count = _positive_int("SCORER_MAX_CONSECUTIVE_TIMEOUTS", timeouts)
            policy = replace(policy, max_consecutive_timeouts=count)
        return policy


@dataclass(frozen=True)
class RateLimits:
    """Requests and tokens per minute; ``None`` is no limit."""

    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive, not {value!r}")


@dataclass(frozen=True)
class Sampling:
    """Sampling settings sent with every request; part of the cache key."""

    temperature: float = 0.0
    max_tokens: int = 384
    seed: int | None = 0

    def as_request(self) -> dict[str, Any]:
        out: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


@dataclass(frozen=True)
class Settings:
    """Everything that decides where and how papers are scored.

    Build it with :meth:`Settings.resolve`, which applies explicit values over
    the environment over defaults.
    """

    backend: BackendKind = "auto"
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = field(default=None, repr=False)
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    use_cache: bool = True
    timeout: float = DEFAULT_TIMEOUT
    reasks: int = 1
    sampling: Sampling = Sampling()
    retry: RetryPolicy = RetryPolicy()
    limits: RateLimits = RateLimits()
    method: MethodSpec | None = None  # None: the rubric's, else see methods.method_spec_for
    mode: StructuredMode = "auto"  # structured output: auto, json_schema, tools or json
    # auto: how long other papers wait for the first request's verdict on a mode
    # (None: until it is answered). Refusals come back at once; answers take longer.
    probe_wait: float | None = DEFAULT_PROBE_WAIT
    transport: TransportKind = "auto"  # see scorer.backends._transport
    # How much of a paper is sent to the model (see scorer.prompt._paper_limits).
    max_title_chars: int = PaperLimits.title
    max_abstract_chars: int = PaperLimits.abstract
    max_authors: int = PaperLimits.authors
    max_author_chars: int = PaperLimits.author
    # Two models per paper (see scorer.engine._panel_spec); empty: the rubric's, else one model.
    reviewers: tuple[str, ...] = ()
    cascade: tuple[str, ...] = ()
    margin: int | None = None

    @property
    def panel(self) -> PanelSpec | None:
        """The panel ``--reviewers`` or ``--cascade`` set; None: the rubric's, else one model."""
        return panel_spec(self.reviewers, self.cascade, self.margin)

    @property
    def paper_limits(self) -> PaperLimits:
        """The limits on paper fields sent to the model."""
        return PaperLimits(
            title=self.max_title_chars,
            abstract=self.max_abstract_chars,
            authors=self.max_authors,
            author=self.max_author_chars,
        )

    @property
    def uses_embedded(self) -> bool:
        """True when scoring runs on the embedded llama.cpp backend (demo model or a GGUF file).

        In ``auto``, a ``*.gguf`` model runs locally even with an API key set
        (no endpoint serves a file from this disk); with a base URL it stays
        the name of the endpoint's model (llama.cpp's server names models so).
        """
        if self.backend != "auto":
            return self.backend == "embedded"
        return self.base_url is None and (self.api_key is None or is_gguf_name(self.model))

    @property
    def gguf_file(self) -> str | None:
        """The user's GGUF model file the embedded backend runs, if one is set."""
        return self.model if self.uses_embedded and is_gguf_name(self.model) else None

    @property
    def uses_demo_model(self) -> bool:
        """True when scores come from the bundled SmolLM2-135M demo model."""
        return self.uses_embedded and self.gguf_file is None

    @property
    def structured_mode(self) -> StructuredMode:
        """The mode requests use: ``mode``, except on the embedded model (always
        ``json_schema``, which its llama.cpp server honours with a grammar)."""
        return "json_schema" if self.uses_embedded else self.mode

    @property
    def model_id(self) -> str:
        """The model name used for requests and in cache keys.

        A GGUF file is named by its file name and a hash of its content, not
        its path (see :func:`scorer._local_model.gguf_model_id`).
        """
        if self.uses_embedded:
            gguf = self.gguf_file
            return EMBEDDED_MODEL if gguf is None else gguf_model_id(gguf)
        return self.model or DEFAULT_OPENAI_MODEL

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, **explicit: Any) -> Settings:
        """Explicit keyword values win, then ``env`` (default ``os.environ``), then defaults.

        Environment variables: ``SCORER_BACKEND``, ``SCORER_MODEL``,
        ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``SCORER_CACHE_DIR``,
        ``SCORER_NO_CACHE`` (``1`` disables the cache), ``SCORER_TIMEOUT``,
        ``SCORER_METHOD``, ``SCORER_MODE``, ``SCORER_TRANSPORT`` (``aiohttp`` or ``httpx``),
        ``SCORER_MAX_TITLE_CHARS``, ``SCORER_MAX_ABSTRACT_CHARS``, ``SCORER_MAX_AUTHORS``,
        ``SCORER_MAX_AUTHOR_CHARS``, ``SCORER_REVIEWERS``, ``SCORER_CASCADE`` (two models
        each, comma-separated), ``SCORER_MARGIN``, ``SCORER_PROBE_WAIT``, and the retry policy's
        ``SCORER_MAX_ATTEMPTS``, ``SCORER_RETRY_MAX_WAIT``, ``SCORER_MAX_CONSECUTIVE_TIMEOUTS``
        (see :meth:`RetryPolicy.from_env`).

        ``SCORER_MODEL`` (or ``model=``) may be the path of a ``*.gguf`` file:
        it is then run in-process on llama.cpp, like the demo model, and must
        exist and be a GGUF file (else :class:`ConfigError`). Without a
        timeout given, the embedded backend waits :data:`EMBEDDED_TIMEOUT`.
        """
        env = os.environ if env is None else env
        given = {key: value for key, value in explicit.items() if value is not None}
        unknown = set(given) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        from_env: dict[str, Any] = {}
        for name, var in _ENV_VARS.items():
            raw = env.get(var, "").strip()
            if raw:
                from_env[name] = raw
        if env.get("SCORER_NO_CACHE", "").strip() in {"1", "true", "yes"}:
            from_env["use_cache"] = False
        if "retry" not in given:
            from_env["retry"] = RetryPolicy.from_env(env)
        if {"reviewers", "cascade"} & set(given):  # a panel given wins over the environment's
            from_env.pop("reviewers", None)
            from_env.pop("cascade", None)
        merged = {**from_env, **given}
        settings = cls()._with(merged)
        if settings.gguf_file is not None:
            check_gguf(settings.gguf_file)  # before any input is read or model started
        if "timeout" not in merged and settings.uses_embedded:
            settings = replace(settings, timeout=EMBEDDED_TIMEOUT)
        return settings

    def _with(self, values: Mapping[str, Any]) -> Settings:
        out: dict[str, Any] = dict(values)
        if "api_key" in out and not isinstance(out["api_key"], SecretStr):
            out["api_key"] = SecretStr(str(out["api_key"]))
        if "cache_dir" in out:
            out["cache_dir"] = Path(out["cache_dir"]).expanduser()
        if "timeout" in out:
            out["timeout"] = _positive_float("timeout", out["timeout"])
        if "backend" in out and out["backend"] not in ("auto", "openai", "embedded"):
            raise ConfigError(f"backend must be auto, openai or embedded, not {out['backend']!r}")
        if "base_url" in out:
            out["base_url"] = str(out["base_url"]).rstrip("/")
        if "transport" in out:
            out["transport"] = _transport(out["transport"])
        if "method" in out:
            out["method"] = parse_method(out["method"])
        if "mode" in out:
            out["mode"] = _mode(out["mode"])
        if out.get("probe_wait") is not None:
            out["probe_wait"] = _non_negative_float("probe_wait", str(out["probe_wait"]))
        for name in _LIMITS:
            if name in out:
                out[name] = _positive_int(name, out[name])
        for name in ("reviewers", "cascade"):
            if name in out:
                out[name] = parse_models(out[name], option=f"--{name}")
        if "margin" in out:
            out["margin"] = parse_margin(out["margin"])
        settings = replace(self, **out)
        settings.panel  # noqa: B018 -- raises ConfigError for --reviewers with --cascade
        return settings


_ENV_VARS = {
    "backend": "SCORER_BACKEND",
    "model": "SCORER_MODEL",
    "base_url": "OPENAI_BASE_URL",
    "api_key": "OPENAI_API_KEY",
    "cache_dir": "SCORER_CACHE_DIR",
    "timeout": "SCORER_TIMEOUT",
    "method": "SCORER_METHOD",
    "mode": "SCORER_MODE",
    "transport": "SCORER_TRANSPORT",
    "max_title_chars": "SCORER_MAX_TITLE_CHARS",
    "max_abstract_chars": "SCORER_MAX_ABSTRACT_CHARS",
    "max_authors": "SCORER_MAX_AUTHORS",
    "max_author_chars": "SCORER_MAX_AUTHOR_CHARS",
    "reviewers": "SCORER_REVIEWERS",
    "cascade": "SCORER_CASCADE",
    "margin": "SCORER_MARGIN",
    "probe_wait": "SCORER_PROBE_WAIT",
}

_LIMITS = ("max_title_chars", "max_abstract_chars", "max_authors", "max_author_chars")


def _mode(value: Any) -> StructuredMode:
    mode = str(value).strip().lower().replace("-", "_")
    for known in _MODES:
        if mode == known:
            return known
    raise ConfigError(f"mode must be auto, json_schema, tools or json, not {value!r}")


def default_cache_dir() -> Path:
    """The per-user cache folder, e.g. ``~/.cache/scorer`` on Linux."""
    return Path(platformdirs.user_cache_dir("scorer", appauthor=False))


AIOHTTP_MISSING = (
    "the aiohttp transport needs aiohttp: pip install 'openai[aiohttp]', "
    "or use --transport httpx (SCORER_TRANSPORT=httpx)"
)
_TRANSPORTS: dict[str, TransportKind] = {"auto": "auto", "aiohttp": "aiohttp", "httpx": "httpx"}


def _transport(value: Any) -> TransportKind:
    """``value`` as a transport; an explicit aiohttp must be installed (known before any input)."""
    kind = _TRANSPORTS.get(str(value).strip().lower())
    if kind is None:
        raise ConfigError(f"transport must be aiohttp or httpx, not {value!r}")
    if kind == "aiohttp" and importlib.util.find_spec("aiohttp") is None:
        raise ConfigError(AIOHTTP_MISSING)
    return kind


def _non_negative_float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if not number >= 0 or number == float("inf"):  # also refuses nan
        raise ConfigError(f"{name} must be a number of seconds >= 0, not {value!r}")
    return number


def _positive_float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be positive, not {value!r}")
    return number


def _positive_int(name: str, value: Any) -> int:
    try:
        number = int(str(value).strip().replace("_", "").replace(",", ""))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be positive, not {value!r}")
    return number
