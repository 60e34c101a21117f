"""Token prices for cost estimates: USD per million input and output tokens."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType

from scorer._errors import InputError

__all__ = ["PRICES", "estimate_cost", "parse_price"]

# Read-only: a module-level table that callers could edit would change every later estimate.
PRICES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        # USD per million (input, output) tokens.
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4o": (2.50, 10.00),
        "gpt-4.1": (2.00, 8.00),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        # The embedded offline model runs on this machine.
        "smollm2-135m-instruct": (0.0, 0.0),
        "smollm2-135m-instruct-q4_1": (0.0, 0.0),
    }
)

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18


def estimate_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: Mapping[str, tuple[float, float]] | None = None,
) -> float | None:
    """USD for the tokens at ``prices`` (default ``PRICES``); None for an unknown model.

    Dated snapshots cost what their model does.

    >>> estimate_cost("gpt-4o-mini-2024-07-18", 2_000_000, 500_000)
    0.6
    """
    table = {
        name.casefold(): price for name, price in (PRICES if prices is None else prices).items()
    }
    name = model.strip().casefold()
    price = table.get(name) or table.get(_SNAPSHOT.sub("", name))
    if price is None:
        return None
    per_input, per_output = price
    return (prompt_tokens * per_input + completion_tokens * per_output) / 1e6


def parse_price(text: str) -> tuple[float, float]:
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
