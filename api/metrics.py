"""Prometheus metrics of the API (``GET /metrics`` on the API's port).

``tickwork_http_requests_total`` and ``tickwork_http_request_duration_seconds`` by method, route
template (``/v1/jobs/{job_id}``, not the raw path: bounded cardinality; ``unmatched`` for unknown
paths) and status, plus the state gauges of ``worker.observability.metrics`` (queue depths, jobs,
webhook backlog), read from the broker and the database when scraped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from worker.observability.metrics import StateCollector

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@cache
def _http_metrics() -> SimpleNamespace:
    from prometheus_client import Counter, Histogram

    return SimpleNamespace(
        requests=Counter(
            "tickwork_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
        ),
        duration=Histogram(
            "tickwork_http_request_duration_seconds",
            "HTTP request latency (seconds) by method and route template.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
        ),
    )


@cache
def api_registry() -> CollectorRegistry:
    """What ``GET /metrics`` serves: this process's request metrics plus the state gauges (or,
    when PROMETHEUS_MULTIPROC_DIR is set, e.g. several uvicorn workers, every process's)."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    _http_metrics()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    registry.register(StateCollector())
    return registry


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(registry), CONTENT_TYPE_LATEST


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RequestMetrics:
    """ASGI middleware counting requests by route template; the router records the matched
    route in the (shared) scope, which is read once the response is done."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope)
            method = scope.get("method", "GET")
            method = method if method in METHODS else "other"
            metrics = _http_metrics()
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.duration.labels(method, route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template, with the prefix of the router it was included under
    (newer FastAPI records the router's own route, ``/jobs/{job_id}`` for ``/v1/jobs/job_1``)."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not template:
        return "unmatched"
    path, regex = str(scope.get("path", "")), getattr(route, "path_regex", None)
    if regex is None or regex.fullmatch(path):
        return str(template)
    cut = path.find("/", 1)
    while cut != -1:
        if regex.fullmatch(path[cut:]):
            return path[:cut] + str(template)
        cut = path.find("/", cut + 1)
    return str(template)
