"""Options shared by the commands that talk to a model or the cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from scorer._errors import InputError
from scorer._settings import RateLimits, Settings

__all__ = ["cache_options", "digest_options", "model_options", "parse_columns", "settings_from"]

F = TypeVar("F", bound=Callable[..., Any])


def cache_options(func: F) -> F:
    func = click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where results are cached (env SCORER_CACHE_DIR; default: the user cache folder).",
    )(func)
    return func


def digest_options(func: F) -> F:
    """``--threshold`` and ``--top``: what a digest lists."""
    func = click.option(
        "--top",
        "top_n",
        type=click.IntRange(0),
        metavar="N",
        help="When fewer than N papers reach the threshold, the digest also lists the best "
        "below it, marked, up to N in all (default: 10 with the embedded demo model, else off).",
    )(func)
    func = click.option(
        "--threshold",
        type=click.IntRange(0, 100),
        help="Digest threshold (default: the rubric's).",
    )(func)
    return func


def model_options(func: F) -> F:
    for decorator in reversed(
        [
            click.option(
                "--model",
                help="Model name at the endpoint, or a local .gguf file to run offline "
                "(env SCORER_MODEL; default gpt-4o-mini for an endpoint, the embedded "
                "SmolLM2 otherwise).",
            ),
            click.option(
                "--base-url",
                help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 "
                "(env OPENAI_BASE_URL). The API key is read from OPENAI_API_KEY only.",
            ),
            click.option(
                "--backend",
                type=click.Choice(["auto", "openai", "embedded"]),
                help="auto (default): an endpoint if OPENAI_BASE_URL or OPENAI_API_KEY is set, "
                "else the embedded offline model (env SCORER_BACKEND).",
            ),
            click.option(
                "--method",
                help="How scores are drawn from the model: generate, logprob "
                "(P(yes) from token log-probabilities) or samples=K (K answers averaged). "
                "Env SCORER_METHOD; default: the rubric's method, else logprob on the "
                "embedded demo model and generate on any other.",
            ),
            click.option(
                "--reviewers",
                metavar="MODEL_A,MODEL_B",
                help="Score every paper with both models; results carry both answers, and "
                "papers they disagree on about the threshold are marked needs_human "
                "(env SCORER_REVIEWERS; default: the rubric's reviewers, else one model).",
            ),
            click.option(
                "--cascade",
                metavar="CHEAP,STRONG",
                help="Score every paper with CHEAP; only papers within --margin of the "
                "threshold go to STRONG, whose answer wins (env SCORER_CASCADE).",
            ),
            click.option(
                "--margin",
                type=click.IntRange(0, 100),
                help="Points either side of the threshold that a --cascade sends to its "
                "strong model (env SCORER_MARGIN; default: the rubric's, else 15).",
            ),
            click.option(
                "--mode",
                type=click.Choice(["auto", "json_schema", "tools", "json"]),
                help="How the endpoint is asked for structured output: json_schema "
                "(response_format), tools (function calling), json (JSON mode, or JSON in the "
                "text) or auto (default: json_schema, falling back to tools, then json, when "
                "the endpoint refuses one). Env SCORER_MODE; the embedded model always uses "
                "json_schema.",
            ),
            click.option("--timeout", type=float, help="Seconds per request (env SCORER_TIMEOUT)."),
            click.option(
                "--transport",
                type=click.Choice(["aiohttp", "httpx"]),
                help="What carries requests to an endpoint: aiohttp (default when installed; "
                "less CPU per request) or httpx (env SCORER_TRANSPORT).",
            ),
            click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
            click.option(
                "--rpm",
                type=click.FloatRange(min=0, min_open=True),
                help="At most this many model requests per minute (retries included).",
            ),
            click.option(
                "--tpm",
                type=click.FloatRange(min=0, min_open=True),
                help="At most this many tokens per minute (prompt estimate + max tokens, "
                "counted when a request is sent).",
            ),
        ]
    ):
        func = decorator(func)
    return cache_options(func)


def settings_from(**values: Any) -> Settings:
    """Settings from command-line values (``None`` means: not given)."""
    no_cache = values.pop("no_cache", False)
    rpm, tpm = values.pop("rpm", None), values.pop("tpm", None)
    limits = RateLimits(rpm=rpm, tpm=tpm) if rpm or tpm else None
    return Settings.resolve(use_cache=False if no_cache else None, limits=limits, **values)


def parse_columns(pairs: tuple[str, ...]) -> dict[str, str]:
    columns: dict[str, str] = {}
    for pair in pairs:
        field, sep, header = pair.partition("=")
        if not sep or not field.strip() or not header.strip():
            raise InputError(
                f"--column wants FIELD=Header, e.g. title='Document Title'; got {pair!r}"
            )
        columns[field.strip()] = header.strip()
    return columns
