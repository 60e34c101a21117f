"""Scoring methods: how a paper's scores are drawn from the model, and which one a rubric gets.

Each method turns (backend, rubric, paper) into a validated :class:`Score`;
the engine picks one per rubric (see :mod:`scorer.methods._spec` for what each
does and when to use it, and :func:`method_spec_for` for the default) and
keys the cache by it. The methods themselves are :class:`Generate`
(``generate``, ``samples=K``; in ``_generate``) and :class:`Logprob` (in
``_logprob``).

The embedded demo model (SmolLM2-135M) gets compact prompts (``*_small``):
the topic and one line per dimension, without the scale anchors, criteria and
examples that a 135M model cannot use. They are about a third as long, and
each template's hash is part of the cache key.
"""

from __future__ import annotations

from typing import Protocol

from scorer._models import Paper, Score
from scorer._rubric import Rubric
from scorer._settings import Sampling, Settings
from scorer.backends import Backend
from scorer.methods._generate import Generate
from scorer.methods._logprob import Logprob
from scorer.methods._spec import MethodSpec, parse_method
from scorer.prompt._messages import PromptTemplate, load_prompt

__all__ = ["DEMO_MODEL_METHOD", "ScoringMethod", "method_for", "method_spec_for"]

DEMO_MODEL_METHOD = MethodSpec(name="logprob")
"""The default on the embedded demo model, by measurement (``bench/eval_methods.py``):
its yes/no token probabilities rank papers better than the scores it writes
(ROC-AUC 0.59 vs 0.50 on the Kitchenham fixture), at one output token per
dimension instead of ~60."""


class ScoringMethod(Protocol):
    spec: MethodSpec
    prompt: PromptTemplate

    async def score(self, backend: Backend, rubric: Rubric, paper: Paper) -> Score:
        """Score ``paper``; raise a ``BackendError`` if it cannot be scored."""
        ...


def method_spec_for(settings: Settings, rubric: Rubric) -> MethodSpec:
    """The method to use: the settings' (flag, ``SCORER_METHOD``), else the rubric's.

    Else ``logprob`` on the embedded demo model (:data:`DEMO_MODEL_METHOD`)
    and ``generate`` on any other model.
    """
    if settings.method is not None:
        return settings.method
    if rubric.method:
        return parse_method(rubric.method)
    return DEMO_MODEL_METHOD if settings.uses_demo_model else MethodSpec()


def method_for(
    spec: MethodSpec,
    sampling: Sampling,
    prompt: PromptTemplate | None = None,
    *,
    compact: bool = False,
) -> ScoringMethod:
    """The method ``spec`` names (``prompt`` overrides the generate prompt).

    ``compact`` picks the short ``*_small`` templates made for small models.
    """
    suffix = "_small" if compact else ""
    if spec.name == "logprob":
        return Logprob(load_prompt(f"judge{suffix}"))
    return Generate(prompt or load_prompt(f"score{suffix}"), sampling, samples=spec.samples)
