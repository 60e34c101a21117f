"""Prometheus metrics of one service instance, and the middleware that counts requests.

Each app has its own :class:`~prometheus_client.CollectorRegistry`, so two
apps in one process (tests) never share or collide on counters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scorer._models import ScoredPaper, Usage
from scorer.eval._prices import price_usage

__all__ = ["METRICS_CONTENT_TYPE", "MetricsMiddleware", "ServiceMetrics"]

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ServiceMetrics:
    """Requests, papers, cache hits, model requests, tokens and latencies."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "scorer_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "scorer_http_request_duration_seconds",
            "Time from request to the end of the response (a whole NDJSON stream for batches).",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.papers = Counter(
            "scorer_papers",
            "Papers answered, by outcome: scored (by the model now), cached, failed.",
            ["outcome"],
            registry=r,
        )
        self.cache_hits = Counter(
            "scorer_cache_hits", "Papers answered without a model request.", registry=r
        )
        self.model_requests = Counter(
            "scorer_model_requests",
            "Requests sent to the model (retries and re-asks included).",
            registry=r,
        )
        self.tokens = Counter(
            "scorer_tokens", "Tokens spent at the model, by kind.", ["kind"], registry=r
        )
        self._spent_by_model: dict[str, Usage] = {}
        self._spent_lock = threading.Lock()
        r.register(_CostCollector(self))
        self.paper_seconds = Histogram(
            "scorer_paper_latency_seconds",
            "Time to answer one paper (cache lookup or model request).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        for outcome in ("scored", "cached", "failed"):
            self.papers.labels(outcome)  # present (at 0) before the first paper
        for kind in ("prompt", "cached_prompt", "completion"):
            self.tokens.labels(kind)

    def observe(self, result: ScoredPaper) -> None:
        """Count one paper's result."""
        if result.error is not None:
            outcome = "failed"
        elif result.cached:
            outcome = "cached"
            self.cache_hits.inc()
        else:
            outcome = "scored"
        self.papers.labels(outcome).inc()
        self._spent(result.model, result.usage)
        self.paper_seconds.observe(result.latency_s)

    def observe_failure(self, usage: Usage | None, model: str | None = None) -> None:
        """Count a paper whose request failed (and what it spent on the way)."""
        self.papers.labels("failed").inc()
        if usage is not None:
            self._spent(model, usage)

    def _spent(self, model: str | None, usage: Usage) -> None:
        if not usage.requests:
            return
        self.model_requests.inc(usage.requests)
        self.tokens.labels("prompt").inc(usage.prompt_tokens)
        self.tokens.labels("cached_prompt").inc(usage.cached_prompt_tokens)
        self.tokens.labels("completion").inc(usage.completion_tokens)
        if model:  # priced when scraped: the price database loads in about a second
            with self._spent_lock:
                self._spent_by_model[model] = self._spent_by_model.get(model, Usage()) + usage

    def cost_usd(self) -> float:
        """USD spent so far, at genai-prices' prices; models without a known price add 0."""
        with self._spent_lock:
            spent = list(self._spent_by_model.items())
        return sum(price_usage(model, usage) or 0.0 for model, usage in spent)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _CostCollector(Collector):
    """``scorer_cost_usd``: what the model requests cost, priced at scrape time."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "scorer_cost_usd",
            "USD spent at the model at genai-prices' prices (cached input priced apart); "
            "models without a known price add nothing.",
            value=self._metrics.cost_usd(),
        )


class MetricsMiddleware:
    """Counts every HTTP request (401s and 413s included) by route template and status.

    The route is matched here rather than read from the scope after the
    call, because requests that auth rejects never reach the router; and it
    is the template (``/v1/rubrics/{name}``), so label values stay few.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics, routes: Sequence[BaseRoute]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route_of(scope)
        # Methods are free-form tokens: an unbounded label would let any client grow
        # the metrics without limit.
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500
        started = time.perf_counter()

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.request_seconds.labels(route, method).observe(
                time.perf_counter() - started
            )

    def _route_of(self, scope: Scope) -> str:
        partial = "other"  # the path matches, the method does not (a 405)
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", "other"))
            if match is Match.PARTIAL and partial == "other":
                partial = str(getattr(route, "path", "other"))
        return partial
