"""The daily run's configuration file: one TOML file, read and checked before anything runs.

::

    state = "daily-state.sqlite3"   # optional; default: daily-state.sqlite3 in the cache folder
    on_empty = "notify"             # or "skip": what a day with nothing new sends

    [model]                         # optional; as the command-line options (env still applies)
    model = "gpt-4o-mini"

    [[arxiv]]                       # any number of arXiv searches ...
    categories = ["cs.DC", "cs.LG"]
    query = "abs:inference"         # optional
    since = "last-run"              # or a date (2026-02-23), or days = 2

    [[file]]                        # ... and of CSV/JSONL files
    path = "papers.csv"

    [prefilter]                     # optional: send only the most similar share to the model
    top = "30%"

    [[digest]]                      # one per rubric: its files and who receives it
    rubric = "llm-inference"
    outputs = ["digest.md", "digest.atom"]
    send_to = ["me"]

    [targets.me]                    # an apprise URL; secrets from the environment or a file
    url = "mailtos://bot@smtp.example.com?to=me@example.com"
    password_env = "SMTP_PASSWORD"

Every table forbids keys it does not know, and every error is one line that
names the key (``daily.toml: digest[0].send_to: unknown target 'team'``).
Relative paths are relative to the config file's folder, so cron can run it
from anywhere.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scorer._errors import ConfigError, InputError

__all__ = [
    "ArxivSource",
    "DailyConfig",
    "DigestSpec",
    "FileSource",
    "ModelOptions",
    "Prefilter",
    "TargetSpec",
    "load_config",
]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelOptions(_Strict):
    """Where and how papers are scored: the command-line model options, by the same names."""

    model: str | None = None
    base_url: str | None = None
    backend: Literal["auto", "openai", "embedded"] | None = None
    method: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    cache_dir: Path | None = None
    no_cache: bool = False
    concurrency: int = Field(default=16, ge=1, le=1024)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)


class ArxivSource(_Strict):
    """An arXiv search: categories and/or a query, over a window of submission days.

    ``since = "last-run"`` starts the window on the day of the last run whose
    every delivery succeeded (``first_days`` back from today when there is
    none); a date starts it on that day; ``days = N`` covers the last N days.
    """

    query: str | None = None
    categories: list[str] = Field(default_factory=list)
    since: Literal["last-run"] | dt.date | None = None
    days: int | None = Field(default=None, ge=1)
    until: dt.date | None = None
    first_days: int = Field(default=2, ge=1)
    max_results: int | None = Field(default=None, ge=1)
    url: str | None = None
    delay: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_window(self) -> ArxivSource:
        if self.since is not None and self.days is not None:
            raise ValueError("give since or days, not both")
        if not (self.query and self.query.strip()) and not self.categories:
            raise ValueError("an arXiv source needs categories or a query")
        return self


class FileSource(_Strict):
    """A CSV or JSONL file of papers; ``columns`` maps fields to headers as ``--column`` does."""

    path: Path
    columns: dict[str, str] = Field(default_factory=dict)


class Prefilter(_Strict):
    """Send only the share of papers most similar to the rubric's text (TF-IDF) to the model."""

    top: str | float

    @field_validator("top")
    @classmethod
    def _share(cls, value: str | float) -> str | float:
        from scorer.eval._baseline import parse_fraction

        try:
            parse_fraction(str(value))
        except InputError as exc:  # reported as this key's error, like any other
            raise ValueError(str(exc)) from None
        return value

    @property
    def fraction(self) -> float:
        """The share as a fraction in (0, 1]."""
        from scorer.eval._baseline import parse_fraction

        return parse_fraction(str(self.top))


class DigestSpec(_Strict):
    """One rubric's digest: the files written and the targets it is sent to."""

    rubric: str
    threshold: int | None = Field(default=None, ge=0, le=100)
    top: int | None = Field(default=None, ge=0)
    outputs: list[Path] = Field(default_factory=list)
    send_to: list[str] = Field(default_factory=list)


class TargetSpec(_Strict):
    """Who receives a digest: an apprise URL, given in exactly one of three ways.

    ``url`` in the config only when it holds no secret; ``url_env`` names an
    environment variable and ``url_file`` a file holding the URL (for chat
    webhooks, whose URL is the secret). ``password_env`` / ``password_file``
    add a password to the URL's user (SMTP).
    """

    url: str | None = None
    url_env: str | None = None
    url_file: Path | None = None
    password_env: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _one_url(self) -> TargetSpec:
        given = [self.url, self.url_env, self.url_file]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of url, url_env, url_file")
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give password_env or password_file, not both")
        return self


Name = Annotated[str, Field(pattern=_NAME)]


class DailyConfig(_Strict):
    """A whole daily-run configuration (see the module docstring for the file)."""

    state: Path | None = None
    on_empty: Literal["notify", "skip"] = "notify"
    model: ModelOptions = ModelOptions()
    arxiv: list[ArxivSource] = Field(default_factory=list)
    file: list[FileSource] = Field(default_factory=list)
    prefilter: Prefilter | None = None
    digest: list[DigestSpec] = Field(min_length=1)
    targets: dict[Name, TargetSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> DailyConfig:
        if not self.arxiv and not self.file:
            raise ValueError("no papers: add an [[arxiv]] or a [[file]] source")
        for i, spec in enumerate(self.digest):
            for name in spec.send_to:
                if name not in self.targets:
                    known = ", ".join(sorted(self.targets)) or "none defined"
                    raise ConfigError(
                        f"digest[{i}].send_to: unknown target {name!r} (targets: {known})"
                    )
        return self


def load_config(path: str | Path) -> DailyConfig:
    """Read and check the config file at ``path``; relative paths become relative to its folder.

    Raises :class:`~scorer._errors.ConfigError` with one line naming the file
    and the key at fault.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        config = DailyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_problem(exc)}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _relative_to(config, path.parent)


def _first_problem(error: ValidationError) -> str:
    problem = error.errors(include_url=False)[0]
    where = _location(problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        message = "unknown key"
    elif problem["type"] == "missing":
        message = "missing"
    return f"{where}: {message}" if where else message


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "literal[", "date")):
            continue  # pydantic's name for one arm of a union, not a key the user wrote
        else:
            out += f".{part}" if out else str(part)
    return out


def _relative_to(config: DailyConfig, folder: Path) -> DailyConfig:
    def place(path: Path) -> Path:
        path = path.expanduser()
        return path if path.is_absolute() else folder / path

    return config.model_copy(
        update={
            "state": place(config.state) if config.state else None,
            "file": [f.model_copy(update={"path": place(f.path)}) for f in config.file],
            "digest": [
                d.model_copy(update={"outputs": [place(p) for p in d.outputs]})
                for d in config.digest
            ],
            "targets": {
                name: t.model_copy(
                    update={
                        "url_file": place(t.url_file) if t.url_file else None,
                        "password_file": place(t.password_file) if t.password_file else None,
                    }
                )
                for name, t in config.targets.items()
            },
            "model": config.model.model_copy(update={"cache_dir": place(config.model.cache_dir)})
            if config.model.cache_dir
            else config.model,
        }
    )
