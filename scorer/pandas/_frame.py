"""Scoring the papers in a pandas DataFrame: score columns added, rows left where they are.

pandas is an optional extra (``pip install 'scorer[pandas]'``); it is imported
only when :func:`score_frame` is called.

>>> import pandas as pd
>>> df = pd.DataFrame({"Title": ["DualPath"], "Abstract": ["KV-Cache storage I/O ..."]})
>>> scored = score_frame(df, "llm-inference")  # doctest: +SKIP
>>> scored[["Title", "relevance", "hype", "passed", "status"]]  # doctest: +SKIP
      Title  relevance  hype  passed  status
0  DualPath         95    75    True  scored
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from scorer._api import RubricLike, scorer_for
from scorer._errors import InputError
from scorer._loop import run_sync
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer._settings import Settings
from scorer.engine._pipeline import Scored, Unreadable, score_stream
from scorer.engine._scorer import Scorer
from scorer.io._columns import check_overrides, missing_required, resolve_columns
from scorer.io._readers import paper_from_record
from scorer.io._writers import result_name, status_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["score_frame"]

INSTALL_HINT = "scorer.pandas needs pandas: pip install 'scorer[pandas]'"
_TEXT_FIELDS = ("title", "abstract", "id", "url", "pdf_url")


def score_frame(
    df: pd.DataFrame,
    rubric: RubricLike,
    *,
    columns: Mapping[str, str] | None = None,
    concurrency: int = 8,
    settings: Settings | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Score every row of ``df`` as a paper; return a copy with the results added.

    Columns are recognised as in ``scorer batch`` (``title``/``Title``/
    ``Document Title``, ``abstract``/``summary``, ``authors``, ``published``/
    ``Year``, ``id``/``doi``, ``url``...); ``columns`` maps a field to the
    column that holds it (``{"title": "Paper Name"}``). Rows that are the same
    paper (arXiv versions, DOI variants, repeated titles) are scored once and
    share the result.

    Added: one nullable integer column per rubric dimension (``relevance``,
    ``hype``...), ``justification``, ``passed``, ``status`` (``scored``,
    ``cached``, ``failed`` when the model could not score it, ``invalid``
    when the row is not a paper, e.g. no abstract), ``error`` (None when
    scored) and ``cached``; with two models (``reviewers=``, ``cascade=``),
    ``needs_human``, ``certainty`` and ``reviews``. The index, the row order and every column of
    ``df`` are kept: when ``df`` already has a column of one of those names,
    scorer's is added as ``scorer_<name>`` instead, with a ``UserWarning``. Settings go as in
    :func:`scorer.score` (``settings=`` or ``model=``, ``base_url=``, ...).

    A row that fails keeps its error and the others go on; an error that would
    fail every row (bad key, no quota) raises :class:`FatalBackendError`.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Title": ["A"], "Abstract": ["B"]}, index=["x"])
    >>> score_frame(df, "llm-inference").loc["x", "status"]  # doctest: +SKIP
    'scored'
    """
    pandas = _pandas()
    rubric_obj = load_rubric(rubric)
    fields = _column_positions(df, columns)

    def records() -> Iterator[Paper | Unreadable]:
        problems: list[str] = []  # why the row just read is not a paper
        for row, values in enumerate(df.itertuples(index=False, name=None)):
            record = {field: _plain(field, values[pos], pandas) for field, pos in fields.items()}
            paper = paper_from_record(record, row, lambda found: problems.append(found.message))
            yield paper if paper is not None else Unreadable(problems[-1])

    scorer = scorer_for(settings, **options)
    found, problems = run_sync(_by_row(records(), len(df), rubric_obj, scorer, concurrency))

    added: dict[str, Any] = {}
    for dim in rubric_obj.dimensions:
        scores = [r.scores.get(dim.name) if r is not None else None for r in found]
        added[dim.name] = pandas.array(scores, dtype="Int64")
    added["justification"] = [r.justification if r is not None and r.ok else None for r in found]
    added["passed"] = [r is not None and r.passed for r in found]
    added["status"] = [status_of(r) if r is not None else "invalid" for r in found]
    added["error"] = [
        (r.error if r is not None else problems.get(row)) for row, r in enumerate(found)
    ]
    added["cached"] = [r is not None and r.cached for r in found]
    if any(r is not None and r.reviews for r in found):  # two models per paper
        added["needs_human"] = [r is not None and r.needs_human for r in found]
        added["certainty"] = [r.certainty if r is not None else None for r in found]
        added["reviews"] = [
            [v.model_dump(mode="json", exclude={"usage"}) for v in r.reviews] if r else None
            for r in found
        ]
    out = df.copy()
    taken = {str(column) for column in df.columns}
    renamed = [name for name in added if result_name(name, taken) != name]
    if renamed:
        warnings.warn(
            f"the DataFrame has columns named {', '.join(renamed)}; they are kept, and "
            f"scorer's are added as {', '.join(result_name(n, taken) for n in renamed)}",
            UserWarning,
            stacklevel=2,
        )
    for name, values in added.items():
        out[result_name(name, taken)] = values
    return out


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return pandas


def _column_positions(df: pd.DataFrame, columns: Mapping[str, str] | None) -> dict[str, int]:
    """Paper field -> column position, by the readers' rules (overrides, then known names)."""
    overrides = dict(columns or {})
    check_overrides(overrides, option="columns")
    headers = [str(column) for column in df.columns]
    fields = resolve_columns(headers, overrides, "DataFrame")
    missing = missing_required(fields)
    if missing:
        raise InputError(
            f"DataFrame: no {' or '.join(missing)} column among "
            f"{', '.join(repr(h) for h in headers)}; name it with "
            f"columns={{{missing[0]!r}: COLUMN}}"
        )
    return fields


def _plain(field: str, value: Any, pandas: Any) -> Any:
    """A cell as the plain Python value a Paper field takes (NaN/NaT/NA are blank)."""
    if pandas.api.types.is_list_like(value) and not isinstance(value, str):
        return [str(item) for item in value]
    if pandas.isna(value):
        return None
    if isinstance(value, dt.datetime):  # pandas.Timestamp included
        return value.date()
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if field == "published" and isinstance(value, float) and value.is_integer():
        return int(value)  # a Year column with gaps is float64: 2010.0 is the year 2010
    if field in _TEXT_FIELDS and not isinstance(value, str):
        return str(value)
    return value


async def _by_row(
    records: Iterable[Paper | Unreadable],
    rows: int,
    rubric: Rubric,
    scorer: Scorer,
    concurrency: int,
) -> tuple[list[ScoredPaper | None], dict[int, str]]:
    """Each row's result (None if it is not a paper), and why those rows are not papers."""
    found: list[ScoredPaper | None] = [None] * rows
    problems: dict[int, str] = {}
    async for outcome in score_stream(
        records, rubric, scorer, concurrency=concurrency, every_position=True
    ):
        if isinstance(outcome, Scored):
            for row in outcome.positions:
                found[row] = outcome.result
        elif outcome.duplicate_of is not None:
            found[outcome.position] = found[outcome.duplicate_of]
        elif outcome.problem is not None:
            problems[outcome.position] = outcome.problem
    return found, problems
