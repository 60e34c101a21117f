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
from collections import Counter
from collections.abc import Iterable

from scorer.identity import paper_identity
from scorer.models import ScoredPaper
from scorer.rubric import Rubric

__all__ = ["Digest", "render_markdown"]

ABSTRACT_CHARS = 200
MAX_AUTHORS = 3

_SPACE = re.compile(r"\s+")


class Digest:
    """The papers of one digest, gathered one result at a time.

    Only what a digest shows is kept: the listed results, a count of the
    first-dimension scores (for the histogram) and one identity per paper, so
    memory grows with the papers above the threshold, not with the input.

    >>> from scorer.rubric import load_rubric
    >>> digest = Digest(load_rubric("llm-inference"), threshold=80)
    >>> digest.scanned, digest.threshold, digest.listed
    (0, 80, [])
    """

    def __init__(self, rubric: Rubric, *, threshold: int | None = None) -> None:
        self.rubric = rubric
        self.threshold = rubric.threshold if threshold is None else threshold
        self.failed = 0
        self.score_counts: Counter[int] = Counter()
        self._ok_by_identity: dict[str, bool] = {}
        self._listed: list[ScoredPaper] = []

    @classmethod
    def of(
        cls, results: Iterable[ScoredPaper], rubric: Rubric, *, threshold: int | None = None
    ) -> Digest:
        digest = cls(rubric, threshold=threshold)
        for result in results:
            digest.add(result)
        return digest

    def add(self, result: ScoredPaper) -> None:
        """Count ``result``; the first success of a paper wins, a failure only until then."""
        key = paper_identity(result.paper)
        seen_ok = self._ok_by_identity.get(key)
        if seen_ok is None:
            self._ok_by_identity[key] = result.ok
            if not result.ok:
                self.failed += 1
                return
        elif seen_ok or not result.ok:
            return
        else:  # a success for a paper that had only failed so far
            self._ok_by_identity[key] = True
            self.failed -= 1
        primary = _score(result, self.rubric.primary.name)
        if primary >= 0:
            self.score_counts[primary] += 1
        if primary >= self.threshold:
            self._listed.append(result)

    write = add  # a Digest is a result sink for run_batch

    @property
    def scanned(self) -> int:
        """Unique papers seen, failed ones included."""
        return len(self._ok_by_identity)

    @property
    def listed(self) -> list[ScoredPaper]:
        """The papers at or above the threshold, best first (ties keep input order)."""
        return sorted(self._listed, key=lambda r: _sort_key(r, self.rubric), reverse=True)


def render_markdown(digest: Digest) -> str:
    """Render the Markdown digest.

    >>> from scorer.rubric import load_rubric
    >>> print(render_markdown(Digest(load_rubric("llm-inference"))).splitlines()[-1])
    **0** papers above threshold (70/100) out of **0** total scanned.
    """
    rubric = digest.rubric
    listed = digest.listed
    lines = [
        f"# {_one_line(rubric.title)}",
        "",
        f"Automatically discovered papers scored for relevance to: {_one_line(rubric.description)}",
        "",
        f"**{len(listed)}** papers above threshold ({digest.threshold}/100) "
        f"out of **{digest.scanned}** total scanned.",
    ]
    for result in listed:
        lines += ["", "---", "", *_paper_block(result, rubric)]
    if listed:
        lines += ["", "---"]
    return "\n".join(lines) + "\n"


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
