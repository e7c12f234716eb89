"""The clients: :class:`Client` (synchronous) and :class:`AsyncClient`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import httpx

from tickwork_client import _async_resources as ar
from tickwork_client import _calls as c
from tickwork_client import _resources as r
from tickwork_client._base import BaseClient, Call, Params, log
from tickwork_client.errors import APIConnectionError

T = TypeVar("T")

# Errors after which the request may be sent again: nothing answered, or the answer broke off.
RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _describe(call: Call[Any]) -> str:
    return f"{call.method} {call.path}"


def _log_retry(call: Call[Any], reason: str, wait: float, number: int, of: int) -> None:
    log.info(
        "retrying %s after %s in %.2f s (retry %d of %d)",
        _describe(call),
        reason,
        wait,
        number,
        of,
        extra={"retry_reason": reason, "retry_wait": wait, "retry_number": number},
    )


class Client(BaseClient):
    """The Tickwork API, synchronously.

    ``Client(api_key, base_url="http://127.0.0.1:8000")``; the key and URL may also come from
    ``TICKWORK_API_KEY`` and ``TICKWORK_BASE_URL``. Requests answered 408, 429 or 5xx, and
    requests that got no answer, are retried up to ``max_retries`` times, waiting what the
    server's ``Retry-After`` says or else an exponential backoff with jitter; every POST carries
    an ``Idempotency-Key`` (a UUID4 per call, the same on each of its retries). Pass
    ``http_client`` to use your own :class:`httpx.Client` (proxies, event hooks); it is then
    yours to close. Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 3,
        max_retry_after: float = 120.0,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_after=max_retry_after,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self.timeout, follow_redirects=False)
        if http_client is not None and timeout is None:
            self.timeout = http_client.timeout  # the caller's client keeps its own timeouts
        self.data_points = r.DataPoints(self)
        self.jobs = r.Jobs(self)
        self.facilities = r.Facilities(self)
        self.tags = r.Tags(self)
        self.gaps = r.Gaps(self)
        self.quality = r.Quality(self)
        self.alerts = r.Alerts(self)
        self.events = r.Events(self)
        self.reports = r.Reports(self)
        self.documents = r.Documents(self)
        self.webhook_endpoints = r.WebhookEndpoints(self)
        self.audit_log = r.AuditLog(self)

    def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None
    ) -> Any:
        """Any route, e.g. ``client.request("GET", "/v1/stats")``: the decoded JSON answer
        (None when empty), with the same retries, idempotency key and errors."""
        return self._request(c.raw(method, path, params, json))

    def _request(self, call: Call[T]) -> T:
        retries = 0
        while True:
            request = self._build(self._http, call)
            try:
                response = self._http.send(request)
            except RETRYABLE as exc:
                if not self.retry.should_retry_error(retries):
                    raise APIConnectionError(f"{_describe(call)}: {exc!r}") from exc
                wait = self.retry.wait(retries) or 0.0
                retries += 1
                _log_retry(call, type(exc).__name__, wait, retries, self.retry.max_retries)
                time.sleep(wait)
                continue
            except httpx.TransportError as exc:
                raise APIConnectionError(f"{_describe(call)}: {exc!r}") from exc
            if response.is_success:
                return call.parse(response)
            if self.retry.should_retry_status(response.status_code, retries):
                delay = self.retry.wait(retries, response.headers.get("retry-after"))
                if delay is not None:
                    retries += 1
                    _log_retry(
                        call, str(response.status_code), delay, retries, self.retry.max_retries
                    )
                    time.sleep(delay)
                    continue
            raise self._error(response)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(BaseClient):
    """:class:`Client` for asyncio (or trio): the same resources, awaited; list methods return
    pagers used with ``async for``. Use ``async with`` or ``await client.aclose()``."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 3,
        max_retry_after: float = 120.0,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_after=max_retry_after,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        if http_client is not None and timeout is None:
            self.timeout = http_client.timeout  # the caller's client keeps its own timeouts
        self.data_points = ar.DataPoints(self)
        self.jobs = ar.Jobs(self)
        self.facilities = ar.Facilities(self)
        self.tags = ar.Tags(self)
        self.gaps = ar.Gaps(self)
        self.quality = ar.Quality(self)
        self.alerts = ar.Alerts(self)
        self.events = ar.Events(self)
        self.reports = ar.Reports(self)
        self.documents = ar.Documents(self)
        self.webhook_endpoints = ar.WebhookEndpoints(self)
        self.audit_log = ar.AuditLog(self)

    async def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None
    ) -> Any:
        return await self._request(c.raw(method, path, params, json))

    async def _request(self, call: Call[T]) -> T:
        retries = 0
        while True:
            request = self._build(self._http, call)
            try:
                response = await self._http.send(request)
            except RETRYABLE as exc:
                if not self.retry.should_retry_error(retries):
                    raise APIConnectionError(f"{_describe(call)}: {exc!r}") from exc
                wait = self.retry.wait(retries) or 0.0
                retries += 1
                _log_retry(call, type(exc).__name__, wait, retries, self.retry.max_retries)
                await anyio.sleep(wait)
                continue
            except httpx.TransportError as exc:
                raise APIConnectionError(f"{_describe(call)}: {exc!r}") from exc
            if response.is_success:
                return call.parse(response)
            if self.retry.should_retry_status(response.status_code, retries):
                delay = self.retry.wait(retries, response.headers.get("retry-after"))
                if delay is not None:
                    retries += 1
                    _log_retry(
                        call, str(response.status_code), delay, retries, self.retry.max_retries
                    )
                    await anyio.sleep(delay)
                    continue
            raise self._error(response)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
