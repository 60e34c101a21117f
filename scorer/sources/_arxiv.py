"""Papers from the arXiv API: search, paging, politeness, back-off and clear failures.

scorer owns the HTTP here (``requests``) and reads the Atom feed itself
(:mod:`scorer.sources._atom`): the ``arxiv`` client it used before had no
public way to set a timeout or see a 429's ``retry-after``. What a batch gets:
a search built from categories and a date window, papers as
:class:`~scorer._models.Paper` (arXiv ids without version), each paper once
(cross-listed papers and entries the API repeats across pages), one request
every ``delay`` seconds as arXiv's terms of use ask, a timeout on every
request, retries of 408/429/5xx, slow answers, dropped connections and
empty pages mid-search after a back-off, and failures as one
:class:`~scorer._errors.InputError` that names the search and the API's own
message. An empty result is not an error.

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
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from scorer import __version__
from scorer._errors import ConfigError, InputError
from scorer._models import Paper
from scorer._retry_after import retry_after
from scorer.engine._identity import dedupe_papers
from scorer.sources._atom import Feed, error_message, parse_feed

if TYPE_CHECKING:
    import requests

__all__ = ["DEFAULT_ARXIV_URL", "arxiv_query", "fetch_arxiv"]

DEFAULT_ARXIV_URL = "https://export.arxiv.org/api/query"
"""The arXiv API's query endpoint."""

MAX_PAGE_SIZE = 2000  # the API's limit per request

_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z\-]*(\.[A-Za-z][A-Za-z\-]*)?$")
_FIRST_DAY = dt.date(1991, 8, 1)  # arXiv's first submissions
_MAX_WAIT = 60.0  # seconds: the longest back-off, whatever retry-after says
_RETRIED_STATUS = frozenset({408, 429})  # and every 5xx


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
    ``sleep`` is how waits are taken, the polite delay and the back-off
    (tests pass a recorder).

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
    params = {
        "search_query": search_query,
        "id_list": ",".join(ids),
        # Listings newest first; text and id searches by relevance.
        "sortBy": "submittedDate" if listing else "relevance",
        "sortOrder": "descending",
    }
    pages = _Pages(
        url,
        described=_describe(search_query, ids),
        delay=delay,
        timeout=timeout,
        num_retries=num_retries,
        sleep=sleep,
    )
    size = min(page_size, max_results or page_size)
    papers = dedupe_papers(pages.papers(params, size))
    return itertools.islice(papers, max_results)


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


class _Pages:
    """The search's pages in turn, each asked for politely and retried as arXiv needs.

    A request waits until ``delay`` has passed since the one before. A 408,
    429 or 5xx, a dropped connection, an answer slower than ``timeout`` and an
    empty page in the middle of a search are asked again, up to
    ``num_retries`` times; after a 408/429/5xx the wait is ``retry-after``
    when given, else doubling from ``max(delay, 1)`` seconds. Anything else
    the API refuses fails at once: asking again cannot help.
    """

    def __init__(
        self,
        url: str,
        *,
        described: str,
        delay: float,
        timeout: float,
        num_retries: int,
        sleep: Callable[[float], None],
    ) -> None:
        self._url = url
        self._described = described
        self._delay = delay
        self._timeout = timeout
        self._num_retries = num_retries
        self._sleep = sleep
        self._backoff = max(delay, 1.0)
        self._failures = 0  # 408/429/5xx answers in a row: the back-off doubles with each
        self._last: float | None = None  # time.monotonic() of the last answer

    def papers(self, params: Mapping[str, str], size: int) -> Iterator[Paper]:
        """Every page's papers, from the first until the search's total is reached."""
        # Here, not at the top: every CLI command that takes arXiv options (batch, too)
        # imports this module, and only a fetch needs requests.
        import requests

        with requests.Session() as session:
            session.headers["User-Agent"] = f"scorer/{__version__}"
            start = 0
            feed = self._page(session, {**params, "start": "0", "max_results": str(size)}, True)
            total = feed.total
            while feed.entries:
                yield from feed.papers
                start += feed.entries
                if start >= total:
                    return
                page = {**params, "start": str(start), "max_results": str(size)}
                feed = self._page(session, page, False)

    def _page(self, session: requests.Session, params: dict[str, str], first: bool) -> Feed:
        import requests  # imported by papers() already; see there

        failure = ""
        for _ in range(self._num_retries + 1):
            self._pace()
            try:
                response = session.get(self._url, params=params, timeout=self._timeout)
            except requests.exceptions.ReadTimeout:
                # The API is sometimes slow: a slow answer is retried like a dropped one.
                failure = f"cannot reach {self._where()}: no answer within {self._timeout:g} s"
                continue
            except requests.exceptions.ConnectionError as exc:
                failure = f"cannot reach {self._where()}: {_reason(exc)}"
                continue
            except requests.RequestException as exc:
                raise InputError(f"cannot reach {self._where()}: {_reason(exc)}") from exc
            finally:
                self._last = time.monotonic()
            status = response.status_code
            if status in _RETRIED_STATUS or status >= 500:
                self._failures += 1
                self._sleep(self._wait(response.headers))
                failure = (
                    f"arXiv answered HTTP {status} to the search {self._described} "
                    f"{self._num_retries + 1} times; try again later"
                )
                continue
            if status != 200 or b"/api/errors#" in response.content:  # an error feed
                raise InputError(
                    f"arXiv rejected the search {self._described}: "
                    f"{error_message(response.content)} (HTTP {status})"
                )
            self._failures = 0
            feed = parse_feed(response.content)
            if feed.entries or first:
                return feed
            failure = (
                f"arXiv returned an empty page in the middle of the search {self._described} "
                f"{self._num_retries + 1} times; try again later"
            )
        raise InputError(failure)

    def _where(self) -> str:
        return f"the arXiv API at {self._url} for the search {self._described}"

    def _pace(self) -> None:
        """Wait until ``delay`` has passed since the last answer (arXiv's terms of use)."""
        if self._last is not None:
            left = self._delay - (time.monotonic() - self._last)
            if left > 0:
                self._sleep(left)

    def _wait(self, headers: Mapping[str, str]) -> float:
        doubling = self._backoff * 2.0 ** (self._failures - 1)
        return min(_MAX_WAIT, max(doubling, retry_after(headers) or 0.0))


def _reason(exc: Exception) -> str:
    """The innermost reason of a requests error, without urllib3's pool and URL preamble."""
    reason: object = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)
    return str(reason)
