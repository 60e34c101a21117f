"""The vocabulary shared by every module: papers in, scores out."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = ["MAX_NESTING", "Paper", "Review", "Score", "ScoredPaper", "Usage", "clean_value"]

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

_YEAR = re.compile(r"^\d+$")  # digits are a year: 20240102 is no Unix timestamp here
_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_NESTING = 32
"""Deepest nesting of lists and objects a paper field may hold.

Deeper values are refused: dumping them (JSON, CSV ``extra`` cells, the cache)
would recurse once per level, and a hostile record nests thousands deep.
"""


def clean_value(value: Any, *, max_depth: int = MAX_NESTING) -> tuple[Any, bool]:
    """``value`` with lone surrogates replaced by U+FFFD, and whether any were.

    Walks nested lists, tuples and dicts without recursion and raises
    ``ValueError`` when they nest deeper than ``max_depth``. Lone surrogates
    (``"\\ud800"`` in JSON) cannot be written as UTF-8, so they would fail the
    run at the first output instead of at the record.

    >>> clean_value({"a": ["x\\ud800"]})
    ({'a': ['x\ufffd']}, True)
    """
    if isinstance(value, str):
        # isascii() reads a flag: most fields of most files need no regex at all.
        if value.isascii() or _SURROGATE.search(value) is None:
            return value, False
        return _SURROGATE.sub("\ufffd", value), True
    if not isinstance(value, list | tuple | dict):
        return value, False
    fixed = False
    # A container is rebuilt only when something inside it changed.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in children:
            if isinstance(child, list | tuple | dict):
                stack.append((child, depth + 1))
            elif isinstance(child, str) and _SURROGATE.search(child) is not None:
                fixed = True
            if isinstance(key, str) and _SURROGATE.search(key) is not None:
                fixed = True
    if not fixed:
        return value, False
    return _replace_surrogates(value), True


def _replace_surrogates(value: Any) -> Any:
    # Only called on values clean_value() has bounded in depth: recursion is safe.
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_replace_surrogates(v) for v in value)
    return value


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

    @model_validator(mode="before")
    @classmethod
    def _bounded_nesting(cls, data: Any) -> Any:
        # Before any field is looked at: a field nested thousands deep must
        # fail here, as one invalid paper, not as a RecursionError later.
        if not isinstance(data, dict):
            return data
        out = data
        for key, value in data.items():
            try:
                cleaned, fixed = clean_value(value)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            if fixed:
                out = dict(data) if out is data else out
                out[key] = cleaned
        return out

    @field_validator("authors", "categories", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            sep = ";" if ";" in value else ","
            return [part.strip() for part in value.split(sep) if part.strip()]
        if isinstance(value, list):
            # Exports such as Semantic Scholar's list authors as {"name": ...} objects.
            return [
                item["name"]
                if isinstance(item, dict) and isinstance(item.get("name"), str)
                else item
                for item in value
            ]
        return value

    @field_validator("published", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            raise ValueError(f"a date or a year, not {value}")
        if isinstance(value, float):
            # A year written as 2020.0; never a Unix timestamp (86400.0 is no date here).
            if not (value.is_integer() and dt.MINYEAR <= value <= dt.MAXYEAR):
                raise ValueError(f"a date or a year, not {value!r}")
            value = int(value)
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
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # a numeric id column: 12 is the id "12"
        if isinstance(value, float | bool):
            # 2602.1 may have been the arXiv id 2602.10000: only text keeps it.
            raise ValueError(f"text, not the number {value!r} (quote it in the file)")
        return value.strip() if isinstance(value, str) else value

    @property
    def extra_fields(self) -> dict[str, Any]:
        """Input fields scorer does not know, carried through to outputs unchanged."""
        return dict(self.__pydantic_extra__ or {})


class Usage(BaseModel):
    """Tokens spent and model requests made (re-asks and retries included).

    ``cached_prompt_tokens`` is the part of ``prompt_tokens`` the provider
    served from its prompt cache (OpenAI's
    ``usage.prompt_tokens_details.cached_tokens``), billed at a lower price.
    """

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    cached_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            requests=self.requests + other.requests,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
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
    certainty: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="How sure the model was of the first dimension (0-1), where the method "
        "can tell: |P(yes) - P(no)| for logprob; None for generate.",
    )


class Review(BaseModel):
    """One model's answer about a paper, as one of two reviewers or one stage of a cascade.

    ``usage`` is what the answer cost when it was paid for, also when it came
    from the cache now (``cached``); ``error`` says why this model could not
    score the paper.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    scores: dict[str, int] = Field(default_factory=dict)
    justification: str = ""
    certainty: float | None = None
    passed: bool = False
    cached: bool = False
    usage: Usage = Usage()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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
    certainty: float | None = Field(
        default=None, description="The model's certainty of the first dimension (see Score)."
    )
    reviews: tuple[Review, ...] = Field(
        default=(),
        description="Each model's answer when two score the paper (--reviewers, --cascade), "
        "in panel order; empty for one model.",
    )
    needs_human: bool = Field(
        default=False, description="The two reviewers disagree about the threshold."
    )

    @property
    def ok(self) -> bool:
        return self.error is None
