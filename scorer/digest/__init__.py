"""The digest: scored papers above a rubric's threshold, best first, as Markdown or HTML.

:class:`Digest` collects results (each paper once, by identity);
:func:`render_markdown`, :func:`render_html` and :func:`render_atom` (a feed) draw it;
:data:`DIGEST_RENDERERS` picks one by file extension.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.digest._atom import render_atom
    from scorer.digest._html import render_html
    from scorer.digest._markdown import Digest, render_markdown
    from scorer.digest._renderers import DIGEST_RENDERERS

__all__ = [
    "DIGEST_RENDERERS",
    "Digest",
    "render_atom",
    "render_html",
    "render_markdown",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.digest._atom": ("render_atom",),
        "scorer.digest._html": ("render_html",),
        "scorer.digest._markdown": (
            "Digest",
            "render_markdown",
        ),
        "scorer.digest._renderers": ("DIGEST_RENDERERS",),
    },
)
