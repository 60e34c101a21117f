"""How often two reviewers agree about the threshold: Cohen's kappa on a 2x2 table.

Plain Python (no scikit-learn), so a batch summary can count it as results come.

>>> table = Agreement()
>>> for a, b in [(True, True), (True, False), (False, False), (False, False)]:
...     table.add(a, b)
>>> table.kappa
0.5
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Agreement", "cohen_kappa"]


class Agreement:
    """Counts of (reviewer A passes, reviewer B passes) over papers both scored."""

    def __init__(self) -> None:
        self.counts = {(a, b): 0 for a in (True, False) for b in (True, False)}

    def add(self, a: bool, b: bool) -> None:
        self.counts[(a, b)] += 1

    @property
    def papers(self) -> int:
        return sum(self.counts.values())

    @property
    def disagreements(self) -> int:
        return self.counts[(True, False)] + self.counts[(False, True)]

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa; None when it is undefined (no papers, or both put all on one side)."""
        n = self.papers
        if n == 0:
            return None
        observed = (self.counts[(True, True)] + self.counts[(False, False)]) / n
        a_yes = (self.counts[(True, True)] + self.counts[(True, False)]) / n
        b_yes = (self.counts[(True, True)] + self.counts[(False, True)]) / n
        expected = a_yes * b_yes + (1 - a_yes) * (1 - b_yes)
        if expected == 1:
            return None
        # Rounded so that a kappa of 0 is not printed as -0.00 (float noise).
        return round((observed - expected) / (1 - expected), 12) + 0.0


def cohen_kappa(pairs: Iterable[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' yes/no decisions; None when undefined.

    >>> cohen_kappa([(True, True), (False, False)])
    1.0
    """
    table = Agreement()
    for a, b in pairs:
        table.add(a, b)
    return table.kappa
