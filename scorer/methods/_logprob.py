"""The ``logprob`` method: one yes/no question per dimension, scored from token probabilities."""

from __future__ import annotations

import math
from collections.abc import Mapping

from scorer._errors import InvalidOutputError
from scorer._models import Paper, Score, Usage
from scorer._rubric import Rubric
from scorer.backends import Backend
from scorer.backends._limited import one_place
from scorer.methods._spec import MethodSpec
from scorer.prompt._messages import PromptTemplate

__all__ = ["Logprob", "yes_probability"]


class Logprob:
    """One yes/no question per dimension; the score is 100 x P(yes | yes or no)."""

    def __init__(self, prompt: PromptTemplate) -> None:
        self.spec = MethodSpec(name="logprob")
        self.prompt = prompt

    async def score(self, backend: Backend, rubric: Rubric, paper: Paper) -> Score:
        usage = Usage()
        scores: dict[str, int] = {}
        shown: list[str] = []
        certainty: float | None = None
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
                if certainty is None:  # the first dimension's, which the threshold gates on
                    certainty = round(abs(2 * p_yes - 1), 4)
                shown.append(f"{dimension.name} {p_yes:.2f}")
        justification = f"P(yes) from token log-probabilities: {', '.join(shown)}."
        return Score(
            scores=scores,
            justification=justification,
            model=backend.model_id,
            usage=usage,
            certainty=certainty,
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
