"""Which models score each paper, and how their answers combine: a panel's description.

Two policies share one mechanism (:mod:`scorer.engine._panel`):

- ``reviewers``: both models score every paper; the first one's scores are
  the result's, and a paper on which they disagree about the threshold is
  marked ``needs_human``.
- ``cascade``: the first (cheap) model scores every paper; only papers within
  ``margin`` points of the threshold (or that it could not score) go to the
  second (strong) model, whose answer wins.

Set by ``--reviewers A,B`` / ``--cascade CHEAP,STRONG`` and ``--margin``
(``SCORER_REVIEWERS``, ``SCORER_CASCADE``, ``SCORER_MARGIN``), or by the
rubric's ``reviewers``, ``cascade`` and ``margin``; the settings win. This
module only names and parses panels (settings and rubrics use it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from scorer._errors import ConfigError

if TYPE_CHECKING:  # both import this module: it only reads their fields
    from scorer._rubric import Rubric
    from scorer._settings import Settings

__all__ = [
    "DEFAULT_MARGIN",
    "PanelSpec",
    "panel_spec",
    "panel_spec_for",
    "parse_margin",
    "parse_models",
]

DEFAULT_MARGIN = 15
"""Points either side of the threshold within which a cascade asks the strong model."""

Policy = Literal["reviewers", "cascade"]


@dataclass(frozen=True)
class PanelSpec:
    """A panel: ``policy`` over ``models`` (two model names), ``margin`` for a cascade."""

    policy: Policy
    models: tuple[str, str]
    margin: int = DEFAULT_MARGIN

    def __str__(self) -> str:
        joined = ",".join(self.models)
        return f"cascade {joined} (margin {self.margin})" if self.policy == "cascade" else joined


def parse_models(value: str | tuple[str, ...] | list[str], *, option: str) -> tuple[str, ...]:
    """``"a, b"`` (or a list) as ``("a", "b")``; exactly two different names, else ConfigError.

    >>> parse_models("gpt-4.1-nano, gpt-4o", option="--cascade")
    ('gpt-4.1-nano', 'gpt-4o')
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    models = tuple(str(name).strip() for name in names)
    if not any(models):  # "" or []: not set
        return ()
    if len(models) != 2 or not all(models):
        raise ConfigError(f"{option} takes two model names separated by a comma, got {value!r}")
    if models[0] == models[1]:
        raise ConfigError(f"{option} needs two different models, got {models[0]!r} twice")
    return models


def parse_margin(value: object) -> int:
    """A margin of 0-100 points, else ConfigError."""
    try:
        margin = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"margin must be a whole number of points, not {value!r}") from None
    if not 0 <= margin <= 100:
        raise ConfigError(f"margin must be between 0 and 100 points, not {margin}")
    return margin


def panel_spec(
    reviewers: tuple[str, ...], cascade: tuple[str, ...], margin: int | None
) -> PanelSpec | None:
    """The panel these values describe, None for one model; ConfigError if both are set."""
    if reviewers and cascade:
        raise ConfigError("give --reviewers or --cascade, not both")
    if reviewers:
        return PanelSpec("reviewers", (reviewers[0], reviewers[1]))
    if cascade:
        return PanelSpec(
            "cascade", (cascade[0], cascade[1]), DEFAULT_MARGIN if margin is None else margin
        )
    return None


def panel_spec_for(settings: Settings, rubric: Rubric) -> PanelSpec | None:
    """The panel to use: the settings' (``--reviewers``, ``--cascade``), else the rubric's.

    ``--margin`` (``SCORER_MARGIN``) also moves a rubric's cascade. None: one model.
    """
    spec = settings.panel
    if spec is None:
        spec = panel_spec(rubric.reviewers, rubric.cascade, rubric.margin)
    if spec is not None and spec.policy == "cascade" and settings.margin is not None:
        spec = dataclasses.replace(spec, margin=settings.margin)
    return spec
