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
# BaseModel's own slots, set through their descriptors: what object.__setattr__ ends up
# calling, without looking the name up on the class each time (0.78 -> 0.46 us a model).
_slots = BaseModel.__dict__
_new = object.__new__
_set_dict = _slots["__dict__"].__set__
_set_fields_set = _slots["__pydantic_fields_set__"].__set__
_set_extra = _slots["__pydantic_extra__"].__set__
_set_private = _slots["__pydantic_private__"].__set__


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
    model = _new(cls)
    _set_dict(model, values)
    _set_fields_set(model, fields_set)
    _set_extra(model, extra)
    _set_private(model, None)
    return model
