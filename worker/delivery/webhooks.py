"""Sending webhooks: batches of due messages over one aiohttp session per sweep.

The SSRF guard is the session's DNS resolver. Each new connection's host is resolved there and
every address is checked (pipelines.webhooks.resolve_and_check); the connector then connects to
those checked addresses and to nothing else, so a DNS answer that changes between check and
connect cannot send us inside. The URL keeps its hostname: the Host header, the TLS server name
(SNI) and the certificate check are the hostname's. The connector does not resolve an IP literal,
so a literal is checked before its first request. Redirects are never followed (a 3xx is a failed
attempt); ``connect_timeout`` bounds resolving, connecting and the TLS handshake, ``timeout`` the
whole attempt, answer included; at most ``EXCERPT_BYTES`` of an answer are read.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

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
    record_outcomes,
)

PER_ENDPOINT_CONCURRENCY = 4  # the default of Settings.endpoint_concurrency


def _getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
    return socket.getaddrinfo(host, port, **kwargs)  # looked up per call, like asyncio's


class GuardedResolver(AbstractResolver):
    """The connector's resolver: the addresses it returns are the checked ones, or it raises
    ``ForbiddenAddressError`` (refused) or ``socket.gaierror`` (no answer)."""

    def __init__(self, *, allow: Sequence[str]) -> None:
        self._allow = tuple(allow)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        check = functools.partial(
            signing.resolve_and_check, host, port, allow=self._allow, resolver=_getaddrinfo
        )
        addresses = await asyncio.get_running_loop().run_in_executor(None, check)
        return [_connect_to(host, address, port) for address in addresses]

    async def close(self) -> None:
        pass


def _connect_to(hostname: str, address: str, port: int) -> ResolveResult:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the same destination; checked as that IPv4 address
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    return {
        "hostname": hostname,
        "host": str(ip),
        "port": port,
        "family": family,
        "proto": 0,
        "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
    }


@functools.lru_cache(maxsize=8)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates checked against the hostname, with the CA bundle httpx uses (certifi) plus
    ``ca_file`` (an operator's private CA); built once per process, shared by every sweep."""
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


