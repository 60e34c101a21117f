"""Output files that never cost the user a file they had.

Three promises, for every file scorer writes (batch rows, digests, fetched
papers, eval reports):

- **An output is never an input.** :func:`check_outputs` refuses an output
  that is an input file under any spelling (``./x.csv``, an absolute path, a
  symbolic or hard link: compared by device and inode), two outputs that are
  one file, an unknown format, and a folder that is missing or not writable;
  all before anything is read or written.
- **An existing output survives a failed run.** :class:`StagedOutputs` writes
  each output to a temporary file beside its final path
  (``.NAME.PID-RANDOM.tmp``, same folder so the move is atomic) and
  :meth:`~StagedOutputs.commit` moves it into place with ``os.replace``,
  keeping the old file's permissions; :meth:`~StagedOutputs.discard` deletes
  the temporary files and leaves the old outputs byte for byte as they were.
- **No stale temporary files.** Every exit path commits or discards. A process
  killed outright (``kill -9``) cannot clean up; its temporary file keeps the
  rows written out so far, and the next run writing the same output deletes it
  (it belongs to a process that no longer exists).

An output that exists and is not a regular file (``/dev/null``, a FIFO) is
written directly: there is nothing there to lose, and replacing a device node
with a file would be wrong.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with staged_outputs([folder / "out.txt"]) as staged:
...     _ = staged.stream(folder / "out.txt").write("done\\n")
>>> (folder / "out.txt").read_text()
'done\\n'
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from scorer._errors import BackendError, CacheError, ConfigError

__all__ = [
    "PARTIAL_ENDINGS",
    "InputRef",
    "StagedOutputs",
    "check_outputs",
    "inputs_of",
    "staged_outputs",
]

# An input file: a path, or an open file descriptor (stdin redirected from a file).
InputRef = str | os.PathLike[str] | int

# Ways a run can stop midway after answers were paid for: what was written is kept.
PARTIAL_ENDINGS: tuple[type[BaseException], ...] = (KeyboardInterrupt, BackendError, CacheError)

_NAME_LIMIT = 200  # keeps ".NAME.PID-RANDOM.tmp" under the usual 255-byte file-name limit


def check_outputs(
    paths: Sequence[Path],
    *,
    formats: Collection[str] | None = None,
    inputs: Iterable[InputRef] = (),
    kind: str = "output",
) -> None:
    """Refuse outputs that would lose or clobber something, before anything is read or written.

    ``formats`` are the accepted extensions (lower case, with the dot); None
    accepts any; ``kind`` names the outputs in that message. ``inputs`` are
    the files the run reads (``"-"`` is skipped; an int is an open
    descriptor, e.g. ``sys.stdin.fileno()``). Raises :class:`ConfigError`
    with one line naming the output.
    """
    taken: dict[object, Path] = {}
    input_ids = {key for key in (_input_identity(ref) for ref in inputs) if key is not None}
    for path in paths:
        if formats is not None and path.suffix.lower() not in formats:
            *first, last = formats
            known = f"{', '.join(first)} or {last}" if first else last
            raise ConfigError(f"{path}: unknown {kind} format (use {known})")
        real = Path(os.path.realpath(path))
        identity = _file_identity(real)
        if (identity is not None and identity in input_ids) or real in input_ids:
            raise ConfigError(f"{path}: output is the input file; choose another output name")
        for key in (identity, real):
            if key is not None and key in taken:
                raise ConfigError(f"{path}: the same file as output {taken[key]}; give it once")
        taken.update({key: path for key in (identity, real) if key is not None})
        if real.is_dir():
            raise ConfigError(f"{path}: is a folder, not a file")
        if real.exists() and not real.is_file():  # a device or FIFO, written in place
            if not os.access(real, os.W_OK):
                raise ConfigError(f"{path}: not writable")
            continue
        folder = real.parent
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist"
            raise ConfigError(f"{path}: folder {folder} {problem}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{path}: folder {folder} is not writable")


def inputs_of(source: str | Path | None, *, stdin: TextIO | None = None) -> list[InputRef]:
    """The files a run reading ``source`` reads, for :func:`check_outputs`' ``inputs``.

    ``"-"`` (standard input) is the file ``stdin`` is redirected from, when it
    is one: ``scorer batch - -o papers.jsonl < papers.jsonl`` must be refused
    as much as naming the file twice. None (papers from elsewhere) reads no file.

    >>> inputs_of("papers.csv"), inputs_of(None)
    (['papers.csv'], [])
    """
    if source is None:
        return []
    if str(source) != "-":
        return [source]
    try:
        return [(stdin or sys.stdin).fileno()]
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's stdin)
        return []


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _input_identity(ref: InputRef) -> object:
    if isinstance(ref, int):
        try:
            info = os.fstat(ref)
        except OSError:
            return None
        return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None
    if str(ref) == "-":
        return None
    real = Path(os.path.realpath(ref))
    return _file_identity(real) or real


class _Staged:
    """One output: its final path, and the temporary file (or device) written meanwhile."""

    def __init__(self, path: Path) -> None:
        self.final = Path(os.path.realpath(path))
        self.tmp: Path | None = None
        self.stream: TextIO | None = None

    def open(self) -> None:
        if self.final.exists() and not self.final.is_file():
            # A device or FIFO: written in place (nothing to lose, nothing to replace).
            self.stream = self.final.open("w", encoding="utf-8", newline="")
            return
        _remove_orphans(self.final)
        prefix = f".{self.final.name[:_NAME_LIMIT]}.{os.getpid()}-"
        while True:
            tmp = self.final.with_name(f"{prefix}{secrets.token_hex(4)}.tmp")
            try:
                # 0o666 less the umask, like a file opened for writing: mkstemp's
                # 0o600 would make every new output private.
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            break
        self.tmp = tmp
        self.stream = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.tmp is None:
            return
        with contextlib.suppress(OSError):  # keep the replaced file's permissions
            self.tmp.chmod(stat.S_IMODE(self.final.stat().st_mode))
        self.tmp.replace(self.final)
        self.tmp = None

    def discard(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(OSError):
                self.stream.close()
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def _remove_orphans(final: Path) -> None:
    """Delete temporary files for ``final`` left by processes that no longer exist."""
    pattern = re.compile(rf"\.{re.escape(final.name[:_NAME_LIMIT])}\.(\d+)-[0-9a-f]+\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(final.parent):
            found = pattern.fullmatch(entry.name)
            if found and not _alive(int(found.group(1))):
                with contextlib.suppress(OSError):
                    Path(entry.path).unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class StagedOutputs:
    """Temporary files beside their final paths, committed or discarded together.

    :meth:`open` creates them (a folder that cannot take a file fails here,
    before any model call, as :class:`ConfigError`); :meth:`stream` gives the
    text stream for an output; :meth:`commit` moves every file into place;
    :meth:`discard` deletes them. Both are idempotent.
    """

    def __init__(self, paths: Iterable[Path]) -> None:
        self._files = {Path(path): _Staged(Path(path)) for path in paths}

    def open(self) -> None:
        """Create every temporary file; on failure none is left."""
        for path, staged in self._files.items():
            try:
                staged.open()
            except OSError as exc:
                self.discard()
                raise ConfigError(f"{path}: cannot write there ({exc.strerror})") from exc

    def stream(self, path: Path) -> TextIO:
        """The open stream that becomes ``path``."""
        stream = self._files[Path(path)].stream
        if stream is None:
            raise ValueError(f"{path}: not open")
        return stream

    def is_staged(self, path: Path) -> bool:
        """Whether ``path`` goes to a temporary file (not a device or FIFO written in place)."""
        return self._files[Path(path)].tmp is not None

    def commit(self) -> None:
        """Move every output into place (atomically each); then nothing temporary is left."""
        try:
            for staged in self._files.values():
                staged.commit()
        finally:
            self.discard()

    def discard(self) -> None:
        """Delete every temporary file not yet committed; the old outputs stay as they were."""
        for staged in self._files.values():
            staged.discard()


@contextlib.contextmanager
def staged_outputs(
    paths: Iterable[Path], *, keep_partial: Callable[[], bool] = lambda: False
) -> Iterator[StagedOutputs]:
    """Stage ``paths`` for the ``with`` block: committed when it ends normally.

    When the block stops on one of :data:`PARTIAL_ENDINGS` (Ctrl-C, a backend
    or cache error) and ``keep_partial()`` is true, what was written is
    committed (answers paid for are kept); on anything else (an input, usage or
    configuration error) every output is left as it was.
    """
    staged = StagedOutputs(paths)
    staged.open()
    try:
        yield staged
    except BaseException as exc:
        if isinstance(exc, PARTIAL_ENDINGS) and keep_partial():
            staged.commit()
        raise
    else:
        staged.commit()
    finally:
        staged.discard()
