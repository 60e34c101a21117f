"""Scoring a Ray Dataset across a cluster: :func:`score_dataset`.

The stages, each a Ray Data operator::

    rows ──► keyed (identity, order, paper JSON) ──► groupby(identity): one row per paper
         ──► map_batches(PaperScorer) on an actor pool ──► result columns

De-duplication is a ``groupby`` on the paper's identity
(:func:`scorer.engine.paper_identity`), so records of one paper meet on one
node wherever they were read, and exactly one of them is sent: the one with
the smallest ``order`` (the input row number, when the caller has one), as
``scorer batch`` keeps a paper's first record.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from scorer._api import RubricLike
from scorer._errors import ConfigError
from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer._settings import RateLimits, Settings
from scorer.engine._identity import paper_identity
from scorer.io._columns import check_overrides, extra_columns, resolve_columns
from scorer.io._readers import RowProblem, paper_from_record
from scorer.io._writers import input_row, result_name, result_names, result_row
from scorer.ray._bucket import permit_actor
from scorer.ray._worker import PaperScorer

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

__all__ = ["INSTALL_HINT", "keyed_papers", "score_dataset", "scored_results"]

INSTALL_HINT = "scorer.ray needs Ray: pip install 'scorer[ray]'"


def score_dataset(
    ds: ray.data.Dataset,
    rubric: RubricLike,
    *,
    columns: Mapping[str, str] | None = None,
    order: str | None = None,
    workers: int | None = None,
    concurrency: int = 16,
    batch_size: int | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> ray.data.Dataset:
    """Score every paper of ``ds`` on the Ray cluster; a lazy Dataset of result rows.

    ``ds`` rows are papers, their columns recognised as in ``scorer batch``
    (``title``/``Title``, ``abstract``/``summary``, ``authors``, ``id``/``doi``
    ...; ``columns`` maps a field to the column holding it). Records of the same
    paper (arXiv versions, DOI variants, repeated titles) are merged before
    scoring: one model call per paper across the cluster, one output row per
    paper, made from the record with the smallest ``order`` column value (any
    one of them without ``order``). A row that is not a paper (no abstract)
    becomes a row with status ``invalid`` and the reason in ``error``.

    The result rows have ``scorer batch``'s columns: the paper's (``id``,
    ``title``, ``abstract``, ``authors``, ``published``, ``url``, ``pdf_url``, then
    the input's other columns), one per rubric dimension (null when not
    scored), ``justification``, ``passed``, ``status``, ``error``, ``model``,
    ``tokens``; write them with ``write_parquet``/``write_json``/``write_csv``.

    ``workers`` actors (default: one per alive node) each hold one
    :class:`~scorer.engine.Scorer` with ``concurrency`` requests in flight. The
    settings' ``--rpm``/``--tpm`` limits hold for all workers together.
    Settings as in :func:`scorer.score` (``settings=`` or ``model=``,
    ``base_url=``, ...); a shared ``cache_dir`` makes a re-run skip what is
    cached. Ray must be initialised (``ray.init(address=...)``).

    Not run as a doctest (it would start a Ray on this machine)::

        import ray
        ds = ray.data.from_items([{"title": "DualPath", "abstract": "KV-Cache ..."}])
        score_dataset(ds, "llm-inference").take(1)[0]["status"]  # 'scored'
    """
    rubric_obj = load_rubric(rubric)
    keyed = keyed_papers(ds, columns=columns, order=order)
    scored = scored_results(
        keyed,
        rubric_obj,
        workers=workers,
        concurrency=concurrency,
        batch_size=batch_size,
        settings=settings,
        **options,
    )
    # Functions, not classes: Ray Data runs a class on actors that each hold a
    # CPU, and on small nodes those would starve the shuffle's tasks.
    rows = functools.partial(_result_rows, rubric=rubric_obj)
    return scored.map_batches(rows, batch_format="pyarrow")


def keyed_papers(
    ds: ray.data.Dataset, *, columns: Mapping[str, str] | None = None, order: str | None = None
) -> ray.data.Dataset:
    """``ds`` as rows of (identity, order, paper JSON, problem): what the later stages take."""
    overrides = dict(columns or {})
    check_overrides(overrides, option="columns")
    keyed = functools.partial(_keyed, overrides=overrides, order=order)
    return ds.map_batches(keyed, batch_format="pyarrow")


def papers_as_keyed(papers: Iterable[Paper]) -> tuple[list[dict[str, Any]], int]:
    """Papers read on the driver, merged by identity as ``scorer batch`` merges them.

    The keyed rows of the unique papers (each its first record, with how many
    records it stands for) and the number of records read. The CLI's route:
    the driver reads every record anyway, so merging there costs no shuffle.
    """
    rows: dict[str, dict[str, Any]] = {}
    scanned = 0
    for paper in papers:
        key = paper_identity(paper)
        seen = rows.get(key)
        if seen is not None:
            seen["copies"] += 1
        else:
            rows[key] = {
                "identity": key,
                "order": scanned,
                "paper": paper.model_dump_json(),
                "problem": None,
                "copies": 1,
            }
        scanned += 1
    return list(rows.values()), scanned


def scored_results(
    keyed: ray.data.Dataset,
    rubric: Rubric,
    *,
    workers: int | None = None,
    concurrency: int = 16,
    batch_size: int | None = None,
    settings: Settings | None = None,
    merged: bool = False,
    papers: int | None = None,
    **options: Any,
) -> ray.data.Dataset:
    """One row per paper of ``keyed``: identity, ``ScoredPaper`` JSON, problem, copies.

    ``merged``: ``keyed`` already has one row per paper, with its ``copies``.
    ``papers``: how many there are, when known, so that a small input is
    still shared among all the workers (batches of at most 16 x
    ``concurrency`` papers: long enough that a batch's last requests, which
    leave slots idle, are a small part of it).
    """
    import ray

    resolved = settings if settings is not None else Settings.resolve(**options)
    limited = check_cluster_settings(resolved, concurrency)
    count = workers if workers is not None else max(1, len(alive_nodes(ray)))
    if batch_size is None:
        batch_size = 16 * concurrency
        if papers is not None:
            batch_size = max(concurrency, min(batch_size, -(-papers // count)))
    unique = (
        keyed
        if merged
        else keyed.groupby("identity", num_partitions=count).map_groups(
            _first_record, batch_format="pyarrow"
        )
    )
    return unique.map_batches(
        PaperScorer,
        fn_constructor_kwargs={
            "settings": resolved,
            "rubric": rubric,
            "concurrency": concurrency,
            "permits": permit_actor(resolved.limits) if limited else None,
            "workers": count,
        },
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=count),
        # The workers wait on the network, not the CPU: they take no CPU from
        # Ray's accounting, so a one-core node runs a worker and Ray Data's own
        # tasks (the groupby, the result rows) beside it.
        num_cpus=0,
    )


def check_cluster_settings(settings: Settings, concurrency: int) -> bool:
    """Refuse what cannot run on a cluster; whether the run is rate-limited.

    For both routes (``scorer batch --ray`` and :func:`score_dataset`).
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    limited = settings.limits != RateLimits()
    if limited and settings.uses_embedded:
        raise ConfigError(
            "--rpm/--tpm on a Ray cluster need an endpoint (OPENAI_BASE_URL); each worker's "
            "embedded model is limited by its own machine"
        )
    return limited


