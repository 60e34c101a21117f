"""A non-LLM baseline: TF-IDF similarity between each paper and a rubric's text.

It costs milliseconds for thousands of papers, so it serves twice: as the
baseline that ``scorer eval`` compares a model against (a model that cannot
beat word overlap is not earning its cost), and as a cheap prefilter that
sends only the most similar share of a large batch to the model.

Scores are relative to the batch: the most similar paper gets 100 and the
least similar 0, so they rank papers but are not comparable across batches.

>>> from scorer import Paper, load_rubric
>>> papers = [
...     Paper(title="Exoplanet transits", abstract="Light curves of hot Jupiters."),
...     Paper(title="Speculative decoding", abstract="Faster LLM inference serving."),
... ]
>>> similarity_scores(papers, load_rubric("llm-inference"))
[0.0, 100.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scorer._errors import InputError
from scorer._models import Paper
from scorer._rubric import Rubric

__all__ = [
    "parse_fraction",
    "prefilter_top",
    "rubric_query",
    "similarity_scores",
    "top_positions",
]


def rubric_query(rubric: Rubric) -> str:
    """The text of ``rubric`` that papers are compared with.

    Title, description, include criteria, and the primary dimension's scale
    anchors at or above the threshold (what a passing paper looks like; the
    highest anchor when none reaches it). Exclude criteria and low anchors are
    left out: they describe what the topic is not, and word overlap cannot
    tell "about X" from "not about X".
    """
    scale = rubric.primary.scale
    top = [text for points, text in sorted(scale.items()) if points >= rubric.threshold]
    if not top and scale:
        top = [scale[max(scale)]]
    return "\n".join([rubric.title, rubric.description, *rubric.include, *top])


def similarity_scores(papers: Sequence[Paper], rubric: Rubric) -> list[float]:
    """Each paper's TF-IDF cosine similarity to :func:`rubric_query`, rescaled to 0-100.

    The vectorizer is fit on the papers' title and abstract plus the query
    (English stop words removed, sublinear term frequency, unigrams and
    bigrams), so rare words that the query shares with a paper weigh most.
    Similarities are min-max rescaled over the batch: the most similar paper
    scores 100, the least similar 0. When all are equal (one paper, or no
    shared words at all) every paper scores 0.
    """
    if not papers:
        return []
    # numpy and scikit-learn take seconds to import; only this function needs them, and
    # parse_fraction and top_positions are used by `scorer daily` and the CLI's option parsing.
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = [f"{paper.title}\n{paper.abstract}" for paper in papers]
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, ngram_range=(1, 2))
    try:
        matrix = vectorizer.fit_transform([*documents, rubric_query(rubric)])
    except ValueError:  # nothing but stop words and one-letter tokens: no vocabulary
        return [0.0] * len(papers)
    # Rows are L2-normalised, so a dot product with the query row is the cosine.
    similarity = np.asarray((matrix[:-1] @ matrix[-1].T).toarray(), dtype=float).ravel()
    low, high = float(similarity.min()), float(similarity.max())
    if math.isclose(low, high, rel_tol=0.0, abs_tol=1e-12):
        return [0.0] * len(papers)
    return [float(value) for value in (similarity - low) / (high - low) * 100.0]


def prefilter_top(
    papers: Sequence[Paper], rubric: Rubric, fraction: float
) -> tuple[list[Paper], list[Paper]]:
    """Split ``papers`` into the top ``fraction`` by similarity and the rest.

    Keeps ``ceil(fraction * len(papers))`` papers (at least one when there are
    any); equal scores are ranked by input order. Both lists keep the input
    order. ``fraction`` is in (0, 1], e.g. 0.3 for ``--prefilter-top 30%``.

    >>> from scorer import Paper, load_rubric
    >>> papers = [
    ...     Paper(title="Exoplanet transits", abstract="Light curves of hot Jupiters."),
    ...     Paper(title="Speculative decoding", abstract="Faster LLM inference serving."),
    ... ]
    >>> kept, dropped = prefilter_top(papers, load_rubric("llm-inference"), 0.5)
    >>> [p.title for p in kept], [p.title for p in dropped]
    (['Speculative decoding'], ['Exoplanet transits'])
    """
    keep = set(top_positions(papers, rubric, fraction))
    kept = [paper for i, paper in enumerate(papers) if i in keep]
    dropped = [paper for i, paper in enumerate(papers) if i not in keep]
    return kept, dropped


def top_positions(papers: Sequence[Paper], rubric: Rubric, fraction: float) -> list[int]:
    """The positions in ``papers`` that :func:`prefilter_top` keeps, ascending."""
    _check_fraction(fraction)
    if not papers:
        return []
    # Rounding first keeps float noise (0.3 * 10 = 3.0000000000000004) from adding a paper.
    count = max(1, math.ceil(round(fraction * len(papers), 9)))
    scores = similarity_scores(papers, rubric)
    ranked = sorted(range(len(papers)), key=lambda i: (-scores[i], i))
    return sorted(ranked[:count])


def parse_fraction(text: str) -> float:
    """Read a share of papers as a fraction in (0, 1]: ``"30%"``, ``"30"`` and ``"0.3"`` are 0.3.

    A number above 1 is a percentage; so is any number followed by ``%``.

    >>> parse_fraction("30%"), parse_fraction("30"), parse_fraction("0.3"), parse_fraction("100")
    (0.3, 0.3, 0.3, 1.0)
    """
    stripped = text.strip()
    percent = stripped.endswith("%")
    number_text = stripped.removesuffix("%").strip()
    expected = f"expected a share of papers such as 30%, 30 or 0.3, got {text!r}"
    try:
        number = float(number_text)
    except ValueError:
        raise InputError(expected) from None
    if not math.isfinite(number):
        raise InputError(expected)
    fraction = number / 100 if percent or number > 1 else number
    if not 0 < fraction <= 1:
        raise InputError(f"a share of papers must be above 0 and at most 100%, got {text!r}")
    return round(fraction, 12)  # "33.3%" is 0.333, not 0.33299999999999996


def _check_fraction(fraction: float) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise InputError(f"prefilter fraction must be a number in (0, 1], got {fraction!r}")
    if not 0 < fraction <= 1:  # NaN fails this too
        raise InputError(
            f"prefilter fraction must be above 0 and at most 1 (e.g. 0.3 for 30%), got {fraction!r}"
        )
