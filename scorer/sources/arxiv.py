"""Papers from the arXiv API, through the maintained ``arxiv`` client.

The client owns paging, the polite delay between requests (arXiv asks for
one request every three seconds) and the retries. Around it this module adds
what a batch needs: a search built from categories and a date window, papers
as :class:`~scorer.models.Paper` (arXiv ids without version), each paper once
(cross-listed papers and entries the API repeats across pages), a timeout on
every request, a back-off on 429/5xx before the client retries, and failures
as one :class:`~scorer.errors.InputError` that names the search and the API's
own message. An empty result is not an error.

The endpoint is ``base_url``, else ``SCORER_ARXIV_URL``, else the real
``https://export.arxiv.org/api/query``; the delay is ``delay_seconds``, else
``SCORER_ARXIV_DELAY``, else 3 seconds (both read at call time).

>>> import datetime as dt
>>> day = dt.date(2026, 2, 23)
>>> arxiv_query(categories=["cs.DC", "cs.LG"], since=day, until=day)
'(cat:cs.DC OR cat:cs.LG) AND submittedDate:[202602230000 TO 202602232359]'
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import arxiv  # type: ignore[import-untyped]
import requests
from pydantic import ValidationError
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from scorer.errors import ConfigError, InputError
from scorer.identity import dedupe_papers
from scorer.models import Paper
from scorer.retry_after import retry_after
from scorer.whitespace import one_line

__all__ = ["DEFAULT_ARXIV_URL", "arxiv_query", "fetch_arxiv", "paper_from_result"]

DEFAULT_ARXIV_URL = "https://export.arxiv.org/api/query"
"""The arXiv API's query endpoint."""

MAX_PAGE_SIZE = 2000  # the API's limit per request

_log = logging.getLogger(__name__)
_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z\-]*(\.[A-Za-z][A-Za-z\-]*)?$")
_VERSION = re.compile(r"v\d+$")
_FIRST_DAY = dt.date(1991, 8, 1)  # arXiv's first submissions
_ATOM = "{http://www.w3.org/2005/Atom}"
_MAX_WAIT = 60.0  # seconds: the longest back-off, whatever retry-after says


def arxiv_query(
    query: str | None = None,
    *,
    categories: Sequence[str] = (),
    since: dt.date | None = None,
    until: dt.date | None = None,
    today: dt.date | None = None,
) -> str:
    """The arXiv ``search_query`` for a text query, categories and a submission-date window.

    Categories are OR-ed (a paper cross-listed in several comes back once);
    the parts are AND-ed. A window open at one end runs from arXiv's first
    day, or to ``today`` (default: today in UTC, arXiv's clock).

    >>> arxiv_query("ti:speculative", categories=["cs.CL"])
    '(ti:speculative) AND cat:cs.CL'
    """
    for category in categories:
        if not _CATEGORY.match(category):
            raise InputError(f"not an arXiv category: {category!r} (e.g. cs.DC, hep-th)")
    if since and until and since > until:
        raise InputError(f"--since {since} is after --until {until}")
    parts: list[str] = []
    text = (query or "").strip()
    cats = [f"cat:{c}" for c in dict.fromkeys(categories)]
    if since or until:
        end = until or today or dt.datetime.now(dt.UTC).date()
        start = since or _FIRST_DAY
        parts.append(f"submittedDate:[{start:%Y%m%d}0000 TO {end:%Y%m%d}2359]")
    if len(cats) > 1:
        parts.insert(0, f"({' OR '.join(cats)})")
    elif cats:
        parts.insert(0, cats[0])
    if text:
        parts.insert(0, f"({text})" if parts else text)
    return " AND ".join(parts)


