"""Delivery targets: apprise URLs with their secrets, and sending a message to one.

apprise (one URL syntax for SMTP, Slack, Discord, Teams, Telegram, Matrix,
ntfy, JSON/form webhooks, ...) does the sending; this module keeps secrets
out of sight around it:

- A URL written in the config in clear must hold no secret. apprise knows
  which parts of each service's URL are private (passwords, tokens) and
  masks them in ``url(privacy=True)``; a URL whose masked form differs, or
  with a password or a token-like query parameter, is refused with one line
  saying where to put the secret instead (``url_env``, ``url_file``,
  ``password_env``, ``password_file``).
- apprise logs URLs (partly masked: the first and last character of a
  password survive). While scorer calls it, its logger does not propagate to
  the application's logging; the records are kept, and the reason a delivery
  failed is the last warning, with every secret and every URL cut out.
- A :class:`Target` never shows its URL in ``repr`` or in an error.

An e-mail target (an apprise service whose first format is HTML) gets the
e-mail-safe HTML digest, and apprise adds a plain-text part derived from it;
any other target gets the Markdown digest in its own format, unconverted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from scorer._errors import ConfigError, redact
from scorer.daily._config import TargetSpec
from scorer.daily._messages import Message

__all__ = ["Target", "resolve_targets", "send_message"]

_SECRET_PARAMS = re.compile(r"(pass|secret|token|key|auth|sig)", re.IGNORECASE)
_DIVERTED = ("apprise", "urllib3")
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?]*)@")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_WORD = re.compile(r"[^/:@?&=#,;\s]{4,}")


@dataclass(frozen=True)
class Target:
    """A named delivery target, its URL resolved with its secrets (never shown)."""

    name: str
    url: str = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def hide(self, text: str) -> str:
        """``text`` with this target's secrets and any URL cut out."""
        return _URL.sub("<url>", redact(text, *sorted(self.secrets, key=len, reverse=True)))


def resolve_targets(
    specs: Mapping[str, TargetSpec], *, env: Mapping[str, str] | None = None
) -> dict[str, Target]:
    """Each target's URL, read from the config, the environment or a file, checked by apprise.

    Raises :class:`~scorer._errors.ConfigError` naming the target's key when a
    URL is missing, holds a secret in the config, or is not one apprise can
    send to. Nothing is sent.
    """
    env = os.environ if env is None else env
    return {name: _resolve(name, spec, env) for name, spec in specs.items()}


def _resolve(name: str, spec: TargetSpec, env: Mapping[str, str]) -> Target:
    key = f"targets.{name}"
    secrets: list[str] = []
    if spec.url is not None:
        url, where = spec.url.strip(), f"{key}.url"
        _refuse_inline_secret(url, where)
    elif spec.url_env is not None:
        url, where = _from_env(env, spec.url_env, f"{key}.url_env"), f"{key}.url_env"
        secrets += [url, *_url_words(url)]
    else:
        assert spec.url_file is not None
        url, where = _from_file(spec.url_file, f"{key}.url_file"), f"{key}.url_file"
        secrets += [url, *_url_words(url)]
    if spec.password_env is not None or spec.password_file is not None:
        if spec.password_env is not None:
            password = _from_env(env, spec.password_env, f"{key}.password_env")
        else:
            assert spec.password_file is not None
            password = _from_file(spec.password_file, f"{key}.password_file")
        secrets.append(password)
        url = _with_password(url, password, where)
    secrets += _WORD.findall(_private_parts(url))
    target = Target(name, url, tuple(secrets))
    if _service(target) is None:
        scheme = urlsplit(url).scheme or "none"
        raise ConfigError(
            f"{where}: not a URL apprise can send to (scheme {scheme!r}; "
            "see https://github.com/caronc/apprise/wiki)"
        )
    return target


def _refuse_inline_secret(url: str, where: str) -> None:
    parts = urlsplit(url)
    hint = "put it in password_env or password_file, or the whole URL in url_env or url_file"
    # Not urlsplit's password: a "#" or "?" in a password ends it there.
    userinfo = _USERINFO.match(url)
    if userinfo and ":" in userinfo.group(1):
        raise ConfigError(f"{where}: the URL holds a password in clear; {hint}")
    for name, _ in parse_qsl(parts.query):
        if _SECRET_PARAMS.search(name):
            raise ConfigError(f"{where}: the URL holds a secret ({name}=...) in clear; {hint}")
    if _private_parts(url):
        raise ConfigError(
            f"{where}: the URL holds a token in clear; give the whole URL in url_env or url_file"
        )


def _url_words(url: str) -> list[str]:
    """The words of a secret URL that may hold its token: user, path, query, fragment."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    return _WORD.findall(" ".join([userinfo, parts.path, parts.query, parts.fragment]))


def _private_parts(url: str) -> str:
    """The parts of ``url`` that apprise masks as private, joined (empty when none)."""
    with _quiet_apprise():
        service = _instantiate(url)
    if service is None:
        return ""
    shown = str(service.url(privacy=True))
    full = str(service.url(privacy=False))
    words = set(_WORD.findall(shown))
    return " ".join(w for w in _WORD.findall(full) if w not in words)


def _from_env(env: Mapping[str, str], variable: str, where: str) -> str:
    value = env.get(variable, "").strip()
    if not value:
        raise ConfigError(f"{where}: environment variable {variable} is not set")
    return value


def _from_file(path: Path, where: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.__class__.__name__}") from None
    if not value:
        raise ConfigError(f"{where}: {path} is empty")
    return value


def _with_password(url: str, password: str, where: str) -> str:
    parts = urlsplit(url)
    if not parts.username:
        raise ConfigError(f"{where}: the URL has no user name for the password (user@host)")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def send_message(target: Target, message: Message) -> str | None:
    """Send ``message`` to ``target``; None when it was accepted, else why not (secrets cut)."""
    from apprise import NotifyFormat

    with _quiet_apprise() as records:
        service = _service(target)
        if service is None:
            return "the target's URL is no longer valid"
        formats = service.notify_format
        first = formats[0] if isinstance(formats, tuple) else formats
        if first == NotifyFormat.HTML:
            body, body_format = message.html, NotifyFormat.HTML
        else:
            # Markdown is readable as text too: sent as the service's own format, unconverted.
            body, body_format = message.markdown, first
        try:
            ok = bool(service.notify(body=body, title=message.title, body_format=body_format))
        except Exception as exc:  # a plugin's own bug must not lose the other targets
            return target.hide(f"{exc.__class__.__name__}: {exc}")
    if ok:
        return None
    problems = [
        r.getMessage()
        for r in records
        if r.name.startswith("apprise") and r.levelno >= logging.WARNING
    ]
    reason = problems[-1] if problems else "the service did not accept the message"
    return target.hide(reason)


def _service(target: Target) -> Any:
    with _quiet_apprise():
        return _instantiate(target.url)


def _instantiate(url: str) -> Any:
    import apprise

    asset = apprise.AppriseAsset(storage_mode="memory")
    return apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _quiet_apprise() -> Iterator[list[logging.LogRecord]]:
    """apprise's log records (and urllib3's, which name request paths) kept here, none passed on.

    The loggers are diverted only while scorer calls apprise; their records
    never reach the application's handlers, whatever its logging level.
    """
    handler = _Records()
    saved = []
    for name in _DIVERTED:
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.level, list(logger.handlers)))
        logger.propagate = False
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        for logger, propagate, level, handlers in saved:
            logger.propagate, logger.handlers = propagate, handlers
            logger.setLevel(level)
