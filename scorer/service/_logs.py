"""What the service writes to its logs, and what it never writes: secrets and query strings.

``scorer serve`` hands :func:`log_config` to uvicorn: uvicorn's own format,
with :class:`SecretFilter` on every handler. The filter takes the model API
key, the service token and anything shaped like a masked key (what an
endpoint echoes back: ``sk-abc***xyz``) out of every message and traceback,
and the query string out of access-log lines: a client that put a token in
the URL (refused, see :mod:`scorer.service._query`) must not find it in a log.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

import uvicorn.config

from scorer.service._errors import scrub

__all__ = ["SecretFilter", "log_config"]

_QUERY = re.compile(r"\?[^\s\"]*")
_URL_QUERY = re.compile(r"(/[^\s?\"]*)\?[^\s\"]*")  # a query after a path, in free text


class SecretFilter(logging.Filter):
    """Rewrites each record without secrets (and, for access lines, without the query)."""

    def __init__(self, secrets: tuple[str | None, ...] = ()) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            # uvicorn's access formatter reads the request line from the args: keep
            # their shape, drop the query from each.
            record.args = tuple(
                self._clean(_QUERY.sub("", a)) if isinstance(a, str) else a for a in record.args
            )
        else:
            record.msg = self._clean(_URL_QUERY.sub(r"\1", record.getMessage()))
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True

    def _clean(self, text: str) -> str:
        return scrub(text, *self._secrets)


def log_config(secrets: tuple[str | None, ...]) -> dict[str, Any]:
    """uvicorn's logging configuration, every handler behind a :class:`SecretFilter`.

    The root logger gets the default handler too, so that what scorer and the
    libraries under it log (at WARNING and above) passes the same filter
    rather than Python's unfiltered last-resort handler.
    """
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"secrets": {"()": lambda: SecretFilter(secrets)}}
    for handler in config["handlers"].values():
        handler["filters"] = ["secrets"]
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
