"""The answer schema the model fills in, built once per rubric.

Field order matters for small models under constrained decoding: the
justification comes first, so the model says what the paper is about before
it commits to numbers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from scorer._models import Score, Usage
from scorer._rubric import Rubric
from scorer._whitespace import one_line
from scorer.engine._lru import LRU
from scorer.prompt._messages import MAX_JUSTIFICATION

__all__ = ["ANSWER_MODELS", "response_model_for", "to_score"]

ANSWER_MODELS: LRU[str, type[BaseModel]] = LRU(maxsize=256)
"""Answer models by rubric fingerprint: the most recently used 256 (a server sees many rubrics)."""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


def response_model_for(rubric: Rubric) -> type[BaseModel]:
    """The pydantic model of a valid answer for ``rubric`` (cached by fingerprint)."""
    model = ANSWER_MODELS.get(rubric.fingerprint)
    if model is None:
        fields: dict[str, Any] = {
            "justification": (
                str,
                Field(
                    min_length=20,
                    max_length=MAX_JUSTIFICATION,
                    description="One sentence: what the paper does and why it earns its scores.",
                ),
            )
        }
        for dim in rubric.dimensions:
            fields[dim.name] = (int, Field(ge=0, le=100, description=dim.description))
        model = create_model("PaperScores", __base__=_Answer, **fields)
        ANSWER_MODELS[rubric.fingerprint] = model
    return model


def to_score(answer: BaseModel, rubric: Rubric, *, model_id: str, usage: Usage) -> Score:
    """Turn a validated answer into the rubric-independent ``Score``."""
    values = answer.model_dump()
    return Score(
        scores={dim.name: int(values[dim.name]) for dim in rubric.dimensions},
        justification=one_line(str(values["justification"])),
        model=model_id,
        usage=usage,
    )
