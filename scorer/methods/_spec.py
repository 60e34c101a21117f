"""Which way a score is obtained from the model: ``generate``, ``logprob`` or ``samples=k``.

- ``generate`` (the default on an endpoint or a GGUF file): the model writes
  a JSON answer with integer scores and a justification (one request per paper).
- ``logprob``: for each dimension the model is asked a yes/no question and the
  score is ``100 * P(yes) / (P(yes) + P(no))`` from the token log-probabilities
  of its first answer token (one short request per dimension). Continuous, and
  far less prone to clustering on round numbers; needs an endpoint that
  returns ``logprobs`` (llama.cpp's server, OpenAI's non-reasoning models).
  The default on the embedded demo model, whose written scores barely rank.
- ``samples=k``: ``generate`` k times with temperature and averaged.

This module only names and parses methods (rubrics and settings use it);
:mod:`scorer.methods` carries them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from scorer._errors import ConfigError

__all__ = ["METHOD_HELP", "MethodSpec", "parse_method"]

METHOD_HELP = "generate, logprob, or samples=K (K generate answers averaged)"
_SAMPLES = re.compile(r"^(?:generate[:,])?samples=(\d+)$")
MAX_SAMPLES = 20


@dataclass(frozen=True)
class MethodSpec:
    """A scoring method; ``str()`` gives the form :func:`parse_method` reads."""

    name: Literal["generate", "logprob"] = "generate"
    samples: int = 1

    def __str__(self) -> str:
        if self.name == "generate" and self.samples > 1:
            return f"samples={self.samples}"
        return self.name

    @property
    def is_default(self) -> bool:
        return self == MethodSpec()


def parse_method(text: str | MethodSpec) -> MethodSpec:
    """Read ``generate``, ``logprob`` or ``samples=K``.

    >>> parse_method("samples=5")
    MethodSpec(name='generate', samples=5)
    >>> str(parse_method(" LogProb "))
    'logprob'
    """
    if isinstance(text, MethodSpec):
        return text
    value = text.strip().lower()
    if value in ("generate", "logprob"):
        return MethodSpec(name=value)  # type: ignore[arg-type]
    match = _SAMPLES.match(value)
    if match:
        samples = int(match[1])
        if not 1 <= samples <= MAX_SAMPLES:
            raise ConfigError(f"samples must be between 1 and {MAX_SAMPLES}, not {samples}")
        return MethodSpec(samples=samples)
    raise ConfigError(f"unknown scoring method {text!r}: use {METHOD_HELP}")
