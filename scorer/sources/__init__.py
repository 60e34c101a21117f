"""Where papers come from besides files: the arXiv API.

>>> from scorer.sources import fetch_arxiv
>>> callable(fetch_arxiv)
True
"""

from scorer.sources._arxiv import DEFAULT_ARXIV_URL, arxiv_query, fetch_arxiv

__all__ = ["DEFAULT_ARXIV_URL", "arxiv_query", "fetch_arxiv"]
