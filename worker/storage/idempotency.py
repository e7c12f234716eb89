"""Idempotency keys: one effect per (tenant, key), the first answer kept for 24 h.

``claim`` inserts the key before the request runs and commits at once, so of two requests with
the same key exactly one inserts (the unique constraint decides) and the other sees a key that is
in progress, answered, or sent with another body. ``complete`` stores the answer; ``release``
forgets a key whose request left no answer worth repeating (a 429, a 5xx, an exception), so the
client's retry runs it. A tenant's expired keys are removed when it claims a new one
(``delete_expired`` sweeps every tenant's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.storage.models import IdempotencyKey

TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "answered", "in_progress", "mismatch"]
    status: int | None = None
    content_type: str = ""
    body: bytes = b""


def claim(
    session: Session, *, tenant_id: str, key: str, request_hash: str, now: datetime | None = None
) -> Claim:
    """Take ``key`` for this request, or say what holds it. Commit right after."""
    now = now or datetime.now(UTC)
    # The tenant's expired keys go as it makes new ones, this one included if it has expired.
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.expires_at <= now
        )
    )
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    taken = session.execute(
        insert(IdempotencyKey)
        .values(
            tenant_id=tenant_id,
            key=key,
            request_hash=request_hash,
            response_type="",
            created_at=now,
            expires_at=now + TTL,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        .returning(IdempotencyKey.id)
    ).first()
    if taken is not None:
        return Claim("new")
    held = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key == key
        )
    )
    if held is None:  # released between our insert and this read: the client may retry
        return Claim("in_progress")
    if held.request_hash != request_hash:
        return Claim("mismatch")
    if held.response_status is None:
        return Claim("in_progress")
    return Claim("answered", held.response_status, held.response_type, held.response_body or b"")


def complete(
    session: Session, *, tenant_id: str, key: str, status: int, content_type: str, body: bytes
) -> None:
    row = session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key == key
        )
    )
    if row is not None:
        row.response_status, row.response_type, row.response_body = status, content_type, body


def release(session: Session, *, tenant_id: str, key: str) -> None:
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.tenant_id == tenant_id,
            IdempotencyKey.key == key,
            IdempotencyKey.response_status.is_(None),
        )
    )


def delete_expired(session: Session, *, now: datetime | None = None) -> int:
    """Remove every expired key (for a retention sweep); returns how many."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or datetime.now(UTC)))
    )
    return int(result.rowcount or 0)
