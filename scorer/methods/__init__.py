"""Scoring methods: how a paper's scores are drawn from the model.

``generate`` (the model writes its scores), ``logprob`` (from its yes/no token
probabilities) and ``samples=K``; :class:`MethodSpec` names one,
:func:`parse_method` reads one, :func:`method_for` carries it out, and
:func:`response_model_for` is the answer schema the model fills in.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.methods._answer import response_model_for
    from scorer.methods._dispatch import ScoringMethod, method_for, method_spec_for
    from scorer.methods._spec import METHOD_HELP, MethodSpec, parse_method

__all__ = [
    "METHOD_HELP",
    "MethodSpec",
    "ScoringMethod",
    "method_for",
    "method_spec_for",
    "parse_method",
    "response_model_for",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.methods._answer": ("response_model_for",),
        "scorer.methods._dispatch": (
            "ScoringMethod",
            "method_for",
            "method_spec_for",
        ),
        "scorer.methods._spec": (
            "METHOD_HELP",
            "MethodSpec",
            "parse_method",
        ),
    },
)
