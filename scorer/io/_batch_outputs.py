"""Where a batch run's results go: row files, digests, standard output; all staged.

The library side of ``scorer batch -o ...`` and ``scorer digest -o ...``, so a
pipeline gets the same guarantees as the command (see :mod:`scorer.io._outputs`)::

    papers, columns = read_input(source)                 # checked before any model call
    with open_sinks(paths, rubric, inputs=[source], input_columns=columns) as out:
        asyncio.run(run_batch(papers, rubric, scorer, sinks=out.sinks))

(``scorer batch`` also calls :func:`check_batch_outputs` first, so that a bad
``-o`` is refused before a large input is read.)

Each output's format follows its extension: ``.csv``, ``.jsonl`` (or
``.ndjson``) rows, ``.ris`` or ``.bib`` records with the results in a note,
an ``.xlsx`` workbook, an ASReview dataset (``NAME.asreview.csv``, see
:mod:`scorer.io._asreview`), ``.md`` or ``.html`` digest; :data:`open_sinks` refuses
any other with one :class:`~scorer._errors.ConfigError` before anything is
written.

A run that ends normally (some papers may have failed) writes every output.
One stopped by Ctrl-C, a backend error or a cache error writes the rows and
the digest of the papers finished so far, if there are any (their answers
were paid for). One stopped by anything else (an input, usage or
configuration error) leaves every existing output as it was.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, TextIO

from scorer._models import Paper, ScoredPaper
from scorer._rubric import Rubric
from scorer.digest._markdown import Digest
from scorer.digest._renderers import DIGEST_RENDERERS
from scorer.io._asreview import AsreviewWriter, is_asreview
from scorer.io._outputs import PARTIAL_ENDINGS, InputRef, StagedOutputs, check_outputs
from scorer.io._readers import ProblemHandler, read_papers
from scorer.io._writers import CsvWriter, JsonlWriter, ResultWriter, result_names

__all__ = [
    "BATCH_FORMATS",
    "DIGEST_RENDERERS",
    "BatchOutputs",
    "check_batch_outputs",
    "check_digest_outputs",
    "is_digest",
    "open_sinks",
    "paper_columns",
    "read_input",
    "survey_papers",
    "write_digests",
]

ROW_WRITERS: dict[str, type[CsvWriter] | type[JsonlWriter]] = {
    ".csv": CsvWriter,
    ".jsonl": JsonlWriter,
    ".ndjson": JsonlWriter,
}
# Formats for reference managers and screening tools, each a module of its own
# (imported when used: openpyxl, rispy and bibtexparser are slow to import).
REFERENCE_FORMATS = (".ris", ".bib", ".xlsx")
BATCH_FORMATS = (*ROW_WRITERS, *REFERENCE_FORMATS, *DIGEST_RENDERERS)


class _RowWriter(Protocol):
    renamed: set[str]

    def write(self, result: ScoredPaper) -> None: ...


def _row_writer(
    path: Path, stream: TextIO, rubric: Rubric, columns: list[str] | None, flush_each: bool
) -> _RowWriter | None:
    """The writer for ``path``'s format (None for a digest, rendered at the end)."""
    suffix = path.suffix.lower()
    if suffix == ".ris":
        from scorer.io._ris import RisWriter

        return RisWriter(stream, rubric)
    if suffix == ".bib":
        from scorer.io._bibtex import BibtexWriter

        return BibtexWriter(stream, rubric)
    if suffix == ".xlsx":
        from scorer.io._xlsx import XlsxWriter

        return XlsxWriter(stream, rubric, input_columns=columns)
    if is_asreview(path.name):
        return AsreviewWriter(stream, rubric)
    kind = ROW_WRITERS.get(suffix)
    # A staged file's rows are also held a few dozen at a time: __exit__ calls finish().
    hold = not flush_each
    if kind is CsvWriter:
        return CsvWriter(
            stream, rubric, input_columns=columns, flush_each=flush_each, hold_rows=hold
        )
    if kind is JsonlWriter:
        return JsonlWriter(stream, rubric, flush_each=flush_each, hold_rows=hold)
    return None


def is_digest(path: Path) -> bool:
    """Whether ``path`` names a digest (.md or .html) rather than a rows file."""
    return path.suffix.lower() in DIGEST_RENDERERS


def check_batch_outputs(paths: Sequence[Path], *, inputs: Iterable[InputRef] = ()) -> None:
    """Refuse unknown formats, outputs that are inputs, duplicates, unusable folders."""
    check_outputs(paths, formats=BATCH_FORMATS, inputs=inputs)


def check_digest_outputs(paths: Sequence[Path], *, inputs: Iterable[InputRef] = ()) -> None:
    """As :func:`check_batch_outputs`, for digests only (.md or .html), as ``scorer digest``."""
    check_outputs(paths, formats=DIGEST_RENDERERS, inputs=inputs, kind="digest")


def read_input(
    source: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    on_problem: ProblemHandler | None = None,
) -> tuple[Iterator[Paper], list[str] | None]:
    """The papers of ``source`` (read as they are scored) and its columns beyond the batch ones.

    A file is surveyed first (see :func:`survey_papers`): an error that would
    stop reading it is raised now, and the columns let a CSV output's header
    cover every record. Standard input (``"-"``) cannot be read twice; its columns are
    None (a CSV output then follows its first row). ``columns`` and
    ``on_problem`` are :func:`~scorer.io._readers.read_papers`'s.
    """
    surveyed = None if str(source) == "-" else survey_papers(source, columns=columns)
    return read_papers(source, columns=columns, on_problem=on_problem), surveyed


