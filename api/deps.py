"""Request dependencies: database session, API-key authentication and rate limiting; and the
ownership check of the facility a request names."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import ratelimit
from api.errors import ApiError, found
from worker.locks import redis_client
from worker.settings import get_settings
from worker.storage import facilities
from worker.storage.db import session_scope
from worker.storage.models import Facility
from worker.storage.tenants import authenticate

log = logging.getLogger(__name__)
COUNTED = "tickwork.rate_limit"  # scope key: the X-RateLimit-* headers of this request's count


def get_session() -> Iterator[Session]:
    """A session for routes that write; they take it as ``WRITE`` (scope "function"),
    so it commits when the route returns and before the answer is sent. (FastAPI's default
    scope ends a dependency after the answer: a client could have its 201 before the row is
    committed, read it back too early, or be told of a success whose commit then failed.)"""
    with session_scope() as session:
        yield session


WRITE = Depends(get_session, scope="function")
# A route's writing session: ``session: WriteSession``.
WriteSession = Annotated[Session, WRITE]


def read_session() -> Iterator[Session]:
    """A session for routes that only read (never blocks on a writer under SQLite)."""
    with session_scope(readonly=True) as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    key_id: str
    scope: str


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


# Declares the scheme in /openapi.json; the header is parsed below, for precise 401 messages.
BEARER = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tw_...`")


def caller(
    request: Request,
    session: ReadSession,
    bearer: HTTPAuthorizationCredentials | None = Security(BEARER),
) -> Caller:
    request.scope.setdefault(COUNTED, {})  # answered here: no second look at the key
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    key = authenticate(session, plaintext=token.strip())
    if key is None:
        raise _unauthorized("invalid or revoked API key")
    verdict = _count(request.scope, key.id)
    if verdict is not None and not verdict.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit exceeded; retry after {verdict.retry_after} s",
            headers=ratelimit.headers(verdict),
        )
    return Caller(tenant_id=key.tenant_id, key_id=key.id, scope=key.scope)


def _count(scope: Scope, key_id: str) -> ratelimit.Verdict | None:
    """Count one request of the key; its headers go on whatever response the request gets."""
    settings = get_settings()
    limits = {
        60: settings.rate_limit_per_minute,
        3600: settings.rate_limit_per_hour,
        86400: settings.rate_limit_per_day,
    }
    verdict = ratelimit.check(redis_client(), key_id, limits)
    scope[COUNTED] = ratelimit.headers(verdict) if verdict is not None else {}
    return verdict


def _count_unrouted(scope: Scope) -> None:
    """Count a keyed request that never reached ``caller`` (no such route, a body refused
    before the route ran), so its answer carries the headers too. A bad key counts nothing."""
    header = Headers(scope=scope).get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return
    try:
        with session_scope(readonly=True) as session:
            key = authenticate(session, plaintext=token.strip())
            if key is not None:
                _count(scope, key.id)
    except Exception:  # the answer already decided matters more than its headers
        log.warning("rate limit not counted for %s", scope.get("path"), exc_info=True)


class RateLimitHeaders:
    """ASGI middleware: every response to a keyed ``/v1`` request carries the
    ``X-RateLimit-*`` headers of the count ``caller`` made (errors and file downloads included,
    which a route's own ``Response`` or an exception handler would otherwise leave out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if COUNTED not in scope:
                    await run_in_threadpool(_count_unrouted, scope)
                extra = scope.get(COUNTED) or {}
                sent = {name.lower() for name, _ in message.get("headers", [])}
                added = [
                    (k.lower().encode(), v.encode())
                    for k, v in extra.items()
                    if k.lower().encode() not in sent
                ]
                if added:
                    message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, with_headers)


# The caller of a route: ``who: CallerDep`` (any valid key) or ``who: WriterDep`` (a key that
# may write; 403 for a read-only one).
CallerDep = Annotated[Caller, Depends(caller)]


def writer(who: CallerDep) -> Caller:
    if who.scope != "write":
        raise ApiError(403, "insufficient_scope", "this API key is read-only")
    return who


WriterDep = Annotated[Caller, Depends(writer)]


def owned_facility(session: Session, who: Caller, facility_id: str) -> Facility:
    """The caller's facility ``facility_id``; 404 when unknown or another tenant's."""
    facility = facilities.get_facility(session, tenant_id=who.tenant_id, facility_id=facility_id)
    return found(facility, "facility", facility_id)
