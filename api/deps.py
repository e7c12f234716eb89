"""Request dependencies: database session, API-key authentication and rate limiting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Depends, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api import ratelimit
from api.errors import ApiError
from worker.locks import redis_client
from worker.settings import get_settings
from worker.storage.db import session_scope
from worker.storage.tenants import authenticate


def get_session() -> Iterator[Session]:
    """A session for routes that write."""
    with session_scope() as session:
        yield session


def read_session() -> Iterator[Session]:
    """A session for routes that only read (never blocks on a writer under SQLite)."""
    with session_scope(readonly=True) as session:
        yield session


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
    response: Response,
    session: Session = Depends(read_session),
    bearer: HTTPAuthorizationCredentials | None = Security(BEARER),
) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    key = authenticate(session, plaintext=token.strip())
    if key is None:
        raise _unauthorized("invalid or revoked API key")
    settings = get_settings()
    limits = {
        60: settings.rate_limit_per_minute,
        3600: settings.rate_limit_per_hour,
        86400: settings.rate_limit_per_day,
    }
    verdict = ratelimit.check(redis_client(), key.id, limits)
    if verdict is not None:
        extra = ratelimit.headers(verdict)
        if not verdict.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"rate limit exceeded; retry after {verdict.retry_after} s",
                headers=extra,
            )
        response.headers.update(extra)
    return Caller(tenant_id=key.tenant_id, key_id=key.id, scope=key.scope)


def writer(who: Caller = Depends(caller)) -> Caller:
    if who.scope != "write":
        raise ApiError(403, "insufficient_scope", "this API key is read-only")
    return who
