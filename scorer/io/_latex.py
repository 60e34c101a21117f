"""LaTeX for BibTeX values: text that cannot close its field, and the verbatim fields.

Writing, :func:`latex` encodes text through ``pylatexenc`` (``%``, ``&``,
``{`` stay text) so that no value can close its field or start an entry:
URLs are not wrapped in ``\\url{}`` (their braces would be copied as they
are), math such as ``$\\alpha_{1}$`` is kept as written only when its braces
balance, ``"`` is written as itself and LaTeX's ligatures (``--``, ``''``
and two backquotes) are kept apart, so that the text reads back as it was.

The fields biblatex reads verbatim (:data:`VERBATIM_FIELDS`: URLs, DOIs,
files) are written as they are when that cannot end the field
(:func:`verbatim`), and read without LaTeX decoding (:func:`read_verbatim`).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bibtexparser.middlewares import LatexEncodingMiddleware
    from pylatexenc.latex2text import LatexNodes2Text  # type: ignore[import-untyped]

__all__ = ["VERBATIM_FIELDS", "decoder", "latex", "quiet_logger", "read_verbatim", "verbatim"]

# Fields biblatex reads verbatim, and Zotero and JabRef write so: "%20" in a URL
# is no LaTeX comment, "_v2" in a file name no subscript.
VERBATIM_FIELDS = frozenset({"url", "doi", "eprint", "file", "pdf"})
# What a hand-written file may still escape in them (``\url{...}``, ``a\_b``).
_URL_MACRO = re.compile(r"^\\url\{(.*)\}$", re.DOTALL)
_ESCAPED = re.compile(r"\\([_%#&$~])")


@functools.cache
def _encoder(keep_math: bool) -> LatexEncodingMiddleware:
    """One encoder per kind for the process: building one takes longer than encoding a
    hundred entries. URLs are never wrapped in ``\\url{...}``: the encoder copies a
    URL's characters as they are, braces included, so one could close its field."""
    from bibtexparser.middlewares import LatexEncodingMiddleware
    from pylatexenc.latexencode import (  # type: ignore[import-untyped]
        RULE_DICT,
        RULE_REGEX,
        UnicodeToLatexConversionRule,
        UnicodeToLatexEncoder,
    )

    # pylatexenc warns once per character it has no command for (every one of a
    # Chinese abstract), kept as it is, which is right: nothing to tell the user.
    # (An application that configures logging still gets them.)
    quiet_logger("pylatexenc")
    rules: list[Any] = []
    if keep_math:
        rules.append(UnicodeToLatexConversionRule(RULE_REGEX, [(_MATH, r"\1")]))
    # '"' is itself in a braced value (the default writes '', a closing curly quote);
    # "--", "''" and "``" are LaTeX ligatures (a dash, curly quotes): kept apart.
    # U+02C6 and U+02DC (modifier circumflex, small tilde) and U+221A (square root)
    # are written as themselves: their commands read back as "^", "~" and the root
    # followed by "()".
    kept = ('"', "\N{MODIFIER LETTER CIRCUMFLEX ACCENT}", "\N{SMALL TILDE}", "\N{SQUARE ROOT}")
    rules.append(UnicodeToLatexConversionRule(RULE_DICT, {ord(c): c for c in kept}))
    rules.append(UnicodeToLatexConversionRule(RULE_REGEX, [(_LIGATURE, r"\g<0>{}")]))
    encoder = UnicodeToLatexEncoder(conversion_rules=[*rules, "defaults"])
    return LatexEncodingMiddleware(encoder=encoder)


def decoder() -> LatexNodes2Text:
    """The LaTeX decoder bibtexparser uses by default, reading ``\\textasciicircum`` as ``^``.

    pylatexenc writes a caret as ``\\textasciicircum`` and reads that back as
    U+02C6 (a modifier letter, not the caret): ``x^2`` in a title came back changed.
    """
    from pylatexenc.latex2text import (
        LatexNodes2Text,
        MacroTextSpec,
        get_default_latex_context_db,
    )

    context = get_default_latex_context_db()
    context.add_context_category(
        "scorer-bibtex",
        prepend=True,
        # bibtexparser's own: no "< ... >" around a URL.
        macros=[MacroTextSpec("url", simplify_repl="%s"), MacroTextSpec("textasciicircum", "^")],
    )
    return LatexNodes2Text(latex_context=context, keep_braced_groups=False, math_mode="verbatim")


def quiet_logger(name: str) -> None:
    """Keep ``name``'s log records off stderr when the application handles no logging."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


# Text LaTeX reads as itself; encoding it would only cost time (the encoder
# looks at every character: about 10 ms for an abstract).
_PLAIN = re.compile(r"[A-Za-z0-9 .,:;!?()'\"/+=*<>@|\[\]-]*")
# Math kept as written (``$\alpha$``): bibtexparser's own pattern, greedy to the last ``$``.
_MATH = re.compile(r"(?<!\\)(\$.*[^\\]\$)")
# The first character of a LaTeX ligature: "--" (en dash), "''" and "``" (curly
# quotes), "?`" and "!`" (the inverted question and exclamation marks).
_LIGATURE = re.compile(r"-(?=-)|'(?=')|[`?!](?=`)")


def _braces_balanced(text: str) -> bool:
    """Whether ``text`` written as it is leaves a braced BibTeX value open or closed early.

    A brace after a backslash counts for some parsers (BibTeX's own) and not
    for others (bibtexparser): none is allowed.
    """
    depth = 0
    for i, char in enumerate(text):
        if char in "{}":
            if i and text[i - 1] == "\\":
                return False
            depth += 1 if char == "{" else -1
            if depth < 0:
                return False
    return depth == 0


def verbatim(text: str) -> str:
    """A URL, DOI or file written as it is, when that cannot end its field; else as LaTeX."""
    return text if "\\" not in text and _braces_balanced(text) else latex(text)


def latex(text: str) -> str:
    """``text`` as the LaTeX of a braced BibTeX value (see the module docstring)."""
    if _PLAIN.fullmatch(text) and not _LIGATURE.search(text):
        return text
    from bibtexparser.library import Library
    from bibtexparser.model import Entry, Field

    # Math is kept as written only when that cannot end the field: "$x} @article{...$"
    # in an abstract would otherwise start an entry of its own.
    keep_math = all(_braces_balanced(math.group()) for math in _MATH.finditer(text))
    done = _encoder(keep_math).transform(Library([Entry("misc", "x", [Field("v", text)])]))
    value: str = done.entries[0]["v"]
    return value


def read_verbatim(value: str) -> str:
    """A verbatim field's value, without the LaTeX a hand-written file may still put there."""
    wrapped = _URL_MACRO.match(value.strip())
    return _ESCAPED.sub(r"\1", wrapped.group(1) if wrapped else value)
