"""Paper fields made safe to place in a digest: Markdown text and http(s)-only links.

Every field of a digest (titles, authors, abstracts, justifications, rubric
text, failure reasons) comes from a file, a feed or a model, so none may add
Markdown or HTML of its own. The escaping here is minimal on purpose: a
backslash goes only before characters that can start Markdown or HTML where
they stand, so ordinary text (``:``, ``-``, ``(``, ``$``, ``%``, ...) comes out
byte for byte as it came in, which keeps the seed digest's layout exact and the
raw Markdown readable.
"""

from __future__ import annotations

import re

from scorer._whitespace import one_line

__all__ = ["escape_markdown", "http_url", "markdown_block_start", "markdown_inline", "one_line"]

# Anywhere in a line: backslash escapes, code spans, emphasis, links and images,
# raw HTML and autolinks, GFM strikethrough, entity references (which would show
# "&lt;" as "<"), and a "#" that could start or close an ATX heading.
_INLINE = re.compile(r"[\\`*_\[\]<~]|&(?=#?[0-9A-Za-z]+;)|(?<!\S)#")
# Most fields hold none of these; a plain character class finds that out fast.
_MAYBE_INLINE = re.compile(r"[\\`*_\[\]<~&#]")

# Only at the start of a line (the abstract opens its blockquote's line): list
# items, nested quotes, thematic breaks and ordered-list numbers ("1. ", "2) ").
_BLOCK_START = re.compile(r"^(?:[-+>=]|\d{1,9}(?=[.)](?:\s|$)))")

# Only plain http(s) URLs with a host become links; the literal prefix leaves no
# room for "java\tscript:" tricks, and the excluded characters keep the URL one
# token in Markdown and in an HTML attribute.
_URL_CHAR = r"[^\s\"'<>\\`\x00-\x1f\x7f]"
_HTTP_URL = re.compile(rf"https?://(?![/?#]){_URL_CHAR}+", re.IGNORECASE)
# Parentheses end a Markdown link target early; %-encoded they mean the same to a server.
_PARENS = str.maketrans({"(": "%28", ")": "%29"})


def markdown_inline(text: str) -> str:
    """``text`` on one line, escaped so CommonMark shows it as text in the middle of a line.

    >>> markdown_inline("Why <b>this</b> [link](x) is *fine*: 100% C# code")
    'Why \\\\<b>this\\\\</b> \\\\[link\\\\](x) is \\\\*fine\\\\*: 100% C# code'
    """
    return escape_markdown(one_line(text))


def markdown_block_start(text: str) -> str:
    """Like :func:`markdown_inline`, for text that opens a line (or a blockquote's line).

    >>> markdown_block_start("- not a list, 2. not a number")
    '\\\\- not a list, 2. not a number'
    >>> markdown_block_start("1. not a list")
    '1\\\\. not a list'
    """
    return escape_markdown(one_line(text), line_start=True)


def escape_markdown(text: str, *, line_start: bool = False) -> str:
    """Escape ``text`` (already on one line) for CommonMark; ``line_start`` if it opens a line."""
    escaped = _INLINE.sub(r"\\\g<0>", text) if _MAYBE_INLINE.search(text) else text
    match = _BLOCK_START.match(escaped) if line_start else None
    if match is None:
        return escaped
    end = match.end()
    if match.group(0)[0].isdigit():  # escape the "." or ")" after the number
        return f"{escaped[:end]}\\{escaped[end:]}"
    return f"\\{escaped}"


def http_url(url: str | None) -> str | None:
    """``url`` as a link target, or None unless it is a plain http(s) URL with a host.

    >>> http_url("https://en.wikipedia.org/wiki/Bias_(statistics)")
    'https://en.wikipedia.org/wiki/Bias_%28statistics%29'
    >>> http_url("javascript:alert(1)") is None
    True
    """
    if url is None or not _HTTP_URL.fullmatch(url):
        return None
    return url.translate(_PARENS)
