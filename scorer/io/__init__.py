"""Papers in and results out: files read into ``Paper`` objects, results written to sinks.

Reading: :func:`read_papers` (CSV, JSONL, RIS, BibTeX or Excel by extension,
columns mapped by :func:`resolve_columns`), :func:`read_input` (an input, checked before
any model call), :func:`read_labelled` (for ``scorer eval``),
:func:`read_scored` (results written earlier), :func:`read_paper_json`.
Writing: :func:`open_sinks` / :class:`BatchOutputs` (row files and digests,
chosen by extension, staged so a failed run never costs an existing file),
:class:`CsvWriter`, :class:`JsonlWriter`, :func:`save_papers`.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.io._batch_outputs import (
        BATCH_FORMATS,
        BatchOutputs,
        check_batch_outputs,
        check_digest_outputs,
        open_sinks,
        paper_columns,
        read_input,
        write_digests,
    )
    from scorer.io._columns import (
        PAPER_FIELDS,
        REQUIRED_FIELDS,
        check_overrides,
        missing_required,
        resolve_columns,
    )
    from scorer.io._labelled import Labelled, read_labelled
    from scorer.io._outputs import check_outputs, inputs_of, staged_outputs
    from scorer.io._paper_file import read_paper_json
    from scorer.io._readers import ProblemHandler, RowProblem, paper_from_record, read_papers
    from scorer.io._scored import read_scored
    from scorer.io._writers import (
        PAPER_FORMATS,
        RESULT_PREFIX,
        CsvWriter,
        JsonlWriter,
        ResultWriter,
        save_papers,
    )

__all__ = [
    "BATCH_FORMATS",
    "PAPER_FIELDS",
    "PAPER_FORMATS",
    "REQUIRED_FIELDS",
    "RESULT_PREFIX",
    "BatchOutputs",
    "CsvWriter",
    "JsonlWriter",
    "Labelled",
    "ProblemHandler",
    "ResultWriter",
    "RowProblem",
    "check_batch_outputs",
    "check_digest_outputs",
    "check_outputs",
    "check_overrides",
    "inputs_of",
    "missing_required",
    "open_sinks",
    "paper_columns",
    "paper_from_record",
    "read_input",
    "read_labelled",
    "read_paper_json",
    "read_papers",
    "read_scored",
    "resolve_columns",
    "save_papers",
    "staged_outputs",
    "write_digests",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.io._batch_outputs": (
            "BATCH_FORMATS",
            "BatchOutputs",
            "check_batch_outputs",
            "check_digest_outputs",
            "open_sinks",
            "paper_columns",
            "read_input",
            "write_digests",
        ),
        "scorer.io._columns": (
            "PAPER_FIELDS",
            "REQUIRED_FIELDS",
            "check_overrides",
            "missing_required",
            "resolve_columns",
        ),
        "scorer.io._labelled": (
            "Labelled",
            "read_labelled",
        ),
        "scorer.io._outputs": (
            "check_outputs",
            "inputs_of",
            "staged_outputs",
        ),
        "scorer.io._paper_file": ("read_paper_json",),
        "scorer.io._readers": (
            "ProblemHandler",
            "RowProblem",
            "paper_from_record",
            "read_papers",
        ),
        "scorer.io._scored": ("read_scored",),
        "scorer.io._writers": (
            "PAPER_FORMATS",
            "RESULT_PREFIX",
            "CsvWriter",
            "JsonlWriter",
            "ResultWriter",
            "save_papers",
        ),
    },
)
