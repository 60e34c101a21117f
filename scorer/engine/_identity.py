"""Paper identity: when two records are the same paper, and text normalization.

``2602.21548``, ``2602.21548v2``, ``arXiv:2602.21548`` and
``https://arxiv.org/abs/2602.21548v1`` are one paper; so are DOIs that differ
in case or in a ``https://doi.org/`` prefix. Without an id, the normalized
title is the key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from scorer._models import Paper
from scorer._whitespace import one_line

__all__ = ["dedupe_papers", "normalize_text", "paper_identity"]

# A bare new-style arXiv id, the whole text ("2602.21548", "2602.21548v2"): what most
# ids are. The general search below finds the same id in it (it cannot start with "10.").
_ARXIV_BARE = re.compile(r"(\d{4}\.\d{4,5})(?:v\d+)?", re.IGNORECASE)
_ARXIV_NEW = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])", re.IGNORECASE)
_ARXIV_OLD = re.compile(r"\b([a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?\b", re.IGNORECASE)
_DOI = re.compile(r"\b(10\.\d{4,9}/\S+)", re.IGNORECASE)
_NOT_WORD = re.compile(r"[^\w]+")


def normalize_text(text: str) -> str:
    """Fold the differences that do not change meaning: Unicode forms, case, whitespace.

    >>> normalize_text("  KV-Cache\\n  Offloading ")
    'kv-cache offloading'
    """
    return one_line(unicodedata.normalize("NFKC", text)).casefold()


def _arxiv_id(text: str) -> str | None:
    lowered = text.lower()
    if "doi.org" in lowered or lowered.startswith("10."):
        return None
    match = _ARXIV_NEW.search(text) or _ARXIV_OLD.search(text)
    return match.group(1).lower() if match else None


def _doi(text: str) -> str | None:
    if "/" not in text:  # no DOI without one: most ids are arXiv's, read a paper at a time
        return None
    match = _DOI.search(text)
    return match.group(1).rstrip(".,;").lower() if match else None


def paper_identity(paper: Paper) -> str:
    """A key that is equal for two records of the same paper.

    >>> paper_identity(Paper(title="t", abstract="a", id="arXiv:2602.21548v2"))
    'arxiv:2602.21548'
    >>> paper_identity(Paper(title="t", abstract="a", id="https://doi.org/10.1145/ABC.1"))
    'doi:10.1145/abc.1'
    """
    field = paper.__dict__  # not three reads through pydantic's __getattr__ hook
    text = field["id"]
    if text:
        bare = _ARXIV_BARE.fullmatch(text)
        if bare is not None:  # one match instead of lower(), two `in` and two searches
            return "arxiv:" + bare[1]
    return _searched_identity(field)


def _searched_identity(field: dict[str, Any]) -> str:
    """:func:`paper_identity` for any paper: ids, URLs and DOIs searched in each field."""
    for text in (field["id"], field["url"], field["pdf_url"]):
        if not text:
            continue
        doi = _doi(text)
        if doi and "arxiv" not in doi:
            return f"doi:{doi}"
        arxiv = _arxiv_id(text)
        if arxiv:
            return f"arxiv:{arxiv}"
        if doi:  # arXiv's own DOIs (10.48550/arXiv.2602.21548) carry the arXiv id
            inner = _arxiv_id(doi.split("arxiv.", 1)[-1])
            return f"arxiv:{inner}" if inner else f"doi:{doi}"
    return "title:" + _NOT_WORD.sub(" ", normalize_text(field["title"])).strip()


def dedupe_papers(papers: Iterable[Paper]) -> Iterator[Paper]:
    """Yield each paper once, the first record of it winning; lazily, in input order."""
    seen: set[str] = set()
    for paper in papers:
        key = paper_identity(paper)
        if key not in seen:
            seen.add(key)
            yield paper
