"""Models built from values that are valid already: what ``model_construct`` sets, no more.

The hit path of a cached re-run builds two models per paper (the ``Paper``
read, the ``ScoredPaper`` answered) from values that were validated once
already: a ``Score`` from the cache, a row checked by
:func:`scorer._plain_paper.plain_paper`. Validating them again is most of a
hit's CPU, and ``BaseModel.model_construct`` costs as much (it searches
aliases and calls each ``default_factory`` per field, inspecting ``list``'s
signature every time), so :func:`trusted` sets what it sets, directly.

Callers pass every field, in the model's order; the tests compare what they
build with validation (``==``, the fields set, the JSON).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["trusted"]

_Model = TypeVar("_Model", bound=BaseModel)
_set = object.__setattr__


def trusted(
    cls: type[_Model],
    values: dict[str, Any],
    fields_set: set[str],
    extra: dict[str, Any] | None = None,
) -> _Model:
    """A ``cls`` holding ``values`` (every field, in order, valid), as validation would build it.

    ``fields_set`` is what validation records as given (``model_fields_set``:
    the fields the input named, and its extra keys); ``extra`` the extra
    fields of a model that allows them (``{}`` when there are none), None
    otherwise.
    """
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", fields_set)
    _set(model, "__pydantic_extra__", extra)
    _set(model, "__pydantic_private__", None)
    return model
