"""The request and response bodies of the HTTP service (the OpenAPI schema is built from them).

Papers and results are the library's own models (:class:`~scorer._models.Paper`,
:class:`~scorer._models.ScoredPaper`); this module adds only what HTTP needs
around them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StringConstraints,
    Tag,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from scorer._models import Paper
from scorer._rubric import INLINE_LIMITS, Dimension, Rubric, check_limits
from scorer.engine._pipeline import BatchSummary

__all__ = [
    "BatchAbort",
    "BatchRequest",
    "BatchTotals",
    "ErrorBody",
    "Health",
    "InlineRubric",
    "InvalidRecord",
    "RubricChoice",
    "RubricList",
    "RubricSummary",
    "ScoreRequest",
]

RUBRIC_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

RubricName = Annotated[
    str,
    StringConstraints(pattern=RUBRIC_NAME_PATTERN),
    Field(
        description="The name of a built-in rubric (GET /v1/rubrics lists them). "
        "Only names: a path is never read.",
        examples=["llm-inference"],
    ),
]


_L = INLINE_LIMITS


class InlineRubric(Rubric):
    __doc__ = f"""A rubric given in full: a rubric TOML file's fields as JSON (``name`` optional).

    Limits (a 422 names the one exceeded): at most {_L.dimensions} dimensions of
    at most {_L.scale_points} scale points; {_L.text_chars} characters per title,
    description or label, {_L.anchor_chars} per scale point and per include or
    exclude item ({_L.criteria} items each); {_L.examples} examples of at most
    {_L.example_chars} characters; {_L.total_bytes // 1024} KiB in all, as JSON.
    """

    name: Annotated[str, StringConstraints(pattern=RUBRIC_NAME_PATTERN)] = "inline"

    @model_validator(mode="after")
    def _within_limits(self) -> InlineRubric:
        check_limits(self)
        # Which models are paid for is the server's choice (SCORER_REVIEWERS,
        # SCORER_CASCADE), never a request's.
        for name in ("reviewers", "cascade", "margin"):
            if getattr(self, name) not in ((), None):  # empty, as a builtin's dump has them: fine
                raise ValueError(f"{name}: set on the server (SCORER_{name.upper()}), not here")
        return self

    @field_validator("dimensions")
    @classmethod
    def _names_the_answer_model_can_take(
        cls, dimensions: tuple[Dimension, ...]
    ) -> tuple[Dimension, ...]:
        # Each dimension becomes a field of a pydantic model (scorer.methods._answer), and
        # pydantic refuses or shadows fields named like its own members (model_dump,
        # model_config, json, copy, ...): a 500 for a request, a traceback for a file.
        for i, dim in enumerate(dimensions):
            if dim.name.startswith("model_") or hasattr(BaseModel, dim.name):
                raise ValueError(
                    f"dimensions.{i}.name: '{dim.name}' is reserved (names starting with "
                    "'model_' and pydantic BaseModel members such as 'json' or 'copy')"
                )
        return dimensions


MAX_DEPTH = 32
"""How deeply a paper or an inline rubric may nest lists and objects (a paper needs 2)."""


def _valid_unicode(value: Any) -> Any:
    """Refuse what no paper or rubric holds and what breaks on the way out.

    Lone surrogates (JSON can spell ``\\ud800``; UTF-8 cannot encode it), NUL
    characters (binary data, not text), and nesting deeper than
    :data:`MAX_DEPTH` (serializing it again, for the answer or a 422, would
    overflow the stack). Iterative, so the check itself cannot.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("not text: contains a NUL character (\\u0000)")
            try:
                item.encode()
            except UnicodeEncodeError:
                raise ValueError(
                    "not valid Unicode text (a lone surrogate such as \\ud800)"
                ) from None
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


def _paper_input(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    _valid_unicode(value)
    try:
        return handler(value)
    except (OverflowError, TypeError) as exc:
        # Paper's own validators let these through (e.g. "published": 30159744364
        # overflows datetime.date); pydantic only turns ValueErrors into 422s.
        raise ValueError(f"a value is out of range or of the wrong type ({exc})") from None


RequestPaper = Annotated[Paper, WrapValidator(_paper_input)]


def _rubric_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "name"
    if isinstance(value, dict | Rubric):
        return "inline"
    return None


RubricChoice = Annotated[
    Annotated[RubricName, Tag("name")] | Annotated[InlineRubric, Tag("inline")],
    Discriminator(
        _rubric_kind,
        custom_error_type="rubric_type",
        custom_error_message="rubric must be a built-in rubric's name or a rubric object",
    ),
    BeforeValidator(_valid_unicode),
]

_PAPER_EXAMPLE: dict[str, JsonValue] = {
    "id": "2602.21548v1",
    "title": "DualPath: Breaking the Storage Bandwidth Bottleneck in Agentic LLM Inference",
    "abstract": "Multi-turn agentic LLM inference is dominated by KV-Cache storage I/O ...",
    "authors": ["Yongtong Wu", "Shaoyuan Chen"],
    "published": "2026-02-25",
}


class ScoreRequest(BaseModel):
    """``POST /v1/score``: one paper and the rubric to score it against."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"paper": _PAPER_EXAMPLE, "rubric": "llm-inference"}]},
    )

    paper: RequestPaper
    rubric: RubricChoice


class BatchRequest(BaseModel):
    """``POST /v1/score/batch``: papers to score against one rubric."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"papers": [_PAPER_EXAMPLE], "rubric": "llm-inference"}]},
    )

    papers: list[RequestPaper] = Field(
        description="The papers; duplicates (same arXiv id, DOI or title) are scored and "
        "listed once. At most the server's batch limit (default 1000)."
    )
    rubric: RubricChoice
    concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Model requests in flight at once for this batch; capped by the "
        "server's limit (scorer serve --concurrency), which is also the default.",
    )


class BatchTotals(BatchSummary):
    """The counts of a batch, as in ``scorer batch``'s summary line (the fields of BatchSummary)."""

    complete: bool = Field(description="False when the batch stopped early (see the error line).")


class InvalidRecord(BaseModel):
    """A record of a batch that is not a paper: one line of the stream; the rest go on."""

    index: int | None = Field(
        default=None, description="Its position in `papers` (a JSON body), from 0."
    )
    line: int | None = Field(default=None, description="Its line (an NDJSON body), from 1.")
    error: str = Field(description="What is wrong with it, in one line.")


class BatchAbort(BaseModel):
    """Why a batch stopped early: an error every further paper would hit too."""

    type: str = Field(description="The scorer error class, e.g. FatalBackendError.")
    status: int = Field(description="The HTTP status the error maps to (e.g. 502).")
    message: str


class RubricSummary(BaseModel):
    """A built-in rubric at a glance; ``GET /v1/rubrics/{name}`` has all of it."""

    name: str
    title: str
    description: str
    threshold: int
    dimensions: list[str]
    method: str | None


class RubricList(BaseModel):
    """``GET /v1/rubrics``."""

    rubrics: list[RubricSummary]


class Health(BaseModel):
    """``GET /healthz``: the process serves requests (the model is not contacted)."""

    status: str = "ok"


class ErrorBody(BaseModel):
    """The body of every error response except 422 request-validation errors."""

    detail: str = Field(description="What went wrong, in one line (never a secret).")
    error: str | None = Field(default=None, description="The scorer error class, if any.")
