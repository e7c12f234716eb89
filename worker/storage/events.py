"""The event outbox. Events are rows written in the same transaction as the change they
announce, so a crash loses neither or both; a dedupe key makes each one idempotent.

Payload shape (docs/webhooks.md): ``{"event": type, "timestamp": ISO 8601 UTC, "data": {...}}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.storage.db import new_id
from worker.storage.models import Event

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


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
