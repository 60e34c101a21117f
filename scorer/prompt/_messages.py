"""Turn (rubric, paper) into chat messages, from the templates in ``prompts/``.

The rubric goes in the system message, which is identical for every paper
scored against it: a stable prefix that providers' prompt caches (and
llama.cpp's slot cache) can reuse. The paper goes last, inside a delimited
data block.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

import jinja2
import jinja2.nodes

from scorer._models import Paper
from scorer._resources import resource_dir
from scorer._rubric import Example, Rubric
from scorer.engine._lru import LRU
from scorer.prompt._data_block import neutralised_paper

__all__ = ["MAX_JUSTIFICATION", "PromptTemplate", "load_prompt"]

MAX_JUSTIFICATION = 300
"""Upper bound on the justification's length, in characters (schema and prompt)."""


@dataclass(frozen=True)
class PromptTemplate:
    """A pair of templates (system, user) and the hash of their text.

    ``paper_fields`` names the paper fields the templates read (None: they
    use the paper as a whole); only those are cut to the input limits.
    """

    name: str
    system: jinja2.Template
    user: jinja2.Template
    content_hash: str
    paper_fields: frozenset[str] | None = None

    def messages(self, rubric: Rubric, paper: Paper, **extra: object) -> list[dict[str, str]]:
        """Chat messages asking for ``paper`` to be scored against ``rubric``.

        ``extra`` values are passed to the user template (e.g. the dimension a
        yes/no question is about).
        """
        return [
            {"role": "system", "content": self.system_text(rubric)},
            {"role": "user", "content": self.user_text(rubric, paper, **extra)},
        ]

    def user_text(self, rubric: Rubric, paper: Paper, **extra: object) -> str:
        """The paper part, closed by a reminder of the answer format."""
        # Every field is neutralised, so no paper text can open or close the
        # <paper> data block (see scorer.prompt._data_block).
        return self.user.render(paper=neutralised_paper(paper), rubric=rubric, **extra).strip()

    def system_text(self, rubric: Rubric) -> str:
        """The rubric part; rendered once per (template, rubric fingerprint)."""
        key = (self.content_hash, rubric.fingerprint)
        text = _SYSTEM_TEXTS.get(key)
        if text is None:
            text = self.system.render(
                rubric=rubric, example_answer=_example_answer, max_justification=MAX_JUSTIFICATION
            ).strip()
            _SYSTEM_TEXTS[key] = text
        return text


# The fingerprint covers everything the system template reads from a rubric.
_SYSTEM_TEXTS: LRU[tuple[str, str], str] = LRU(maxsize=256)  # bounded: a server sees many


def _example_answer(example: Example) -> str:
    return json.dumps({"justification": example.justification, **example.scores})


def _paper_fields(*sources: str) -> frozenset[str] | None:
    """The ``paper.X`` / ``paper["X"]`` the templates read; None if they use ``paper`` whole."""
    fields: set[str] = set()
    uses = 0
    for source in sources:
        tree = _ENV.parse(source)
        uses += sum(1 for name in tree.find_all(jinja2.nodes.Name) if name.name == "paper")
        for node in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem)):
            field = _paper_field(node)
            if field is not None:
                fields.add(field)
                uses -= 1
    return frozenset(fields) if uses == 0 else None


def _paper_field(node: jinja2.nodes.Node) -> str | None:
    """``X`` when ``node`` is ``paper.X`` or ``paper["X"]``."""
    if isinstance(node, jinja2.nodes.Getattr):
        target, field = node.node, node.attr
    elif isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
        target, field = node.node, node.arg.value
    else:
        return None
    is_paper = isinstance(target, jinja2.nodes.Name) and target.name == "paper"
    return field if is_paper and isinstance(field, str) else None


_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # plain-text chat messages, not HTML
    keep_trailing_newline=True,
)


@functools.lru_cache(maxsize=8)
def load_prompt(name: str = "score") -> PromptTemplate:
    """Load ``prompts/{name}.system.j2`` and ``prompts/{name}.user.j2``."""
    folder = resource_dir("prompts")
    system_src = (folder / f"{name}.system.j2").read_text(encoding="utf-8")
    user_src = (folder / f"{name}.user.j2").read_text(encoding="utf-8")
    digest = hashlib.sha256(f"{system_src}\0{user_src}".encode()).hexdigest()[:16]
    return PromptTemplate(
        name=name,
        system=_ENV.from_string(system_src),
        user=_ENV.from_string(user_src),
        content_hash=digest,
        paper_fields=_paper_fields(system_src, user_src),
    )
