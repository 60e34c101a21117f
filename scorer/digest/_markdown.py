"""The Markdown digest: scored papers above a rubric's threshold, best first.

The layout reproduces a real digest (``fixtures/seed_digest.md``) byte for byte,
minus that digest's bug: papers are merged by :func:`~scorer.engine._identity.paper_identity`,
so each one is counted once and listed once.

Decisions the seed leaves open:

- "Above threshold" means a first-dimension score ``>= threshold``: the seed's
  ``(70/100)`` digest lists a paper scored 70.
- An abstract of at most 200 characters is shown whole, without ``...``; a
  longer one is cut at 200 characters and gets ``...``, as in the seed.
- Ties on (first dimension, second dimension, date) keep their input order.
- The first successful record of a paper wins; a failed record only stands for
  its paper (counted as scanned, never listed) when no record of it succeeded.
- "1 paper", not "1 papers": the seed only shows plural counts, so its layout
  is kept for every other number.

Beyond the seed, lines appear only when there is something to say, so a
digest of a real model's scores with no failures is the seed's layout:

- scores from the embedded demo model get a note under the description;
- failures get one line under the counts, with how many and why;
- when fewer than ``top_n`` papers reach the threshold (by default only with
  the demo model, whose scores rarely reach a threshold), the best of the rest
  follow under their own heading, each marked as below the threshold;
- with two reviewers (``--reviewers``), the papers they disagree on about the
  threshold are counted under the counts and listed last under "Needs a
  human", each with both answers, the least certain first.

Every field is escaped by :mod:`scorer.digest._text`, and only http(s) URLs
become links, so no paper or model text can add Markdown or HTML.

Over 300 lines: most of it is the decisions above and the seed's layout, one
small function per part of the page.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from collections import Counter
from collections.abc import Iterable

from scorer._models import ScoredPaper
from scorer._rubric import Rubric
from scorer._settings import EMBEDDED_MODEL
from scorer.digest._text import (
    escape_markdown,
    http_url,
    markdown_block_start,
    markdown_inline,
    one_line,
)
from scorer.engine._identity import paper_identity

__all__ = [
    "DEFAULT_TOP_N",
    "DEMO_NOTE",
    "Digest",
    "below_heading",
    "count_papers",
    "failure_reason",
    "failures_sentence",
    "needs_human_sentence",
    "render_markdown",
]

ABSTRACT_CHARS = 200
MAX_AUTHORS = 3
DEFAULT_TOP_N = 10
MAX_REASONS = 4  # distinct failure reasons named; the rest are "other"
DEMO_NOTE = (
    "Scored offline by the embedded demo model (SmolLM2-135M): "
    "scores show the pipeline working, not expert judgement."
)

_SortKey = tuple[int, int, dt.date]
# Error texts carry per-paper details (attempt counts, token counts, URLs); the
# reason a digest names is what is left once those are cut off.
_ATTEMPTS = re.compile(r"^gave up after \d+ attempt\(s\): | after \d+ attempt\(s\)")
_DETAIL = re.compile(r"[:;(]")
_MAX_REASON_CHARS = 80


class Digest:
    """The papers of one digest, gathered one result at a time.

    Only what a digest shows is kept: the listed results, the best few below
    the threshold, a count of the first-dimension scores (for the histogram),
    one identity per paper and the errors of papers that only failed, so
    memory grows with the papers above the threshold, not with the input.

    ``top_n``: when fewer papers than this reach the threshold, the digest
    also lists the best of the rest, up to ``top_n`` papers in all. None (the
    default) means :data:`DEFAULT_TOP_N` when the embedded demo model scored
    the papers and 0 (off) otherwise.

    >>> from scorer._rubric import load_rubric
    >>> digest = Digest(load_rubric("llm-inference"), threshold=80)
    >>> digest.scanned, digest.threshold, digest.listed
    (0, 80, [])
    """

    def __init__(
        self, rubric: Rubric, *, threshold: int | None = None, top_n: int | None = None
    ) -> None:
        if top_n is not None and top_n < 0:
            raise ValueError("top_n must be 0 or more")
        self.rubric = rubric
        self.threshold = rubric.threshold if threshold is None else threshold
        self.top_n = top_n
        self.demo = False
        self.score_counts: Counter[int] = Counter()
        self._ok_by_identity: dict[str, bool] = {}
        self._errors: dict[str, str] = {}  # identity -> error, while no record of it succeeded
        self._listed: list[ScoredPaper] = []
        # A min-heap of the best results below the threshold; the input position
        # (negated) breaks ties so that earlier results rank higher.
        self._below: list[tuple[_SortKey, int, ScoredPaper]] = []
        self._seen = 0
        self._needs_human: list[ScoredPaper] = []

    @classmethod
    def of(
        cls,
        results: Iterable[ScoredPaper],
        rubric: Rubric,
        *,
        threshold: int | None = None,
        top_n: int | None = None,
    ) -> Digest:
        """A digest of ``results``, added in order."""
        digest = cls(rubric, threshold=threshold, top_n=top_n)
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
                self._errors[key] = result.error or "failed"
                return
        elif seen_ok or not result.ok:
            return
        else:  # a success for a paper that had only failed so far
            self._ok_by_identity[key] = True
            del self._errors[key]
        if result.model == EMBEDDED_MODEL:
            self.demo = True
        if result.needs_human:
            self._needs_human.append(result)
        primary = _score(result, self.rubric.primary.name)
        if primary >= 0:
            self.score_counts[primary] += 1
        if primary >= self.threshold:
            self._listed.append(result)
            return
        self._seen += 1
        entry = (_sort_key(result, self.rubric), -self._seen, result)
        capacity = DEFAULT_TOP_N if self.top_n is None else self.top_n
        if len(self._below) < capacity:
            heapq.heappush(self._below, entry)
        elif self._below and entry[:2] > self._below[0][:2]:
            heapq.heapreplace(self._below, entry)

    write = add  # a Digest is a result sink for run_batch

    @property
    def scanned(self) -> int:
        """Unique papers seen, failed ones included."""
        return len(self._ok_by_identity)

    @property
    def failed(self) -> int:
        """Unique papers that could not be scored (no record of them succeeded)."""
        return len(self._errors)

    @property
    def failure_reasons(self) -> list[tuple[str, int]]:
        """Why papers could not be scored: (reason, papers), most frequent first."""
        return Counter(failure_reason(e) for e in self._errors.values()).most_common()

    @property
    def listed(self) -> list[ScoredPaper]:
        """The papers at or above the threshold, best first (ties keep input order)."""
        return sorted(self._listed, key=lambda r: _sort_key(r, self.rubric), reverse=True)

    @property
    def needs_human(self) -> list[ScoredPaper]:
        """The papers two reviewers disagree on: the least certain first, then the nearest
        the threshold (an unknown certainty after every known one)."""
        primary = self.rubric.primary.name

        def doubt(result: ScoredPaper) -> tuple[bool, float, int]:
            sure = result.certainty
            near = abs(result.scores.get(primary, 0) - self.threshold)
            return (sure is None, sure or 0.0, near)

        return sorted(self._needs_human, key=doubt)

    @property
    def below_threshold(self) -> list[ScoredPaper]:
        """The best papers under the threshold that fill the digest up to ``top_n``, best first."""
        top_n = self.top_n
        if top_n is None:
            top_n = DEFAULT_TOP_N if self.demo else 0
        room = top_n - len(self._listed)
        if room <= 0:
            return []
        best = sorted(self._below, key=lambda entry: entry[:2], reverse=True)
        return [result for _, _, result in best[:room]]


def count_papers(n: int) -> str:
    """``n`` with "paper" or "papers".

    >>> count_papers(1), count_papers(2)
    ('1 paper', '2 papers')
    """
    return f"{n} paper" if n == 1 else f"{n} papers"


def failure_reason(error: str) -> str:
    """The reason an error gives, without the details that differ from paper to paper.

    >>> failure_reason("gave up after 6 attempt(s): request timed out")
    'request timed out'
    >>> failure_reason("gave up after 4 attempt(s): HTTP 503: Service Unavailable")
    'HTTP 503'
    """
    text = _ATTEMPTS.sub("", one_line(error))
    reason = _DETAIL.split(text, maxsplit=1)[0].strip()
    return reason[:_MAX_REASON_CHARS] or "failed"


def failures_sentence(digest: Digest) -> str | None:
    """One line saying how many papers could not be scored and why, or None when all were.

    Plain text: each format escapes it as it escapes any field.
    """
    reasons = digest.failure_reasons
    if not reasons:
        return None
    named = reasons[:MAX_REASONS]
    other = sum(n for _, n in reasons[MAX_REASONS:])
    parts = [f"{n} \N{MULTIPLICATION SIGN} {reason}" for reason, n in named]
    if other:
        parts.append(f"{other} \N{MULTIPLICATION SIGN} other")
    return f"{count_papers(digest.failed)} could not be scored ({', '.join(parts)})."


def needs_human_sentence(digest: Digest) -> str | None:
    """One line saying how many papers the reviewers disagree on, or None (plain text)."""
    n = len(digest.needs_human)
    if not n:
        return None
    verb = "needs" if n == 1 else "need"
    return f"{count_papers(n)} {verb} a human: the two reviewers disagree about the threshold."


NEEDS_HUMAN_HEADING = "Needs a human"


def below_heading(digest: Digest, shown: int) -> str:
    """The heading of the papers listed although they are under the threshold (plain text)."""
    if digest.listed:
        return f"Below the threshold of {digest.threshold}: the next {shown} by score"
    return f"Top {shown} by score (none reached the threshold of {digest.threshold})"


def render_markdown(digest: Digest) -> str:
    """Render the Markdown digest.

    >>> from scorer._rubric import load_rubric
    >>> print(render_markdown(Digest(load_rubric("llm-inference"))).splitlines()[-1])
    **0** papers above threshold (70/100) out of **0** total scanned.
    """
    rubric = digest.rubric
    listed = digest.listed
    noun = "paper" if len(listed) == 1 else "papers"
    lines = [
        f"# {markdown_inline(rubric.title)}",
        "",
        "Automatically discovered papers scored for relevance to: "
        + markdown_inline(rubric.description),
        "",
    ]
    if digest.demo:
        lines += [f"*{DEMO_NOTE}*", ""]
    lines.append(
        f"**{len(listed)}** {noun} above threshold ({digest.threshold}/100) "
        f"out of **{digest.scanned}** total scanned."
    )
    failures = failures_sentence(digest)
    if failures:
        lines += ["", markdown_block_start(failures)]
    flagged = needs_human_sentence(digest)
    if flagged:
        lines += ["", markdown_block_start(flagged)]
    for result in listed:
        lines += ["", "---", "", *_paper_block(result, rubric)]
    below = digest.below_threshold
    if below:
        lines += ["", "---", "", f"## {markdown_inline(below_heading(digest, len(below)))}"]
        for i, result in enumerate(below):
            separator = ["", "---"] if i else []
            lines += [*separator, "", *_paper_block(result, rubric, below=True)]
    disputed = digest.needs_human
    if disputed:
        lines += ["", "---", "", f"## {NEEDS_HUMAN_HEADING}"]
        for i, result in enumerate(disputed):
            separator = ["", "---"] if i else []
            lines += [*separator, "", *_disputed_block(result, rubric)]
    if listed or below or disputed:
        lines += ["", "---"]
    return "\n".join(lines) + "\n"


def _disputed_block(result: ScoredPaper, rubric: Rubric) -> list[str]:
    """A paper the reviewers disagree on: each one's scores and justification."""
    paper = result.paper
    block = [f"### {markdown_inline(paper.title)}"]
    for review in result.reviews:
        scores = " | ".join(
            f"{markdown_inline(d.display)}: {review.scores.get(d.name, '?')}/100"
            for d in rubric.dimensions
        )
        line = f"- {markdown_inline(review.model)}: **{scores}**"
        justification = markdown_inline(review.justification)
        block.append(f"{line} — {justification}" if justification else line)
    if result.certainty is not None:
        block.append(f"*Certainty: {result.certainty:.2f}*")
    links = [
        f"[{label}]({target})"
        for label, target in (("arXiv", http_url(paper.url)), ("PDF", http_url(paper.pdf_url)))
        if target
    ]
    if links:
        block.append(" | ".join(links))
    return block


