"""The ``generate`` method: the model writes the JSON answer; ``samples=K`` averages K answers."""

from __future__ import annotations

import statistics

from scorer._models import Paper, Score, Usage
from scorer._rubric import Rubric
from scorer._settings import Sampling
from scorer.backends import Backend
from scorer.backends._limited import one_place
from scorer.methods._answer import response_model_for, to_score
from scorer.methods._spec import MethodSpec
from scorer.prompt._messages import PromptTemplate

__all__ = ["SAMPLE_TEMPERATURE", "Generate"]

SAMPLE_TEMPERATURE = 0.7
"""Temperature of ``samples=k`` answers when the settings ask for 0 (k equal answers)."""


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
