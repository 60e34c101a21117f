"""The prompt: (rubric, paper) into chat messages from the templates in ``prompts/``.

Each paper is cut to documented limits first (:class:`PaperLimits`) and its
text kept inside the prompt's data block.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.prompt._messages import MAX_JUSTIFICATION, PromptTemplate, load_prompt
    from scorer.prompt._paper_limits import PaperLimits, bounded_paper

__all__ = [
    "MAX_JUSTIFICATION",
    "PaperLimits",
    "PromptTemplate",
    "bounded_paper",
    "load_prompt",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.prompt._messages": (
            "MAX_JUSTIFICATION",
            "PromptTemplate",
            "load_prompt",
        ),
        "scorer.prompt._paper_limits": (
            "PaperLimits",
            "bounded_paper",
        ),
    },
)
