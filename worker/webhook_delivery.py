"""Sending webhooks: batches of due messages over one pooled async httpx client.

The SSRF guard runs at connect time: every request's host is resolved here, every address is
checked (pipelines.webhooks.resolve_and_check), and the connection goes to the checked address
(with the original Host header and TLS server name), so a DNS answer that changes between check
and connect cannot send us inside. Redirects are never followed (a 3xx is a failed attempt).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import httpx

from pipelines import webhooks as signing
from pipelines.errors import PipelineError
from worker.storage.db import session_scope
from worker.storage.models import WebhookEndpoint, WebhookMessage
from worker.storage.webhooks import (
    EXCERPT_BYTES,
    Outcome,
    claim_due,
    fan_out,
    record_outcome,
    signing_secrets,
)

PER_ENDPOINT_CONCURRENCY = 4


class GuardedTransport(httpx.AsyncBaseTransport):
    """Resolves and checks the destination, then connects to the checked address only."""

    def __init__(self, *, allow: Sequence[str], allow_http: bool,
                 inner: httpx.AsyncBaseTransport | None = None) -> None:  # fmt: skip
        self._allow = list(allow)
        self._allow_http = allow_http
        self._inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        try:
            host, port = signing.check_url(url, allow_http=self._allow_http)
            addresses = await anyio.to_thread.run_sync(
                lambda: signing.resolve_and_check(host, port, allow=self._allow)
            )
        except PipelineError as exc:
            raise httpx.ConnectError(f"refused: {exc}", request=request) from exc
        address = addresses[0]
        request.url = request.url.copy_with(host=address)
        request.headers["Host"] = host if request.url.port is None else f"{host}:{port}"
        request.extensions["sni_hostname"] = host
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class Settings:
    allow: Sequence[str]
    allow_http: bool
    connect_timeout: float
    timeout: float
    concurrency: int
    disable_after: timedelta


async def _send(client: httpx.AsyncClient, message: WebhookMessage, endpoint: WebhookEndpoint,
                secrets: list[str]) -> Outcome:  # fmt: skip
    timestamp = int(time.time())
    legacy = secrets[0] if endpoint.legacy_signature else None
    headers = signing.headers(msg_id=message.id, timestamp=timestamp, body=message.body,
                              secrets=secrets, legacy_secret=legacy)  # fmt: skip
    started = time.perf_counter()
    try:
        response = await client.post(endpoint.url, content=message.body, headers=headers)
        excerpt = response.content[:EXCERPT_BYTES].decode("utf-8", errors="replace")
        return Outcome(
            status_code=response.status_code,
            latency_ms=int((time.perf_counter() - started) * 1000),
            excerpt=excerpt,
            error=None
            if signing.is_success(response.status_code)
            else f"HTTP {response.status_code}",
            retry_after=response.headers.get("retry-after"),
        )
    except httpx.HTTPError as exc:
        return Outcome(status_code=None, latency_ms=int((time.perf_counter() - started) * 1000),
                       excerpt="", error=f"{type(exc).__name__}: {exc}"[:2000])  # fmt: skip


async def _deliver_all(
    batch: list[tuple[WebhookMessage, WebhookEndpoint, list[str]]],
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None,
) -> list[Outcome]:
    limits = httpx.Limits(max_connections=settings.concurrency,
                          max_keepalive_connections=settings.concurrency)  # fmt: skip
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    guard = GuardedTransport(allow=settings.allow, allow_http=settings.allow_http, inner=transport)
    overall = asyncio.Semaphore(settings.concurrency)
    per_endpoint: dict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(PER_ENDPOINT_CONCURRENCY)
    )
    async with httpx.AsyncClient(transport=guard, limits=limits, timeout=timeout,
                                 follow_redirects=False) as client:  # fmt: skip

        async def one(message: WebhookMessage, endpoint: WebhookEndpoint,
                      secrets: list[str]) -> Outcome:  # fmt: skip
            async with overall, per_endpoint[endpoint.id]:
                return await _send(client, message, endpoint, secrets)

        return list(await asyncio.gather(*(one(m, e, s) for m, e, s in batch)))


def deliver_due(
    *,
    settings: Settings,
    batch_size: int,
    transport: httpx.AsyncBaseTransport | None = None,
    now: datetime | None = None,
) -> int:
    """Fan out new events, then send one batch of due messages. Returns how many were sent.

    Messages to one endpoint are sent in the order they became due, at most
    ``PER_ENDPOINT_CONCURRENCY`` at a time, so a receiver sees them nearly, not strictly, in order.
    """
    now = now or datetime.now(UTC)
    lease = timedelta(seconds=settings.timeout * 3 + 30)
    with session_scope() as s:
        fan_out(s, now=now)
        claimed = claim_due(s, now=now, limit=batch_size, lease=lease)
        batch = [(m, e, signing_secrets(e, now)) for m, e in claimed]
        for m, _e, _s in batch:  # detach what the async part reads
            s.expunge(m)
        for _m, e, _s in batch:
            if e in s:
                s.expunge(e)
    if not batch:
        return 0
    outcomes = asyncio.run(_deliver_all(batch, settings, transport))
    finished = datetime.now(UTC)
    with session_scope() as s:
        for (message, endpoint, _), outcome in zip(batch, outcomes, strict=True):
            m = s.get(WebhookMessage, message.id)
            e = s.get(WebhookEndpoint, endpoint.id)
            if m is None or e is None or m.status != "pending":
                continue  # deleted meanwhile, or finished by a resend elsewhere
            record_outcome(s, message=m, endpoint=e, outcome=outcome, now=finished,
                           disable_after=settings.disable_after)  # fmt: skip
    return len(batch)


def settings_from_env() -> Settings:
    from worker.settings import get_settings

    s = get_settings()
    return Settings(
        allow=s.webhook_allowed_networks,
        allow_http=s.webhook_allow_http,
        connect_timeout=s.webhook_connect_timeout,
        timeout=s.webhook_timeout,
        concurrency=s.webhook_concurrency,
        disable_after=timedelta(days=s.webhook_disable_after_days),
    )
