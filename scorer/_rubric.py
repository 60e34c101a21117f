"""Rubrics: what a paper is scored against. Loading, validation, fingerprints.

A rubric is a TOML file (see ``rubrics/`` for the built-ins)::

    name = "llm-inference"
    title = "LLM inference systems and I/O"
    description = "Serving, optimizing, and scaling large language model inference..."
    threshold = 70

    [[dimensions]]
    name = "relevance"
    description = "How directly the paper is about the topic."
    [dimensions.scale]
    0 = "Unrelated."
    100 = "Squarely on the topic."

Over 300 lines: the rubric models, their validation, the fingerprint and the
limits on inline rubrics belong together; each checks what the others define.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scorer._errors import ConfigError, RubricError
from scorer._resources import resource_dir
from scorer.engine._panel_spec import panel_spec, parse_margin, parse_models
from scorer.methods._spec import METHOD_HELP, parse_method

__all__ = [
    "INLINE_LIMITS",
    "Dimension",
    "Example",
    "Rubric",
    "builtin_rubric_names",
    "check_limits",
    "load_rubric",
    "rubric_fingerprint",
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Points = Annotated[int, Field(ge=0, le=100)]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Dimension(BaseModel):
    """One scored dimension: an integer 0-100 with anchored scale points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Identifier
    label: str | None = None
    description: Text
    scale: dict[Points, Text] = Field(default_factory=dict)

    @property
    def display(self) -> str:
        """The name shown in digests and tables, e.g. ``Relevance``."""
        return self.label or self.name.replace("_", " ").title()