@dataclass(frozen=True)
class Settings:
    allow: Sequence[str]
    allow_http: bool
    connect_timeout: float
    timeout: float
    concurrency: int
    disable_after: timedelta
    redis_url: str | None = None  # for per-endpoint rate limits shared by every worker
    endpoint_concurrency: int = PER_ENDPOINT_CONCURRENCY  # requests in flight per endpoint
    ca_file: str | None = None  # PEM bundle trusted besides the public CAs


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
    """One delivery loop: a single aiohttp session (one TLS context, a keep-alive pool per
    endpoint) reused for every batch, per-endpoint concurrency caps and rate limits.

    Use as ``async with Sweeper(settings) as sweeper: await sweeper.run(...)``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = SweepStats()
        self._session: aiohttp.ClientSession | None = None
        self._redis: aioredis.Redis | None = None
        self._urls: dict[str, URL | PipelineError] = {}
        self._overall = asyncio.Semaphore(settings.concurrency)
        self._per_endpoint: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.endpoint_concurrency)
        )

    async def __aenter__(self) -> Sweeper:
        s = self.settings
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allow=s.allow),
            use_dns_cache=False,  # every new connection is resolved and checked again
            ssl=_tls_context(s.ca_file),
            limit=0,  # the semaphores bound what is in flight; a pool never makes a request wait
            limit_per_host=0,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=s.timeout, connect=s.connect_timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # one receiver's cookies never go to another
            trust_env=False,  # no proxy from the environment
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
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
        """Claim one batch (due messages, then new events fanned out), send it, record it.
        Returns how many were sent.

        Messages to one endpoint start in the order they became due, at most
        ``endpoint_concurrency`` at a time, so with more than one in flight a receiver sees them
        nearly, not strictly, in order (docs/webhooks.md).
        """
        now = now or datetime.now(UTC)
        lease = timedelta(seconds=self.settings.timeout * 3 + 30)
        started = time.perf_counter()
        with session_scope() as s:
            claimed, targets = claim_due(s, now=now, limit=batch_size, lease=lease)
        sent_at = time.perf_counter()
        self.stats.claim_s += sent_at - started
        if not claimed:
            return 0
        self.stats.fanned_out += sum(due.fresh for due in claimed)
        outcomes = await asyncio.gather(
            *(self._one(due, targets[due.endpoint_id]) for due in claimed)
        )
        recorded_at = time.perf_counter()
        self.stats.http_s += recorded_at - sent_at
        with session_scope() as s:
            record_outcomes(
                s,
                results=list(zip(claimed, outcomes, strict=True)),
                now=datetime.now(UTC),
                disable_after=self.settings.disable_after,
            )
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

    def _url(self, url: str) -> URL:
        """The endpoint's URL once checked (scheme, credentials, host; an IP literal's address
        against the rules, since the resolver never sees it). Raises the check's error."""
        checked = self._urls.get(url)
        if checked is None:
            try:
                host, port = signing.check_url(url, allow_http=self.settings.allow_http)
                if _is_ip_literal(host):
                    signing.resolve_and_check(host, port, allow=self.settings.allow)
                checked = URL(url)
            except PipelineError as exc:
                checked = exc
            self._urls[url] = checked
        if isinstance(checked, PipelineError):
            raise checked
        return checked

    async def _send(self, due: Due, target: Target) -> Outcome:
        assert self._session is not None, "use Sweeper as an async context manager"
        legacy = signing.legacy_signing_secret(target.secrets) if target.legacy_signature else None
        headers = signing.headers(
            msg_id=due.id,
            timestamp=int(time.time()),
            body=due.body,
            secrets=target.secrets,
            legacy_secret=legacy,
        )
        started = time.perf_counter()
        try:
            async with self._session.post(
                self._url(target.url), data=due.body, headers=headers, allow_redirects=False
            ) as response:
                excerpt = await _excerpt(response)
                status = response.status
                retry_after = response.headers.get("retry-after")
        except PipelineError as exc:  # the URL or an address was refused
            error = f"ConnectError: refused: {exc}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = self._describe(exc)
        else:
            return Outcome(
                status_code=status,
                latency_ms=int((time.perf_counter() - started) * 1000),
                excerpt=excerpt,
                error=None if signing.is_success(status) else f"HTTP {status}",
                retry_after=retry_after,
            )
        return Outcome(
            status_code=None,
            latency_ms=int((time.perf_counter() - started) * 1000),
            excerpt="",
            error=error[:2000],
        )

    def _describe(self, exc: BaseException) -> str:
        """``<kind>: <detail>`` for the attempt log; a timeout's kind says ``Timeout`` (the
        retry schedule backs off further after one)."""
        s = self.settings
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            kind, detail = "ConnectTimeout", f"not connected within {s.connect_timeout} s"
        elif isinstance(exc, TimeoutError):
            kind, detail = "Timeout", f"no complete answer within {s.timeout} s"
        elif isinstance(exc, aiohttp.ClientSSLError):
            kind, detail = "TLSError", str(exc)
        elif isinstance(exc, aiohttp.ClientConnectorError):
            kind, detail = "ConnectError", str(exc)
        elif isinstance(
            exc,
            aiohttp.ClientOSError | aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError,
        ):
            kind, detail = "ReadError", str(exc) or type(exc).__name__
        else:
            kind, detail = type(exc).__name__, str(exc)
        return f"{kind}: {detail}"


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    """At most ``EXCERPT_BYTES`` of the answer; the rest is never read (the connection is then
    closed rather than reused)."""
    data = b""
    while len(data) < EXCERPT_BYTES:
        chunk = await response.content.read(EXCERPT_BYTES - len(data))
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", errors="replace")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def sweep(settings: Settings, *, batch_size: int, max_seconds: float) -> SweepStats:
    async with Sweeper(settings) as sweeper:
        return await sweeper.run(batch_size=batch_size, max_seconds=max_seconds)


def deliver_due(*, settings: Settings, batch_size: int, now: datetime | None = None) -> int:
    """One batch (claim with fan-out, send, record) from synchronous code. Returns how many were
    sent.

    ``now`` stands in for the clock when choosing what is due, so tests can compress time.
    """

    async def one() -> int:
        async with Sweeper(settings) as sweeper:
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
        endpoint_concurrency=s.webhook_endpoint_concurrency,
        ca_file=s.webhook_ca_file,
    )


def _redis_url_or_none() -> str | None:
    try:
        return redis_url()
    except RuntimeError:  # no Redis configured: only a rate-limited endpoint needs one
        return None
