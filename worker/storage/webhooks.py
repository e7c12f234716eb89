"""Webhook endpoints, messages and attempts: fan-out from the event outbox, leases, outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipelines import webhooks as signing
from worker.storage.db import new_id
from worker.storage.events import iso, publish
from worker.storage.models import DeliveryAttempt, Event, WebhookEndpoint, WebhookMessage

EXCERPT_BYTES = 20 * 1024


@dataclass(frozen=True)
class Outcome:
    """What one HTTP attempt came to."""

    status_code: int | None
    latency_ms: int
    excerpt: str
    error: str | None
    retry_after: str | None = None

    @property
    def success(self) -> bool:
        return self.status_code is not None and signing.is_success(self.status_code)


def create_endpoint(
    session: Session,
    *,
    tenant_id: str,
    url: str,
    event_types: list[str],
    description: str = "",
    legacy_signature: bool = False,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned once, to show to the user)."""
    secret = signing.new_secret()
    now = datetime.now(UTC)
    endpoint = WebhookEndpoint(
        id=new_id("whe"),
        tenant_id=tenant_id,
        url=url,
        description=description,
        event_types=sorted(set(event_types)),
        enabled=True,
        legacy_signature=legacy_signature,
        secrets=[{"secret": secret, "expires_at": None}],
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def rotate_secret(session: Session, *, endpoint: WebhookEndpoint, grace: timedelta) -> str:
    """A new signing secret; the current ones keep signing until ``now + grace``."""
    now = datetime.now(UTC)
    until = iso(now + grace)
    kept = [
        {"secret": s["secret"], "expires_at": s["expires_at"] or until}
        for s in endpoint.secrets
        if not _expired(s, now)
    ]
    secret = signing.new_secret()
    endpoint.secrets = [{"secret": secret, "expires_at": None}, *kept]
    endpoint.updated_at = now
    return secret


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """Secrets that sign a delivery now: the current one first, then those in their grace."""
    return [s["secret"] for s in endpoint.secrets if not _expired(s, now)]


def _expired(entry: dict[str, Any], now: datetime) -> bool:
    until = entry.get("expires_at")
    return until is not None and datetime.fromisoformat(until.replace("Z", "+00:00")) <= now


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "legacy_signature": endpoint.legacy_signature,
        "failing_since": iso(endpoint.failing_since) if endpoint.failing_since else None,
        "created_at": iso(endpoint.created_at),
    }


def fan_out(session: Session, *, now: datetime | None = None, limit: int = 1000) -> int:
    """Turn not-yet-fanned-out events into one message per subscribed, enabled endpoint."""
    events = list(
        session.scalars(
            select(Event)
            .where(Event.fanned_out_at.is_(None))
            .order_by(Event.created_at, Event.id)
            .limit(limit)
        )
    )
    if not events:
        return 0
    tenants = {e.tenant_id for e in events}
    endpoints: dict[str, list[WebhookEndpoint]] = {}
    for ep in session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.tenant_id.in_(tenants), WebhookEndpoint.enabled.is_(True)
        )
    ):
        endpoints.setdefault(ep.tenant_id, []).append(ep)
    now = now or datetime.now(UTC)
    created = 0
    for event in events:
        for ep in endpoints.get(event.tenant_id, []):
            if ep.event_types and event.type not in ep.event_types:
                continue
            created += enqueue_message(
                session, endpoint=ep, event_type=event.type, payload=event.payload,
                event_id=event.id, now=now,
            )  # fmt: skip
        event.fanned_out_at = now
    return created


def enqueue_message(
    session: Session,
    *,
    endpoint: WebhookEndpoint,
    event_type: str,
    payload: dict[str, Any],
    event_id: str | None,
    now: datetime,
) -> int:
    """One message, due now; at most one per (endpoint, event). Returns 1 if created."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    body = signing.encode_event(
        payload["event"], datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00")),
        payload["data"],
    )  # fmt: skip
    written = session.execute(
        insert(WebhookMessage)
        .values(id=new_id("msg"), tenant_id=endpoint.tenant_id, endpoint_id=endpoint.id,
                event_id=event_id, event_type=event_type, body=body, status="pending",
                attempts=0, next_attempt_at=now, created_at=now)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        .returning(WebhookMessage.id)
    ).scalar_one_or_none()  # fmt: skip
    return 0 if written is None else 1


def claim_due(
    session: Session, *, now: datetime, limit: int, lease: timedelta
) -> list[tuple[WebhookMessage, WebhookEndpoint]]:
    """Due messages of enabled endpoints, leased to this worker for ``lease``.

    The lease (``locked_until``) keeps two sweepers from sending the same message at once; a
    worker that dies mid-batch leaves leases that simply expire.
    """
    query = (
        select(WebhookMessage, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(
            WebhookMessage.status == "pending",
            WebhookMessage.next_attempt_at <= now,
            or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until <= now),
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookMessage.next_attempt_at, WebhookMessage.created_at)
        .limit(limit)
    )
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=WebhookMessage, skip_locked=True)
    rows = [(m, e) for m, e in session.execute(query).all()]
    if rows:
        session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id.in_([m.id for m, _ in rows]))
            .values(locked_until=now + lease)
        )
    return rows


def record_outcome(
    session: Session,
    *,
    message: WebhookMessage,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
    now: datetime,
    disable_after: timedelta,
    rng: Any = None,
) -> None:
    """Log the attempt; schedule the next one, finish the message, or disable the endpoint."""
    session.add(DeliveryAttempt(
        tenant_id=message.tenant_id, endpoint_id=endpoint.id, message_id=message.id,
        event_type=message.event_type, attempted_at=now,
        outcome="success" if outcome.success else "failure", status_code=outcome.status_code,
        latency_ms=outcome.latency_ms, response_excerpt=outcome.excerpt[:EXCERPT_BYTES],
        error=outcome.error,
    ))  # fmt: skip
    message.attempts += 1
    message.last_attempt_at = now
    message.locked_until = None
    if outcome.success:
        message.status, message.next_attempt_at = "succeeded", None
        endpoint.failing_since = None
        return
    endpoint.failing_since = endpoint.failing_since or now
    throttled = (
        signing.is_throttling(outcome.status_code)
        if outcome.status_code is not None
        else "Timeout" in (outcome.error or "")  # a receiver too slow to answer: back off too
    )
    delay = signing.next_delay(message.attempts, retry_after=outcome.retry_after,
                               throttled=throttled, now=now, rng=rng)  # fmt: skip
    if delay is None:
        message.status, message.next_attempt_at = "failed", None
    else:
        message.next_attempt_at = now + timedelta(seconds=delay)
    gone = outcome.status_code is not None and signing.disables_now(outcome.status_code)
    if gone or now - endpoint.failing_since >= disable_after:
        reason = "the receiver answered 410 Gone" if gone else (
            f"every delivery failed since {iso(endpoint.failing_since)}")  # fmt: skip
        disable_endpoint(session, endpoint=endpoint, reason=reason, now=now)


def disable_endpoint(
    session: Session, *, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> None:
    if not endpoint.enabled:
        return
    endpoint.enabled, endpoint.disabled_reason, endpoint.updated_at = False, reason, now
    publish(session, tenant_id=endpoint.tenant_id, type="endpoint.disabled",
            data={"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason},
            key=f"{endpoint.id}:{iso(now)}")  # fmt: skip


def attempt_view(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "id": f"att_{attempt.id}",
        "message_id": attempt.message_id,
        "event_type": attempt.event_type,
        "attempted_at": iso(attempt.attempted_at),
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response_excerpt": attempt.response_excerpt,
        "error": attempt.error,
    }
