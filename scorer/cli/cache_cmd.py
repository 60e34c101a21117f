"""``scorer cache``: inspect and clear the result cache."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from scorer.cli.options import cache_options, settings_from
from scorer.engine._cache import ResultCache

__all__ = ["cache"]


@click.group()
def cache() -> None:
    """The result cache (scores already paid for)."""


def _open(cache_dir: Path | None) -> ResultCache | Path:
    """The cache, or its path when there is none yet: looking must not create one."""
    directory = settings_from(cache_dir=cache_dir).cache_dir
    return ResultCache(directory) if directory.is_dir() else directory


@cache.command("stats")
@cache_options
def stats(cache_dir: Path | None) -> None:
    """Where the cache is, how many results it holds, and its size."""
    store = _open(cache_dir)
    if isinstance(store, Path):
        click.echo(f"directory: {store} (no cache there yet)")
        click.echo("entries:   0")
        return
    with contextlib.closing(store):  # also when it fails: not left to the garbage collector
        info = store.stats()
    click.echo(f"directory: {info.directory}")
    click.echo(f"entries:   {info.entries}")
    click.echo(f"size:      {info.size_bytes / 1e6:.1f} MB")


@cache.command("clear")
@cache_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(cache_dir: Path | None, yes: bool) -> None:
    """Delete every cached result."""
    store = _open(cache_dir)
    if isinstance(store, Path):
        click.echo(f"nothing to clear: no cache at {store}")
        return
    with contextlib.closing(store):  # also when the user says no
        if not yes:
            click.confirm(f"Delete all cached results in {store.directory}?", abort=True)
        removed = store.clear()
    click.echo(f"removed {removed} cached result(s) from {store.directory}")
