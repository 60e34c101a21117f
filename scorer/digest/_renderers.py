"""Digest renderers by file extension: what ``-o digest.md`` and ``-o digest.html`` write."""

from __future__ import annotations

from collections.abc import Callable

from scorer.digest._html import render_html
from scorer.digest._markdown import Digest, render_markdown

__all__ = ["DIGEST_RENDERERS"]

DIGEST_RENDERERS: dict[str, Callable[[Digest], str]] = {
    ".md": render_markdown,
    ".html": render_html,
}