def survey_papers(source: str | Path, *, columns: Mapping[str, str] | None = None) -> list[str]:
    """Read the input once, before any model call; return its columns beyond the batch ones.

    Raises the :class:`~scorer._errors.InputError` that reading would raise
    midway (a ``.ris`` file with no RIS record in it, a workbook whose sheet is
    damaged halfway), so nothing is paid for before it. Row problems are left
    for the real pass to report. The columns (``categories`` when some paper
    has categories, then every extra field in the order first seen) let a CSV
    header cover every record.

    A CSV or TSV file is read only as far as its columns are known (see
    :func:`_table_columns`): a cached re-run of 100,000 rows would otherwise
    spend about a sixth of its CPU reading the file an extra time.
    """
    papers = read_papers(source, columns=columns)
    if Path(source).suffix.lower() in _TABLES:
        return _table_columns(papers)
    return paper_columns(papers)


# Files whose every record has its header's keys (scorer.io._readers._read_csv).
_TABLES = (".csv", ".tsv")


def _table_columns(papers: Iterator[Paper]) -> list[str]:
    """:func:`paper_columns` of a CSV's or TSV's papers, reading no further than it needs.

    Every record of a table has the header's keys, blank cells included, so
    every paper read from it has the same extra fields and the same fields
    set: the first paper's extras are every paper's. ``categories`` is the
    one column that depends on the values; it is looked for only while it is
    still unknown (the table has such a column and no paper so far had
    categories). After its header a table's reader raises nothing (a bad row
    is a problem for the real pass to report), so stopping early loses no
    error.
    """
    try:
        for paper in papers:
            found = paper_columns([paper])
            if paper.categories or "categories" not in paper.model_fields_set:
                return found  # categories first if this paper has them, as paper_columns
            for later in papers:
                if later.categories:
                    return [*found, "categories"]
            return found
        return []
    finally:
        close = getattr(papers, "close", None)
        if close is not None:  # the file, now rather than when collected
            close()


def paper_columns(papers: Iterable[Paper]) -> list[str]:
    """The columns ``papers`` have beyond the batch ones, in the order first seen."""
    seen: dict[str, None] = {}
    for paper in papers:
        if paper.categories:
            seen.setdefault("categories")
        for key in paper.extra_fields:
            seen.setdefault(key)
    return list(seen)


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def write(self, result: ScoredPaper) -> None:
        self.count += 1


class BatchOutputs:
    """The sinks for a batch run's outputs, staged beside their paths (a context manager).

    Each path's format follows its extension (see the module docstring);
    ``paths`` empty means JSONL rows on ``stdout``. ``input_columns`` as for
    :class:`CsvWriter`. ``paths`` are checked as by :func:`check_batch_outputs`
    (``inputs`` are the files the run reads) when it is created, before
    anything is written. Also known as :data:`open_sinks`. After the run,
    :attr:`renamed` names the result columns written under a ``scorer_`` name
    because the input had a column of that name.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        rubric: Rubric,
        *,
        inputs: Iterable[InputRef] = (),
        threshold: int | None = None,
        top_n: int | None = None,
        input_columns: Iterable[str] | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.paths = list(paths)
        check_batch_outputs(self.paths, inputs=inputs)
        self.digest = Digest(rubric, threshold=threshold, top_n=top_n)
        self._rubric = rubric
        self._columns = list(input_columns) if input_columns is not None else None
        self._stdout = stdout
        self._staged = StagedOutputs(self.paths)
        self._counter = _Counter()
        self._writers: list[_RowWriter] = []
        self.sinks: list[ResultWriter] = []

    def __enter__(self) -> BatchOutputs:
        self._staged.open()
        for path in self.paths:
            stream = self._staged.stream(path)
            # A staged file is seen only once it is moved into place: no row needs its own
            # flush (a device or FIFO written directly, e.g. /dev/stdout, still gets one).
            flush_each = not self._staged.is_staged(path)
            writer = _row_writer(path, stream, self._rubric, self._columns, flush_each)
            if writer is not None:
                self._writers.append(writer)
        if not self.paths:
            self._writers.append(JsonlWriter(self._stdout or sys.stdout, self._rubric))
        self.sinks = [*self._writers, self._counter]
        if any(is_digest(path) for path in self.paths):
            self.sinks.append(self.digest)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        keep = exc is None or (isinstance(exc, PARTIAL_ENDINGS) and self._counter.count > 0)
        try:
            if keep:
                for writer in self._writers:
                    finish = getattr(writer, "finish", None)  # a workbook is written whole
                    if finish is not None:
                        finish()
                for path in self.paths:
                    if is_digest(path):
                        render = DIGEST_RENDERERS[path.suffix.lower()]
                        self._staged.stream(path).write(render(self.digest))
                self._staged.commit()
        finally:
            self._staged.discard()

    @property
    def renamed(self) -> list[str]:
        """Result columns written as ``scorer_<name>`` in some output, in rubric order."""
        names = set().union(*(writer.renamed for writer in self._writers))
        return [name for name in result_names(self._rubric) if name in names]


# The name a pipeline reads best: ``with open_sinks(paths, rubric) as out: ...``.
open_sinks = BatchOutputs


def write_digests(paths: Sequence[Path], digest: Digest) -> None:
    """Write ``digest`` to each of ``paths`` (format by extension), all staged and committed."""
    staged = StagedOutputs(paths)
    staged.open()
    try:
        for path in paths:
            staged.stream(path).write(DIGEST_RENDERERS[path.suffix.lower()](digest))
        staged.commit()
    finally:
        staged.discard()
