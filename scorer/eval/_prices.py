"""What tokens cost, in USD: prices from ``genai-prices``, or one the user gives.

``genai-prices`` (pydantic's maintained price database) knows each model's
input, cached-input and output price, their history, and OpenAI's Batch API
price (``processing: batch``), so scorer keeps no price table of its own.
A model it does not know costs ``None`` (unknown), unless the user names a
price (``--price IN,OUT``); the embedded offline model costs nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

from scorer._errors import InputError
from scorer._models import Usage

__all__ = ["LOCAL_MODELS", "Price", "estimate_cost", "parse_price", "price_usage"]

Price = tuple[float, float]
"""USD per million (input, output) tokens."""

LOCAL_MODELS = frozenset({"smollm2-135m-instruct", "smollm2-135m-instruct-q4_1"})
"""Models that run on this machine: free."""

# Tried in order: the OpenAI API's own names first (the default endpoint), then
# whichever provider genai-prices finds for the name (OpenRouter, Groq, ...).
_PROVIDERS: tuple[str | None, ...] = ("openai", None)


def price_usage(
    model: str, usage: Usage, *, batch: bool = False, price: Price | None = None
) -> float | None:
    """USD for ``usage`` on ``model``; None when the price is unknown.

    Cached prompt tokens (``usage.cached_prompt_tokens``, a part of
    ``prompt_tokens``) are billed at the model's cached-input price; ``batch``
    prices the tokens at the Batch API's (discounted) rates. ``price`` (USD
    per million input, output tokens) overrides the database and bills every
    prompt token at the input price.

    >>> round(price_usage("gpt-4.1-nano", Usage(prompt_tokens=10**6, completion_tokens=10**6)), 4)
    0.5
    >>> round(price_usage("gpt-4.1-nano", Usage(prompt_tokens=10**6), batch=True), 4)
    0.05
    """
    if price is not None:
        per_input, per_output = price
        return (usage.prompt_tokens * per_input + usage.completion_tokens * per_output) / 1e6
    name = model.strip()
    if name.casefold() in LOCAL_MODELS:
        return 0.0
    rates = _rates(name, batch)
    if rates is None:
        return None
    cached = min(usage.cached_prompt_tokens, usage.prompt_tokens)
    per_input, per_cached, per_output = rates
    return (
        (usage.prompt_tokens - cached) * per_input
        + cached * per_cached
        + usage.completion_tokens * per_output
    )


def estimate_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: Mapping[str, Price] | None = None,
) -> float | None:
    """USD for the tokens (no cached input, online price); None for an unknown model.

    ``prices`` (by model name) replaces the database: a model it does not
    name is unpriced. :func:`price_usage` is the full form.

    >>> estimate_cost("gpt-4o-mini-2024-07-18", 2_000_000, 500_000)
    0.6
    """
    usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    if prices is None:
        return price_usage(model, usage)
    given = {k.casefold(): v for k, v in prices.items()}.get(model.strip().casefold())
    return None if given is None else price_usage(model, usage, price=given)


def parse_price(text: str) -> Price:
    """``"0.15,0.60"`` (USD per million input, output tokens) as ``(0.15, 0.6)``."""
    parts = text.split(",")
    try:
        numbers = tuple(float(part) for part in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 2 or not all(math.isfinite(x) and x >= 0 for x in numbers):
        raise InputError(
            f"cannot read the price {text!r}: give USD per million input and output "
            "tokens separated by a comma, e.g. 0.15,0.60"
        )
    return numbers[0], numbers[1]


_PROBE = 1000  # tokens: the size of one request, below any long-context price tier


@functools.lru_cache(maxsize=256)
def _rates(model: str, batch: bool) -> tuple[float, float, float] | None:
    """USD per input, cached input and output token; None for an unknown model.

    Read once per model from a request-sized probe: a run's usage is the sum
    of many short requests, so pricing the sum at once would wrongly reach
    a long-context tier, and pricing is linear below it. (genai-prices also
    takes a quarter of a millisecond per look-up.)
    """
    # Imported here: the price database takes a moment to load, and only costs need it.
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    context = {"processing": "batch"} if batch else None
    probes = (
        PriceUsage(input_tokens=_PROBE),
        PriceUsage(input_tokens=_PROBE, cache_read_tokens=_PROBE),
        PriceUsage(output_tokens=_PROBE),
    )
    for provider in _PROVIDERS:
        try:
            prices = [
                float(calc_price(p, model, provider_id=provider, price_context=context).total_price)
                for p in probes
            ]
        except LookupError:
            continue
        return prices[0] / _PROBE, prices[1] / _PROBE, prices[2] / _PROBE
    return None