class Example(BaseModel):
    """A labelled example paper shown to the model (few-shot calibration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Text
    abstract: Text
    scores: dict[str, Points]
    justification: Text


DEFAULT_DIMENSIONS = (
    Dimension(
        name="relevance",
        description="How directly the paper is about the topic described above.",
        scale={
            0: "Unrelated to the topic.",
            25: "Shares a keyword or a broad field with the topic, nothing more.",
            50: "Touches the topic as a side aspect or an application.",
            75: "A substantial part of the work is about the topic.",
            100: "The paper is squarely about the topic.",
        },
    ),
    Dimension(
        name="hype",
        description=(
            "How much attention the paper is likely to draw: novelty, strength and "
            "scale of the results, and how broadly they matter."
        ),
        scale={
            0: "Incremental or routine; few would notice.",
            50: "Solid work that specialists will read.",
            100: "Likely to be widely discussed and built upon.",
        },
    ),
)


class Rubric(BaseModel):
    """A topic and how to score papers against it.

    The digest gates on the first dimension against ``threshold``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    title: Text
    description: Text
    threshold: Points = 70
    dimensions: tuple[Dimension, ...] = DEFAULT_DIMENSIONS
    include: tuple[Text, ...] = ()
    exclude: tuple[Text, ...] = ()
    examples: tuple[Example, ...] = ()
    method: str | None = Field(default=None, description=METHOD_HELP)
    reviewers: tuple[str, ...] = Field(
        default=(), description="Two models that both score every paper (needs_human on a split)."
    )
    cascade: tuple[str, ...] = Field(
        default=(), description="A cheap and a strong model: the strong one near the threshold."
    )
    margin: int | None = Field(
        default=None, description="Points either side of the threshold a cascade escalates."
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Rubric:
        if self.method is not None:
            try:
                parse_method(self.method)
            except ConfigError as exc:
                raise ValueError(f"method: {exc}") from None
        try:
            panel_spec(self.reviewers, self.cascade, self.margin)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if not self.dimensions:
            raise ValueError("dimensions: a rubric needs at least one dimension")
        names = [d.name for d in self.dimensions]
        reserved = [n for n in names if n == "justification" or _clashes_with_pydantic(n)]
        if reserved:
            raise ValueError(
                f"dimensions: {reserved[0]!r} is reserved (justification, model_* and "
                "pydantic's own attribute names cannot be dimension names)"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"dimensions: names must be unique, got {names}")
        for i, example in enumerate(self.examples):
            if set(example.scores) != set(names):
                raise ValueError(
                    f"examples.{i}.scores: must give exactly the dimensions {names}, "
                    f"got {sorted(example.scores)}"
                )
        return self

    @field_validator("reviewers", "cascade")
    @classmethod
    def _two_models(cls, models: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        try:
            return parse_models(models, option=str(info.field_name))
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("margin")
    @classmethod
    def _points(cls, margin: int | None) -> int | None:
        try:
            return None if margin is None else parse_margin(margin)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def primary(self) -> Dimension:
        """The dimension the threshold applies to."""
        return self.dimensions[0]

    @functools.cached_property
    def fingerprint(self) -> str:
        """See :func:`rubric_fingerprint`."""
        return rubric_fingerprint(self)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Rubric:
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("fingerprint", None)  # an edited copy needs its own
        return copy


# Fields that do not change any one model's answer (see rubric_fingerprint).
_NOT_FINGERPRINTED = {"name", "threshold", "method", "reviewers", "cascade", "margin"}


def _clashes_with_pydantic(name: str) -> bool:
    """Dimension names become fields of the answer model: they must not shadow its API."""
    return name.startswith("model_") or hasattr(BaseModel, name)


def rubric_fingerprint(rubric: Rubric) -> str:
    """Hash of everything in a rubric that changes how papers are scored.

    The name and the threshold are left out: renaming a rubric or moving its
    threshold does not change a single score, so it must not empty the cache.
    So is the scoring method: it has its own part in the cache key. So are
    the reviewers and the cascade: each model's answers are keyed by its model id.
    """
    payload = rubric.model_dump(mode="json", exclude=_NOT_FINGERPRINTED)
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class RubricLimits:
    """How large a rubric may be. The service holds inline rubrics to :data:`INLINE_LIMITS`.

    Every rubric is kept in memory while its papers are scored, its answer
    model and system text are built from it, and its text is sent (and paid
    for) with every paper: a rubric from a client must not be unbounded.
    """

    dimensions: int = 16
    scale_points: int = 11  # per dimension: 0, 10, ..., 100
    text_chars: int = 2000  # title, description, each dimension's description and label
    anchor_chars: int = 500  # each scale point's text, each include/exclude item
    criteria: int = 32  # include and exclude items, each
    examples: int = 8
    example_chars: int = 4000  # each example's title + abstract + justification
    total_bytes: int = 64 * 1024  # the whole rubric as JSON


INLINE_LIMITS = RubricLimits()


def check_limits(rubric: Rubric, limits: RubricLimits = INLINE_LIMITS) -> None:
    """Raise ``ValueError`` naming the first limit ``rubric`` is over.

    >>> check_limits(load_rubric("llm-inference"))
    """
    over = _first_over(rubric, limits)
    if over is not None:
        raise ValueError(f"rubric too large: {over}")


def _first_over(rubric: Rubric, limits: RubricLimits) -> str | None:
    if len(rubric.dimensions) > limits.dimensions:
        return f"{len(rubric.dimensions)} dimensions (the limit is {limits.dimensions})"
    texts = {"title": rubric.title, "description": rubric.description}
    for i, dim in enumerate(rubric.dimensions):
        texts[f"dimensions.{i}.description"] = dim.description
        texts[f"dimensions.{i}.label"] = dim.label or ""
        if len(dim.scale) > limits.scale_points:
            return (
                f"dimensions.{i}.scale has {len(dim.scale)} points "
                f"(the limit is {limits.scale_points})"
            )
        for point, anchor in dim.scale.items():
            if len(anchor) > limits.anchor_chars:
                return (
                    f"dimensions.{i}.scale.{point} is {len(anchor)} characters "
                    f"(the limit is {limits.anchor_chars})"
                )
    for field, text in texts.items():
        if len(text) > limits.text_chars:
            return f"{field} is {len(text)} characters (the limit is {limits.text_chars})"
    for kind, items in (("include", rubric.include), ("exclude", rubric.exclude)):
        if len(items) > limits.criteria:
            return f"{len(items)} {kind} items (the limit is {limits.criteria})"
        for i, item in enumerate(items):
            if len(item) > limits.anchor_chars:
                return f"{kind}.{i} is {len(item)} characters (the limit is {limits.anchor_chars})"
    if len(rubric.examples) > limits.examples:
        return f"{len(rubric.examples)} examples (the limit is {limits.examples})"
    for i, ex in enumerate(rubric.examples):
        size = len(ex.title) + len(ex.abstract) + len(ex.justification)
        if size > limits.example_chars:
            return f"examples.{i} is {size} characters (the limit is {limits.example_chars})"
    size = len(rubric.model_dump_json().encode())
    if size > limits.total_bytes:
        return f"{size} bytes as JSON (the limit is {limits.total_bytes})"
    return None


def builtin_rubric_names() -> list[str]:
    """Names of the rubrics shipped in ``rubrics/``."""
    return sorted(p.stem for p in resource_dir("rubrics").glob("*.toml"))


def load_rubric(spec: Rubric | str | Path) -> Rubric:
    """Return a rubric from a ``Rubric``, a built-in name, or a path to a TOML file.

    >>> load_rubric("llm-inference").threshold
    70
    """
    if isinstance(spec, Rubric):
        return spec
    text = str(spec)
    path = Path(text)
    looks_like_path = isinstance(spec, Path) or path.suffix == ".toml" or "/" in text
    if looks_like_path or (path.is_file() and not _NAME.match(text)):
        return _load_file(path)
    if not _NAME.match(text):
        raise RubricError(f"'{text}' is neither a rubric file nor a built-in rubric name")
    builtin = resource_dir("rubrics") / f"{text}.toml"
    if not builtin.is_file():
        known = ", ".join(builtin_rubric_names())
        raise RubricError(f"unknown rubric '{text}' (built-in: {known}; or give a .toml path)")
    return _load_file(builtin)


def _load_file(path: Path) -> Rubric:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: no such rubric file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read: {exc}", source=str(path)) from exc
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{path}: not valid TOML: {exc}", source=str(path)) from exc
    data.setdefault("name", path.stem)
    return parse_rubric(data, source=str(path))


def parse_rubric(data: dict[str, Any], *, source: str = "<rubric>") -> Rubric:
    """Validate a rubric given as a mapping; errors name the source and the field."""
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(rubric)"
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise RubricError(
            f"{source}: field '{field}': {message}{more}", source=source, field=field
        ) from exc