def alive_nodes(ray: Any) -> list[dict[str, Any]]:
    """The cluster's nodes that are up."""
    return [node for node in ray.nodes() if node.get("Alive")]


def _keyed(batch: pa.Table, *, overrides: dict[str, str], order: str | None) -> pa.Table:
    """Rows of any columns -> keyed rows (identity, order, paper JSON, problem)."""
    import pyarrow as pa

    names = tuple(batch.column_names)
    fields = resolve_columns(names, overrides, "dataset")
    extras = extra_columns(names, fields)
    if order is not None and order not in names:
        raise ConfigError(f"order: the dataset has no column {order!r}")
    out: dict[str, list[Any]] = {"identity": [], "order": [], "paper": [], "problem": []}
    for values in zip(*(batch.column(i).to_pylist() for i in range(len(names))), strict=True):
        row = dict(zip(names, values, strict=True))
        record = {field: values[i] for field, i in fields.items()}
        record.update((key, values[i]) for i, key in extras)
        problems: list[RowProblem] = []
        paper = paper_from_record(record, 0, problems.append)
        out["order"].append(row.get(order) if order is not None else None)
        if paper is None:
            # Unique by construction: a record that is not a paper merges with nothing.
            out["identity"].append(f"invalid:{uuid.uuid4().hex}")
            out["paper"].append(json.dumps(row, ensure_ascii=False, default=str))
            out["problem"].append(problems[-1].message)
        else:
            out["identity"].append(paper_identity(paper))
            out["paper"].append(paper.model_dump_json())
            out["problem"].append(None)
    schema = [("identity", pa.string()), ("order", pa.int64())]
    schema += [("paper", pa.string()), ("problem", pa.string())]
    return pa.table(out, schema=pa.schema(schema))


def _first_record(group: pa.Table) -> pa.Table:
    """A paper's records -> the one to score (smallest ``order``), and how many there were."""
    import pyarrow as pa

    rows = group.to_pylist()
    first = min(rows, key=lambda row: (row["order"] is None, row["order"] or 0))
    return pa.table(
        {
            "identity": [first["identity"]],
            "order": pa.array([first["order"]], pa.int64()),
            "paper": [first["paper"]],
            "problem": [first["problem"]],
            "copies": pa.array([len(rows)], pa.int64()),
        }
    )


def _result_rows(batch: pa.Table, *, rubric: Rubric) -> pa.Table:
    """Worker output -> ``scorer batch``'s row columns (dimensions null when not scored)."""
    import pyarrow as pa

    return pa.Table.from_pylist([_result_row(item, rubric) for item in batch.to_pylist()])


def _result_row(item: dict[str, Any], rubric: Rubric) -> dict[str, Any]:
    if item["result"] is None:  # not a paper: its own columns, and why
        record: dict[str, Any] = json.loads(item["record"] or "{}")
        taken = set(record)
        empty: dict[str, Any] = dict.fromkeys(result_names(rubric))
        empty.update(status="invalid", error=item["problem"], passed=False, tokens=0)
        for name, value in empty.items():
            record[result_name(name, taken)] = value
        return record
    result = ScoredPaper.model_validate_json(item["result"])
    row = result_row(result, rubric)
    taken = set(input_row(result.paper))
    for dimension in rubric.dimensions:  # "" in a CSV cell; null in a typed column
        column = result_name(dimension.name, taken)
        if row[column] == "":
            row[column] = None
    return row
