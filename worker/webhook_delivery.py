"""Sending webhooks: batches of due messages over one pooled async httpx client.

The SSRF guard runs at connect time: every request's host is resolved here, every address is
checked (pipelines.webhooks.resolve_and_check), and the connection goes to the checked address
(with the original Host header and TLS server name), so a DNS answer that changes between check
and connect cannot send us inside. Redirects are never followed (a 3xx is a failed attempt).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import httpx
import redis.asyncio as aioredis

from pipelines import webhooks as signing
from pipelines.errors import PipelineError
from worker.locks import redis_url
from worker.storage.db import session_scope
from worker.storage.webhooks import (
    EXCERPT_BYTES,
    Due,
    Outcome,
    Target,
    claim_due,
    fan_out,
    record_outcomes,
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
            if _is_ip_literal(host):  # nothing to resolve: no thread hop
                addresses = signing.resolve_and_check(host, port, allow=self._allow)
            else:
                addresses = await anyio.to_thread.run_sync(
                    lambda: signing.resolve_and_check(host, port, allow=self._allow)
                )
        except (PipelineError, OSError) as exc:
            raise httpx.ConnectError(f"refused: {exc}", request=request) from exc
        address = addresses[0]
        request.url = request.url.copy_with(host=address)
        request.headers["Host"] = host if request.url.port is None else f"{host}:{port}"
        request.extensions["sni_hostname"] = host
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Settings:
    allow: Sequence[str]
    allow_http: bool
    connect_timeout: float
    timeout: float
    concurrency: int
    disable_after: timedelta
    redis_url: str | None = None  # for per-endpoint rate limits shared by every worker


@dataclass
class SweepStats:
    """What a sweep did and where its time went (wall seconds), for logs and the benchmark."""

    sent: int = 0
    batches: int = 0
    fanned_out: int = 0
    claim_s: float = 0.0
    http_s: float = 0.0
    record_s: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(self).items()}


class Sweeper:
    """One delivery loop: a single pooled AsyncClient (one TLS context, kept-alive connections)
    reused for every batch, per-endpoint concurrency caps and rate limits.

    Use as ``async with Sweeper(settings) as sweeper: await sweeper.run(...)``.
    """

    def __init__(self, settings: Settings, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.stats = SweepStats()
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._redis: aioredis.Redis | None = None
        self._overall = asyncio.Semaphore(settings.concurrency)
        self._per_endpoint: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(PER_ENDPOINT_CONCURRENCY)
        )

    async def __aenter__(self) -> Sweeper:
        s = self.settings
        guard = GuardedTransport(allow=s.allow, allow_http=s.allow_http, inner=self._transport)
        self._client = httpx.AsyncClient(
            transport=guard,
            limits=httpx.Limits(
                max_connections=s.concurrency, max_keepalive_connections=s.concurrency
            ),
            timeout=httpx.Timeout(s.timeout, connect=s.connect_timeout),
            follow_redirects=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def run(self, *, batch_size: int, max_seconds: float) -> SweepStats:
        """Batch after batch until one comes back short or ``max_seconds`` have passed."""
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            if await self.batch(batch_size=batch_size) < batch_size:
                break
        return self.stats

    async def batch(self, *, batch_size: int, now: datetime | None = None) -> int:
        """Fan out new events, then send one batch of due messages. Returns how many were sent.

        Messages to one endpoint are sent in the order they became due, at most
        ``PER_ENDPOINT_CONCURRENCY`` at a time, so a receiver sees them nearly, not strictly,
        in order.
        """
        now = now or datetime.now(UTC)
        lease = timedelta(seconds=self.settings.timeout * 3 + 30)
        started = time.perf_counter()
        with session_scope() as s:
            self.stats.fanned_out += fan_out(s, now=now)
            claimed, targets = claim_due(s, now=now, limit=batch_size, lease=lease)
        sent_at = time.perf_counter()
        self.stats.claim_s += sent_at - started
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._one(due, targets[due.endpoint_id])
                                          for due in claimed))  # fmt: skip
        recorded_at = time.perf_counter()
        self.stats.http_s += recorded_at - sent_at
        with session_scope() as s:
            record_outcomes(s, results=list(zip(claimed, outcomes, strict=True)),
                            now=datetime.now(UTC),
                            disable_after=self.settings.disable_after)  # fmt: skip
        self.stats.record_s += time.perf_counter() - recorded_at
        self.stats.sent += len(claimed)
        self.stats.batches += 1
        return len(claimed)

    async def _one(self, due: Due, target: Target) -> Outcome:
        async with self._overall, self._per_endpoint[target.id]:
            if target.rate_limit:
                await self._rate_slot(target.id, target.rate_limit)
            return await self._send(due, target)

    async def _rate_slot(self, endpoint_id: str, per_second: int) -> None:
        """Wait for a slot in this second's window, counted in Redis across every worker."""
        if self._redis is None:
            if not self.settings.redis_url:
                raise RuntimeError("a per-endpoint rate limit needs Redis (TICKWORK_REDIS_URL)")
            self._redis = aioredis.Redis.from_url(self.settings.redis_url)
        while True:
            second = int(time.time())
            key = f"tickwork:webhook-rate:{endpoint_id}:{second}"
            async with self._redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(key).expire(key, 5).execute()
            if count <= per_second:
                return
            await asyncio.sleep(max(0.0, second + 1 - time.time()))

    async def _send(self, due: Due, target: Target) -> Outcome:
        assert self._client is not None, "use Sweeper as an async context manager"
        legacy = target.secrets[0] if target.legacy_signature else None
        headers = signing.headers(msg_id=due.id, timestamp=int(time.time()), body=due.body,
                                  secrets=target.secrets, legacy_secret=legacy)  # fmt: skip
        started = time.perf_counter()
        try:
            response = await self._client.post(target.url, content=due.body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(status_code=None,
                           latency_ms=int((time.perf_counter() - started) * 1000), excerpt="",
                           error=f"{type(exc).__name__}: {exc}"[:2000])  # fmt: skip
        status = response.status_code
        return Outcome(
            status_code=status,
            latency_ms=int((time.perf_counter() - started) * 1000),
            excerpt=response.content[:EXCERPT_BYTES].decode("utf-8", errors="replace"),
            error=None if signing.is_success(status) else f"HTTP {status}",
            retry_after=response.headers.get("retry-after"),
        )


async def sweep(settings: Settings, *, batch_size: int, max_seconds: float,
                transport: httpx.AsyncBaseTransport | None = None) -> SweepStats:  # fmt: skip
    async with Sweeper(settings, transport=transport) as sweeper:
        return await sweeper.run(batch_size=batch_size, max_seconds=max_seconds)


def deliver_due(
    *,
    settings: Settings,
    batch_size: int,
    transport: httpx.AsyncBaseTransport | None = None,
    now: datetime | None = None,
) -> int:
    """One batch (fan-out, claim, send, record) from synchronous code. Returns how many were sent.

    ``now`` stands in for the clock when choosing what is due, so tests can compress time.
    """

    async def one() -> int:
        async with Sweeper(settings, transport=transport) as sweeper:
            return await sweeper.batch(batch_size=batch_size, now=now)

    return asyncio.run(one())


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
        redis_url=_redis_url_or_none(),
    )


def _redis_url_or_none() -> str | None:
    try:
        return redis_url()
    except RuntimeError:  # no Redis configured: only a rate-limited endpoint needs one
        return None
