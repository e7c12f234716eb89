"""Webhook endpoints as their owner manages them: subscribe, change, rotate the secret, delete,
send a test, read the attempts, send messages again. Every change is audit-logged (what
changed, never a secret). Delivery itself is ``worker.storage.webhooks``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from worker.storage import audit
from worker.storage.events import iso
from worker.storage.models import DeliveryAttempt, WebhookEndpoint, WebhookMessage
from worker.storage.pages import Listing, SortKey, within
from worker.storage.webhooks import create_endpoint, endpoint_view, enqueue_message, rotate_secret


def get_endpoint(session: Session, *, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    return session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id
        )
    )


def endpoint_listing(*, tenant_id: str) -> Select[WebhookEndpoint]:
    """The tenant's endpoints, oldest first."""
    return (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )


def subscribe(
    session: Session,
    *,
    tenant_id: str,
    actor: str,
    url: str,
    event_types: list[str],
    description: str = "",
    legacy_signature: bool = False,
    rate_limit: int | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once)."""
    endpoint, secret = create_endpoint(
        session,
        tenant_id=tenant_id,
        url=url,
        event_types=event_types,
        description=description,
        legacy_signature=legacy_signature,
        rate_limit=rate_limit,
    )
    _record(session, endpoint, "created", endpoint_view(endpoint), actor=actor)
    return endpoint, secret


def update_endpoint(
    session: Session, *, endpoint: WebhookEndpoint, changes: dict[str, Any], actor: str
) -> WebhookEndpoint:
    """Set the endpoint's columns named in ``changes``; ``enabled: True`` also forgets why it was
    disabled and since when it failed."""
    if changes.get("enabled") is True:
        endpoint.disabled_reason, endpoint.failing_since = None, None
    for key, value in changes.items():
        setattr(endpoint, key, value)
    endpoint.updated_at = datetime.now(UTC)
    _record(session, endpoint, "updated", {"changes": changes}, actor=actor)
    return endpoint


def delete_endpoint(session: Session, *, endpoint: WebhookEndpoint, actor: str) -> None:
    _record(session, endpoint, "deleted", {"url": endpoint.url}, actor=actor)
    session.delete(endpoint)


def rotate_endpoint_secret(
    session: Session, *, endpoint: WebhookEndpoint, grace: timedelta, actor: str
) -> str:
    """A new secret (shown once); the current ones keep signing for ``grace``."""
    secret = rotate_secret(session, endpoint=endpoint, grace=grace)
    _record(
        session,
        endpoint,
        "secret_rotated",
        {"grace_hours": grace / timedelta(hours=1)},
        actor=actor,
    )
    return secret


def send_test(session: Session, *, endpoint: WebhookEndpoint) -> str | None:
    """Queue an ``endpoint.test`` message to the endpoint, whatever its event types; its id."""
    now = datetime.now(UTC)
    payload = {
        "event": "endpoint.test",
        "timestamp": iso(now),
        "data": {"endpoint_id": endpoint.id, "message": "test from Tickwork"},
    }
    enqueue_message(
        session,
        endpoint=endpoint,
        event_type="endpoint.test",
        payload=payload,
        event_id=None,
        now=now,
    )
    return session.scalar(
        select(WebhookMessage.id)
        .where(
            WebhookMessage.endpoint_id == endpoint.id, WebhookMessage.event_type == "endpoint.test"
        )
        .order_by(WebhookMessage.created_at.desc())
        .limit(1)
    )


def attempt_listing(
    *,
    tenant_id: str,
    endpoint_id: str,
    outcome: str | None = None,
    event_type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Listing:
    """The endpoint's delivery attempts in ``[start, end]``, newest first (ids ``att_<n>``)."""
    where = [DeliveryAttempt.endpoint_id == endpoint_id, DeliveryAttempt.tenant_id == tenant_id]
    if outcome is not None:
        where.append(DeliveryAttempt.outcome == outcome)
    if event_type is not None:
        where.append(DeliveryAttempt.event_type == event_type)
    where += within(DeliveryAttempt.attempted_at, start, end)

    def locate(cursor: str) -> list[Any] | None:
        number = cursor.removeprefix("att_")
        if not (cursor.startswith("att_") and number.isdigit() and len(number) <= 18):
            return None
        return [
            DeliveryAttempt.id == int(number),
            DeliveryAttempt.endpoint_id == endpoint_id,
            DeliveryAttempt.tenant_id == tenant_id,
        ]

    return Listing(
        query=select(DeliveryAttempt)
        .where(*where)
        .order_by(DeliveryAttempt.attempted_at.desc(), DeliveryAttempt.id.desc()),
        keys=[
            SortKey(DeliveryAttempt.attempted_at, descending=True),
            SortKey(DeliveryAttempt.id, descending=True),
        ],
        locate=locate,
        item_id=lambda row: f"att_{row[0].id}",
    )


def resend_message(session: Session, *, tenant_id: str, message_id: str) -> WebhookMessage | None:
    """Make the tenant's message due now, under the same ``webhook-id``; None if unknown."""
    message = session.scalar(
        select(WebhookMessage).where(
            WebhookMessage.id == message_id, WebhookMessage.tenant_id == tenant_id
        )
    )
    if message is not None:
        message.status, message.next_attempt_at = "pending", datetime.now(UTC)
        message.locked_until = None
    return message


def recover_messages(session: Session, *, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Make every message to the endpoint that failed since ``since`` due now; how many."""
    result = session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.endpoint_id == endpoint.id,
            WebhookMessage.status == "failed",
            WebhookMessage.created_at >= since,
        )
        .values(status="pending", next_attempt_at=datetime.now(UTC), locked_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _record(
    session: Session, endpoint: WebhookEndpoint, change: str, details: dict[str, Any], *, actor: str
) -> None:
    audit.record(
        session,
        tenant_id=endpoint.tenant_id,
        action=f"webhook_endpoint.{change}",
        actor=actor,
        subject_type="webhook_endpoint",
        subject_id=endpoint.id,
        details=details,
    )
