"""Digest renderers by file extension: what ``-o digest.md``, ``.html`` and ``.atom`` write."""

from __future__ import annotations

from collections.abc import Callable

from scorer.digest._atom import render_atom
from scorer.digest._html import render_html
from scorer.digest._markdown import Digest, render_markdown

__all__ = ["DIGEST_RENDERERS"]

DIGEST_RENDERERS: dict[str, Callable[[Digest], str]] = {
    ".md": render_markdown,
    ".html": render_html,
    ".atom": render_atom,
}
