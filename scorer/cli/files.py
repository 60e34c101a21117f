"""Output files: digests by extension, written so a reader never sees half of one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scorer.digest import Digest, render_markdown
from scorer.digest_html import render_html

__all__ = ["DIGEST_RENDERERS", "is_digest", "write_atomically", "write_digest"]

DIGEST_RENDERERS: dict[str, Callable[[Digest], str]] = {
    ".md": render_markdown,
    ".html": render_html,
}


def is_digest(path: Path) -> bool:
    return path.suffix.lower() in DIGEST_RENDERERS


def write_digest(path: Path, digest: Digest) -> None:
    """Render ``digest`` in the format ``path``'s extension names (.md or .html)."""
    write_atomically(path, DIGEST_RENDERERS[path.suffix.lower()](digest))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
