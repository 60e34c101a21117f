"""The Markdown digest: scored papers above a rubric's threshold, best first.

The layout reproduces a real digest (``fixtures/seed_digest.md``) byte for byte,
minus that digest's bug: papers are merged by :func:`~scorer.identity.paper_identity`,
so each one is counted once and listed once.

Decisions the seed leaves open:

- "Above threshold" means a first-dimension score ``>= threshold``: the seed's
  ``(70/100)`` digest lists a paper scored 70.
- An abstract of at most 200 characters is shown whole, without ``...``; a
  longer one is cut at 200 characters and gets ``...``, as in the seed.
- Ties on (first dimension, second dimension, date) keep their input order.
- The first successful record of a paper wins; a failed record only stands for
  its paper (counted as scanned, never listed) when no record of it succeeded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from scorer.identity import paper_identity
from scorer.models import ScoredPaper
from scorer.rubric import Rubric

__all__ = ["render_markdown"]

ABSTRACT_CHARS = 200
MAX_AUTHORS = 3

_SPACE = re.compile(r"\s+")


def render_markdown(
    results: Iterable[ScoredPaper], rubric: Rubric, *, threshold: int | None = None
) -> str:
    """Render scored papers as the Markdown digest, duplicates merged.

    ``threshold`` overrides ``rubric.threshold``. Failed results count as
    scanned and are never listed.

    >>> from scorer.rubric import load_rubric
    >>> print(render_markdown([], load_rubric("llm-inference")).splitlines()[-1])
    **0** papers above threshold (70/100) out of **0** total scanned.
    """
    bar = rubric.threshold if threshold is None else threshold
    unique = _unique(results)
    listed = [r for r in unique if r.ok and _score(r, rubric.primary.name) >= bar]
    listed.sort(key=lambda r: _sort_key(r, rubric), reverse=True)  # stable on ties

    lines = [
        f"# {_one_line(rubric.title)}",
        "",
        f"Automatically discovered papers scored for relevance to: {_one_line(rubric.description)}",
        "",
        f"**{len(listed)}** papers above threshold ({bar}/100) "
        f"out of **{len(unique)}** total scanned.",
    ]
    for result in listed:
        lines += ["", "---", "", *_paper_block(result, rubric)]
    if listed:
        lines += ["", "---"]
    return "\n".join(lines) + "\n"


def _unique(results: Iterable[ScoredPaper]) -> list[ScoredPaper]:
    """One result per paper, in first-seen order; a success replaces an earlier failure."""
    chosen: dict[str, ScoredPaper] = {}
    for result in results:
        key = paper_identity(result.paper)
        held = chosen.get(key)
        if held is None or (not held.ok and result.ok):
            chosen[key] = result
    return list(chosen.values())


def _score(result: ScoredPaper, dimension: str) -> int:
    # A successful result without a score for a dimension sorts below every real score.
    return result.scores.get(dimension, -1)


def _sort_key(result: ScoredPaper, rubric: Rubric) -> tuple[int, int, dt.date]:
    names = [d.name for d in rubric.dimensions]
    second = _score(result, names[1]) if len(names) > 1 else 0
    return (_score(result, names[0]), second, result.paper.published or dt.date.min)


def _paper_block(result: ScoredPaper, rubric: Rubric) -> list[str]:
    paper = result.paper
    scores = " | ".join(
        f"{d.display}: {_score_text(result, d.name)}/100" for d in rubric.dimensions
    )
    justification = _one_line(result.justification)
    block = [f"### {_one_line(paper.title)}"]
    block.append(f"**{scores}** — {justification}" if justification else f"**{scores}**")
    if paper.authors:
        names = ", ".join(_one_line(a) for a in paper.authors[:MAX_AUTHORS])
        more = " et al." if len(paper.authors) > MAX_AUTHORS else ""
        block.append(f"*Authors: {names}{more}*")
    if paper.published:
        block.append(f"*Published: {paper.published.isoformat()}*")
    links = [
        f"[{label}]({url})" for label, url in (("arXiv", paper.url), ("PDF", paper.pdf_url)) if url
    ]
    if links:
        block.append(" | ".join(links))
    block += ["", f"> {_abstract_excerpt(paper.abstract)}"]
    return block


def _score_text(result: ScoredPaper, dimension: str) -> str:
    score = result.scores.get(dimension)
    return "?" if score is None else str(score)


def _abstract_excerpt(abstract: str) -> str:
    text = _one_line(abstract)
    if len(text) <= ABSTRACT_CHARS:
        return text
    return text[:ABSTRACT_CHARS] + "..."


def _one_line(text: str) -> str:
    """Collapse whitespace (newlines included) so no field can break the layout."""
    return _SPACE.sub(" ", text).strip()
