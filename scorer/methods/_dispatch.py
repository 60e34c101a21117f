"""Scoring methods: how a paper's scores are drawn from the model.

Each method turns (backend, rubric, paper) into a validated :class:`Score`;
the engine picks one per rubric (see :mod:`scorer.methods._spec` for what each
does and when to use it, and :func:`method_spec_for` for the default) and
keys the cache by it.

The embedded demo model (SmolLM2-135M) gets compact prompts (``*_small``):
the topic and one line per dimension, without the scale anchors, criteria and
examples that a 135M model cannot use. They are about a third as long, and
each template's hash is part of the cache key.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Protocol

from scorer._errors import InvalidOutputError
from scorer._models import Paper, Score, Usage
from scorer._rubric import Rubric
from scorer._settings import Sampling, Settings
from scorer.backends import Backend
from scorer.backends._limited import one_place
from scorer.methods._answer import response_model_for, to_score
from scorer.methods._spec import MethodSpec, parse_method
from scorer.prompt._messages import PromptTemplate, load_prompt

__all__ = [
    "DEMO_MODEL_METHOD",
    "Generate",
    "Logprob",
    "ScoringMethod",
    "method_for",
    "method_spec_for",
    "yes_probability",
]

DEMO_MODEL_METHOD = MethodSpec(name="logprob")
"""The default on the embedded demo model, by measurement (``bench/eval_methods.py``):
its yes/no token probabilities rank papers better than the scores it writes
(ROC-AUC 0.59 vs 0.50 on the Kitchenham fixture), at one output token per
dimension instead of ~60."""

SAMPLE_TEMPERATURE = 0.7
"""Temperature of ``samples=k`` answers when the settings ask for 0 (k equal answers)."""


class ScoringMethod(Protocol):
    spec: MethodSpec
    prompt: PromptTemplate

    async def score(self, backend: Backend, rubric: Rubric, paper: Paper) -> Score:
        """Score ``paper``; raise a ``BackendError`` if it cannot be scored."""
        ...


class Generate:
    """The model writes the JSON answer; ``samples`` > 1 averages that many answers."""

    def __init__(self, prompt: PromptTemplate, sampling: Sampling, samples: int = 1) -> None:
        self.spec = MethodSpec(samples=samples)
        self.prompt = prompt
        self._sampling = sampling

    async def score(self, backend: Backend, rubric: Rubric, paper: Paper) -> Score:
        messages = self.prompt.messages(rubric, paper)
        model = response_model_for(rubric)
        if self.spec.samples == 1:
            completion = await backend.complete(messages, model)
            return to_score(
                completion.answer, rubric, model_id=backend.model_id, usage=completion.usage
            )
        temperature = self._sampling.temperature or SAMPLE_TEMPERATURE
        seed = self._sampling.seed or 0
        answers: list[Score] = []
        async with one_place(backend):  # one after another, on one slot's cached prompt
            for i in range(self.spec.samples):
                completion = await backend.complete(
                    messages, model, sampling={"temperature": temperature, "seed": seed + i}
                )
                answers.append(
                    to_score(
                        completion.answer, rubric, model_id=backend.model_id, usage=completion.usage
                    )
                )
        return _averaged(answers, rubric)


class Logprob:
    """One yes/no question per dimension; the score is 100 x P(yes | yes or no)."""

    def __init__(self, prompt: PromptTemplate) -> None:
        self.spec = MethodSpec(name="logprob")
        self.prompt = prompt

    async def score(self, backend: Backend, rubric: Rubric, paper: Paper) -> Score:
        usage = Usage()
        scores: dict[str, int] = {}
        shown: list[str] = []
        # One request place for all of the paper's questions: on llama.cpp the
        # later ones then reuse the slot's cached prompt (see one_place).
        async with one_place(backend):
            for dimension in rubric.dimensions:
                messages = self.prompt.messages(rubric, paper, dimension=dimension)
                first = await backend.first_token(messages)
                usage = usage + first.usage
                try:
                    p_yes = yes_probability(first.logprobs)
                except InvalidOutputError as exc:
                    exc.usage = usage
                    raise
                scores[dimension.name] = round(100 * p_yes)
                shown.append(f"{dimension.name} {p_yes:.2f}")
        justification = f"P(yes) from token log-probabilities: {', '.join(shown)}."
        return Score(
            scores=scores, justification=justification, model=backend.model_id, usage=usage
        )


def yes_probability(logprobs: Mapping[str, float]) -> float:
    """P(yes) / (P(yes) + P(no)) over first tokens that spell yes or no.

    >>> round(yes_probability({"Yes": math.log(0.6), " no": math.log(0.2), "The": -1.0}), 2)
    0.75
    """
    totals = {"yes": 0.0, "no": 0.0}
    for token, logprob in logprobs.items():
        word = token.strip().lower()
        if word in totals:
            totals[word] += math.exp(logprob)
    if totals["yes"] + totals["no"] == 0.0:
        top = ", ".join(repr(t) for t in sorted(logprobs, key=logprobs.__getitem__)[::-1][:5])
        raise InvalidOutputError(
            f"none of the model's {len(logprobs)} most likely first tokens is yes or no "
            f"(top: {top}); the logprob method needs a model that follows a yes/no instruction"
        )
    return totals["yes"] / (totals["yes"] + totals["no"])


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


def _averaged(answers: list[Score], rubric: Rubric) -> Score:
    """Mean scores; the justification of the answer nearest the mean on the primary dimension."""
    means = {
        d.name: round(statistics.fmean(a.scores[d.name] for a in answers))
        for d in rubric.dimensions
    }
    primary = rubric.primary.name
    nearest = min(answers, key=lambda a: abs(a.scores[primary] - means[primary]))
    usage = Usage()
    for answer in answers:
        usage = usage + answer.usage
    return Score(
        scores=means, justification=nearest.justification, model=nearest.model, usage=usage
    )
