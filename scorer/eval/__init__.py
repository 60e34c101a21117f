"""``scorer eval``: scoring labelled papers and measuring how well the scores rank them.

:func:`run_eval` scores a labelled set (and a TF-IDF baseline,
:func:`similarity_scores`); :func:`evaluate` computes the metrics into an
:class:`EvalReport`; :func:`format_table` and :func:`render_eval_html` show
them; :func:`price_usage` prices tokens (``genai-prices``, cached input and
Batch API prices included); :func:`cohen_kappa` is two reviewers' agreement
about a threshold.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.eval._agreement import cohen_kappa
    from scorer.eval._baseline import similarity_scores
    from scorer.eval._metrics import EvalReport, LabelledScore, evaluate
    from scorer.eval._prices import estimate_cost, parse_price, price_usage
    from scorer.eval._report import render_eval_html
    from scorer.eval._run import EvalRun, LabelledPaper, run_eval
    from scorer.eval._text import format_table

__all__ = [
    "EvalReport",
    "EvalRun",
    "LabelledPaper",
    "LabelledScore",
    "cohen_kappa",
    "estimate_cost",
    "evaluate",
    "format_table",
    "parse_price",
    "price_usage",
    "render_eval_html",
    "run_eval",
    "similarity_scores",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.eval._agreement": ("cohen_kappa",),
        "scorer.eval._baseline": ("similarity_scores",),
        "scorer.eval._metrics": (
            "EvalReport",
            "LabelledScore",
            "evaluate",
        ),
        "scorer.eval._prices": (
            "estimate_cost",
            "parse_price",
            "price_usage",
        ),
        "scorer.eval._report": ("render_eval_html",),
        "scorer.eval._run": (
            "EvalRun",
            "LabelledPaper",
            "run_eval",
        ),
        "scorer.eval._text": ("format_table",),
    },
)