def fetch_arxiv(
    query: str | None = None,
    *,
    ids: Sequence[str] = (),
    categories: Sequence[str] = (),
    since: dt.date | None = None,
    until: dt.date | None = None,
    max_results: int | None = None,
    page_size: int = 100,
    delay_seconds: float | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    num_retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    env: Mapping[str, str] | None = None,
) -> Iterator[Paper]:
    """Yield the papers an arXiv search finds, each once, page by page (lazily).

    ``query`` is arXiv search syntax (``ti:"kv cache" AND abs:vllm``, or plain
    words); ``ids`` limits to these arXiv ids; ``categories`` and
    ``since``/``until`` (submission dates, inclusive, UTC) narrow it. Listings
    (categories or dates without a text query) come newest first; text and id
    searches by relevance. ``max_results`` caps the unique papers yielded.
    ``sleep`` is how back-off waits are taken (tests pass a recorder).

    The arguments are checked at once; request failures (a rejected query,
    HTTP 429/5xx after retries, no connection) raise ``InputError`` while
    iterating.

    >>> papers = fetch_arxiv(categories=["cs.DC"], since=dt.date(2026, 2, 23))  # doctest: +SKIP
    >>> next(papers).id  # doctest: +SKIP
    '2602.21548'
    """
    url, delay = _endpoint(base_url, delay_seconds, os.environ if env is None else env)
    if not (query and query.strip()) and not ids and not categories and not (since or until):
        raise InputError("nothing to search arXiv for: give a query, categories, dates or ids")
    if max_results is not None and max_results < 1:
        raise InputError(f"max_results must be at least 1, not {max_results}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InputError(f"page_size must be from 1 to {MAX_PAGE_SIZE}, not {page_size}")
    search_query = arxiv_query(query, categories=categories, since=since, until=until)
    listing = bool(since or until or (categories and not (query and query.strip())))
    search = arxiv.Search(
        query=search_query,
        id_list=list(ids),
        max_results=None,  # counted below, after duplicates are dropped
        sort_by=arxiv.SortCriterion.SubmittedDate if listing else arxiv.SortCriterion.Relevance,
    )
    client = arxiv.Client(
        page_size=min(page_size, max_results or page_size),
        delay_seconds=delay,
        num_retries=num_retries,
    )
    client.query_url_format = url.replace("{", "{{").replace("}", "}}") + "?{}"
    transport = _Transport(timeout=timeout, backoff=max(delay, 1.0), sleep=sleep)
    # The client has no hook for its requests.Session; a transport adapter on
    # that session is requests' own extension point for timeouts and statuses.
    client._session.mount("http://", transport)
    client._session.mount("https://", transport)
    described = _describe(search_query, ids)
    papers = dedupe_papers(_papers(client.results(search), described, url, num_retries))
    return itertools.islice(papers, max_results)


def paper_from_result(result: Any) -> Paper:
    """A :class:`Paper` from an ``arxiv.Result``: id without version, whitespace folded.

    ``url`` is the abstract page of the version returned (as in a digest's
    ``[arXiv](...)`` link); ``published`` is the first version's date (UTC).
    Raises ``pydantic.ValidationError`` for an entry without title or abstract.
    """
    url = next((link.href for link in result.links if link.rel == "alternate"), result.entry_id)
    return Paper(
        id=_VERSION.sub("", result.get_short_id()),
        title=one_line(result.title),
        abstract=one_line(result.summary),
        authors=[author.name for author in result.authors],
        published=result.published.date(),
        url=url,
        pdf_url=result.pdf_url,
        categories=list(dict.fromkeys(result.categories)),
    )


def _papers(results: Iterator[Any], described: str, url: str, num_retries: int) -> Iterator[Paper]:
    """Papers from the client's results; its exceptions become one clear InputError."""
    try:
        for result in results:
            try:
                yield paper_from_result(result)
            except ValidationError as exc:
                _log.warning("skipping arXiv entry %s: %s", result.entry_id, exc)
    except _Rejected as exc:
        raise InputError(
            f"arXiv rejected the search {described}: {exc.message} (HTTP {exc.status})"
        ) from exc
    except arxiv.HTTPError as exc:
        raise InputError(
            f"arXiv answered HTTP {exc.status} to the search {described} "
            f"{num_retries + 1} times; try again later"
        ) from exc
    except arxiv.UnexpectedEmptyPageError as exc:
        raise InputError(
            f"arXiv returned an empty page in the middle of the search {described} "
            f"{num_retries + 1} times; try again later"
        ) from exc
    except requests.RequestException as exc:
        raise InputError(
            f"cannot reach the arXiv API at {url} for the search {described}: {_reason(exc)}"
        ) from exc


def _reason(exc: Exception) -> str:
    """The innermost reason of a requests error, without urllib3's pool and URL preamble."""
    reason: object = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    return str(reason)


def _endpoint(
    base_url: str | None, delay_seconds: float | None, env: Mapping[str, str]
) -> tuple[str, float]:
    url = (base_url or env.get("SCORER_ARXIV_URL", "").strip() or DEFAULT_ARXIV_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"arXiv API URL must be http(s)://..., not {url!r}")
    raw: object = delay_seconds
    if raw is None:
        raw = env.get("SCORER_ARXIV_DELAY", "").strip() or 3.0
    try:
        delay = float(str(raw))
    except ValueError:
        raise ConfigError(f"arXiv delay must be a number of seconds, not {raw!r}") from None
    if delay < 0:
        raise ConfigError(f"arXiv delay must not be negative, not {delay}")
    return url, delay


def _describe(search_query: str, ids: Sequence[str]) -> str:
    parts = [f"query {search_query!r}"] if search_query else []
    if ids:
        parts.append(f"ids {', '.join(ids)}")
    return f"({', '.join(parts)})"


class _Rejected(Exception):
    """The API refused the request itself (400, 404...): asking again cannot help.

    Deliberately not one of the exceptions the client retries on.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class _Transport(HTTPAdapter):
    """Every request with a timeout; rejected requests fail at once; 429/5xx wait first.

    The client retries a non-200 answer after its polite delay, which is too
    short for a server asking to slow down; waiting here first (``retry-after``
    when given, else doubling from ``backoff``) makes that retry a back-off,
    with the client still the one owner of the retry count.
    """

    def __init__(self, *, timeout: float, backoff: float, sleep: Callable[[float], None]) -> None:
        super().__init__()
        self._timeout = timeout
        self._backoff = backoff
        self._sleep = sleep
        self._failures = 0

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> Response:
        try:
            response = super().send(
                request, stream, timeout or self._timeout, verify, cert, proxies
            )
        except requests.exceptions.ReadTimeout as exc:
            # The client retries dropped connections but not slow answers, and
            # the arXiv API is sometimes slow: retry those the same way.
            raise requests.exceptions.ConnectionError(
                f"no answer within {self._timeout:g} s", request=request
            ) from exc
        status = response.status_code
        if status == 200:
            self._failures = 0
            if b"/api/errors#" in response.content:  # an error feed with status 200
                raise _Rejected(status, _error_message(response.content))
            return response
        if status in (408, 429) or status >= 500:
            self._failures += 1
            self._sleep(self._wait(response.headers))
            return response
        raise _Rejected(status, _error_message(response.content))

    def _wait(self, headers: Mapping[str, str]) -> float:
        doubling = self._backoff * 2.0 ** (self._failures - 1)
        return min(_MAX_WAIT, max(doubling, retry_after(headers) or 0.0))


def _error_message(body: bytes) -> str:
    """The API's own words from an error feed (its entry's summary), else the body's start."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        text = body.decode("utf-8", errors="replace").strip()
        return one_line(text)[:200] or "no message"
    for entry in root.iter(f"{_ATOM}entry"):
        summary = entry.findtext(f"{_ATOM}summary")
        if summary and summary.strip():
            return one_line(summary)
    return "no message"
