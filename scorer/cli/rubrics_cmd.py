"""``scorer rubrics``: list, show and validate rubrics."""

from __future__ import annotations

from pathlib import Path

import click

from scorer._resources import resource_dir
from scorer._rubric import builtin_rubric_names, load_rubric

__all__ = ["rubrics"]


@click.group()
def rubrics() -> None:
    """Built-in rubrics, and checking your own."""


@rubrics.command("list")
def list_rubrics() -> None:
    """List the built-in rubrics."""
    for name in builtin_rubric_names():
        rubric = load_rubric(name)
        dims = ", ".join(d.name for d in rubric.dimensions)
        click.echo(f"{name:28} {rubric.title}  [{dims}; threshold {rubric.threshold}]")


@rubrics.command("show")
@click.argument("name")
def show_rubric(name: str) -> None:
    """Print a built-in rubric's TOML (copy it to start your own), or a file's."""
    rubric = load_rubric(name)
    builtin = resource_dir("rubrics") / f"{rubric.name}.toml"
    path = Path(name) if Path(name).is_file() else builtin
    click.echo(path.read_text(encoding="utf-8"), nl=False)


@rubrics.command("validate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def validate_rubric(path: Path) -> None:
    """Check a rubric file; print its fingerprint if it is valid."""
    rubric = load_rubric(path)
    dims = ", ".join(d.name for d in rubric.dimensions)
    click.echo(
        f"{path}: ok — {rubric.name} ({dims}; threshold {rubric.threshold}; "
        f"fingerprint {rubric.fingerprint})"
    )