def _score(result: ScoredPaper, dimension: str) -> int:
    # A successful result without a score for a dimension sorts below every real score.
    return result.scores.get(dimension, -1)


def _sort_key(result: ScoredPaper, rubric: Rubric) -> _SortKey:
    names = [d.name for d in rubric.dimensions]
    second = _score(result, names[1]) if len(names) > 1 else 0
    return (_score(result, names[0]), second, result.paper.published or dt.date.min)


def _paper_block(result: ScoredPaper, rubric: Rubric, *, below: bool = False) -> list[str]:
    paper = result.paper
    scores = " | ".join(
        f"{markdown_inline(d.display)}: {_score_text(result, d.name)}/100"
        for d in rubric.dimensions
    )
    marked = f"**{scores}** (below threshold)" if below else f"**{scores}**"
    justification = markdown_inline(result.justification)
    block = [f"### {markdown_inline(paper.title)}"]
    block.append(f"{marked} — {justification}" if justification else marked)
    if paper.authors:
        names = ", ".join(markdown_inline(a) for a in paper.authors[:MAX_AUTHORS])
        more = " et al." if len(paper.authors) > MAX_AUTHORS else ""
        block.append(f"*Authors: {names}{more}*")
    if paper.published:
        block.append(f"*Published: {paper.published.isoformat()}*")
    links = [
        f"[{label}]({target})"
        for label, target in (("arXiv", http_url(paper.url)), ("PDF", http_url(paper.pdf_url)))
        if target
    ]
    if links:
        block.append(" | ".join(links))
    block += ["", f"> {_abstract_excerpt(paper.abstract)}"]
    return block


def _score_text(result: ScoredPaper, dimension: str) -> str:
    score = result.scores.get(dimension)
    return "?" if score is None else str(score)


def _abstract_excerpt(abstract: str) -> str:
    # Cut before escaping, so the 200 characters are the reader's, not backslashes.
    text = one_line(abstract)
    if len(text) <= ABSTRACT_CHARS:
        return escape_markdown(text, line_start=True)
    return escape_markdown(text[:ABSTRACT_CHARS], line_start=True) + "..."
