"""``scorer score``: score one paper."""

from __future__ import annotations

import sys
from typing import Any

import click

from scorer._api import ascore
from scorer._errors import InputError
from scorer._local_model import DEMO_NOTICE
from scorer._loop import run_sync
from scorer._models import ScoredPaper
from scorer._rubric import Rubric, load_rubric
from scorer.cli.options import model_options, settings_from
from scorer.io._paper_file import read_paper_json

__all__ = ["score"]

# Logged by the embedded backend when it starts the demo model (see scorer._local_model).
EMBEDDED_NOTICE = DEMO_NOTICE


@click.command()
@click.option("--rubric", "-r", required=True, help="Built-in rubric name or a rubric .toml file.")
@click.option("--title", help="Paper title.")
@click.option("--abstract", help="Paper abstract.")
@click.option("--authors", help="Authors, separated by '; '.")
@click.option("--id", "paper_id", help="Paper id (arXiv id, DOI, ...).")
@click.option("--published", help="Publication date, YYYY-MM-DD.")
@click.option("--url", help="Link to the paper's page.")
@click.option("--pdf-url", help="Link to the PDF.")
@click.option(
    "--paper",
    "paper_file",
    type=click.File("rb"),
    help="A JSON file with the paper's fields ('-' reads standard input).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Readable text, or one JSON object for machines.",
)
@model_options
def score(
    rubric: str,
    title: str | None,
    abstract: str | None,
    authors: str | None,
    paper_id: str | None,
    published: str | None,
    url: str | None,
    pdf_url: str | None,
    paper_file: Any,
    fmt: str,
    **model_opts: Any,
) -> None:
    """Score one paper against a rubric.

    \b
    The paper comes from the flags, from --paper FILE.json, or as JSON on
    standard input when no paper flag is given:
      scorer score -r llm-inference --title "..." --abstract "..."
      echo '{"title": "...", "abstract": "..."}' | scorer score -r llm-inference
    """
    flags = {
        "title": title,
        "abstract": abstract,
        "authors": authors,
        "id": paper_id,
        "published": published,
        "url": url,
        "pdf_url": pdf_url,
    }
    paper = _paper_from(flags, paper_file)
    settings = settings_from(**model_opts)
    rubric_obj = load_rubric(rubric)
    result = run_sync(ascore(paper, rubric_obj, settings=settings))
    if fmt == "json":
        click.echo(result.model_dump_json())
    else:
        click.echo(_render_text(result, rubric_obj))


def _paper_from(flags: dict[str, str | None], paper_file: Any) -> dict[str, Any]:
    given = {key: value for key, value in flags.items() if value is not None}
    if paper_file is None and not given and not sys.stdin.isatty():
        paper_file = getattr(sys.stdin, "buffer", sys.stdin)
    if paper_file is None:
        if not given:
            raise InputError("no paper given: use --title and --abstract, --paper FILE, or stdin")
        return given
    name = str(getattr(paper_file, "name", "<stdin>"))
    if name.startswith("<") or name == "-":
        name = "<stdin>"
    data = read_paper_json(paper_file, name)
    return {**data, **given}  # flags win over the file


def _render_text(result: ScoredPaper, rubric: Rubric) -> str:
    scores = " | ".join(
        f"{dim.display}: {result.scores[dim.name]}/100" for dim in rubric.dimensions
    )
    verdict = "above" if result.passed else "below"
    threshold = rubric.threshold
    source = "cache" if result.cached else f"{result.usage.total_tokens} tokens"
    lines = [
        result.paper.title,
        f"{scores} — {verdict} threshold ({threshold}/100)",
        result.justification,
        f"[{result.model} · {source} · {result.latency_s:.2f} s]",
    ]
    if result.needs_human:
        primary = rubric.primary
        said = ", ".join(f"{r.model} {r.scores.get(primary.name)}" for r in result.reviews)
        lines.append(f"needs a human: the reviewers disagree about the threshold ({said})")
    return "\n".join(lines)
