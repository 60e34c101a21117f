"""The ``scorer`` command's exit codes, in one place; every command takes its codes from here.

0 success; 1 the run finished but is incomplete (rows skipped, papers
failed); 2 bad usage or input (unknown rubric, invalid paper or option);
3 the model could not score (endpoint errors, invalid answers); 4 the cache
could not be used; 75 a Batch API batch is still running (run again to
collect it; sysexits' EX_TEMPFAIL); 130 interrupted.

``scorer run`` (the daily digest) adds two: 5 some deliveries failed (they
are retried on the next run); 6 nothing new, only with
``--detailed-exitcode`` (otherwise a day with nothing new is a success, 0,
so a scheduled job does not fail on a quiet day). "Could not run" is 2, 3 or
4, as for every command.
"""

from __future__ import annotations

from scorer._errors import BackendError, CacheError, ScorerError

__all__ = [
    "EXIT_BACKEND",
    "EXIT_CACHE",
    "EXIT_DELIVERY_FAILED",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_NOTHING_NEW",
    "EXIT_PENDING",
    "EXIT_USAGE",
    "exit_code_for",
]

EXIT_INCOMPLETE = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3
EXIT_CACHE = 4
EXIT_DELIVERY_FAILED = 5
EXIT_NOTHING_NEW = 6
EXIT_PENDING = 75
EXIT_INTERRUPTED = 130


def exit_code_for(error: ScorerError) -> int:
    """The documented exit code for ``error``.

    >>> exit_code_for(CacheError("disk full")), exit_code_for(ScorerError("bad"))
    (4, 2)
    """
    if isinstance(error, BackendError):
        return EXIT_BACKEND
    if isinstance(error, CacheError):
        return EXIT_CACHE
    return EXIT_USAGE
