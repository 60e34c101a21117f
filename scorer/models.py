"""The vocabulary shared by every module: papers in, scores out."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = ["Paper", "Score", "ScoredPaper", "Usage"]

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

_YEAR = re.compile(r"^\d{4}$")


class Paper(BaseModel):
    """A paper to score. Fields beyond the named ones are kept and carried through.

    ``authors`` accepts a list or a ``"; "``-separated string; ``published``
    accepts a date, an ISO date or datetime string, or a bare year.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    title: NonEmpty
    abstract: NonEmpty
    id: str | None = None
    authors: list[str] = Field(default_factory=list)
    published: dt.date | None = None
    url: str | None = None
    pdf_url: str | None = None
    categories: list[str] = Field(default_factory=list)

    @field_validator("authors", "categories", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            sep = ";" if ";" in value else ","
            return [part.strip() for part in value.split(sep) if part.strip()]
        return value

    @field_validator("published", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, int) or (isinstance(value, str) and _YEAR.match(value.strip())):
            year = int(value)
            if not dt.MINYEAR <= year <= dt.MAXYEAR:
                raise ValueError(f"a year must be between 1 and 9999, not {year}")
            return dt.date(year, 1, 1)
        if isinstance(value, str) and len(value.strip()) > 10:
            return dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
        return value

    @field_validator("id", "url", "pdf_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @property
    def extra_fields(self) -> dict[str, Any]:
        """Input fields scorer does not know, carried through to outputs unchanged."""
        return dict(self.__pydantic_extra__ or {})


class Usage(BaseModel):
    """Tokens spent and model requests made (re-asks and retries included)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            requests=self.requests + other.requests,
        )


class Score(BaseModel):
    """A validated answer: one integer 0-100 per rubric dimension and a justification.

    This is what the cache stores (as JSON), independent of any one rubric's
    response model.
    """

    model_config = ConfigDict(frozen=True)

    scores: dict[str, Annotated[int, Field(ge=0, le=100)]]
    justification: str
    model: str
    usage: Usage = Usage()


class ScoredPaper(BaseModel):
    """A paper with its scores, or with the error that kept it from being scored."""

    model_config = ConfigDict(frozen=True)

    paper: Paper
    rubric: str
    rubric_fingerprint: str
    model: str
    scores: dict[str, int] = Field(default_factory=dict)
    justification: str = ""
    passed: bool = False
    cached: bool = False
    usage: Usage = Usage()
    latency_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
