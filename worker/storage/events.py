"""The event outbox. Events are rows written in the same transaction as the change they
announce, so a crash loses neither or both; a dedupe key makes each one idempotent.

Payload shape (docs/webhooks.md): ``{"event": type, "timestamp": ISO 8601 UTC, "data": {...}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.storage.db import new_id
from worker.storage.models import Event
from worker.storage.pages import Listing, SortKey, tenant_listing

EVENT_TYPES = (
    "data_gap.detected",
    "data_gap.resolved",
    "alert.triggered",
    "report.generated",
    "report.failed",
    "document.processed",
    "document.failed",
    "ingest.completed",
    "endpoint.disabled",
)


def publish(session: Session, *, tenant_id: str, type: str, data: dict[str, Any], key: str) -> bool:
    """Write one event unless an event with this ``key`` exists; True if written."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    now = datetime.now(UTC)
    payload = {"event": type, "timestamp": iso(now), "data": data}
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    result = session.execute(
        insert(Event)
        .values(
            id=new_id("evt"),
            tenant_id=tenant_id,
            type=type,
            dedupe_key=f"{type}:{key}",
            payload=payload,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        .returning(Event.id)
    ).scalar_one_or_none()
    return result is not None


def event_listing(*, tenant_id: str, type: str | None = None) -> Listing:
    """The tenant's events (of ``type``), oldest first."""
    where = [Event.tenant_id == tenant_id]
    if type is not None:
        where.append(Event.type == type)
    return tenant_listing(
        Event,
        tenant_id=tenant_id,
        query=select(Event).where(*where).order_by(Event.created_at, Event.id),
        keys=[SortKey(Event.created_at), SortKey(Event.id)],
    )


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def delete_events(session: Session, *, before: datetime) -> int:
    """Delete the events created before ``before`` (the retention sweep); returns how many."""
    result = session.execute(delete(Event).where(Event.created_at < before))
    return int(result.rowcount or 0)
