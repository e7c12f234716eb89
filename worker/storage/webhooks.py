"""Webhook endpoints, messages and attempts: fan-out from the event outbox, leases, outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipelines import webhooks as signing
from worker.storage import audit
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
    rate_limit: int | None = None,
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
        rate_limit=rate_limit,
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
        "rate_limit": endpoint.rate_limit,
        "failing_since": iso(endpoint.failing_since) if endpoint.failing_since else None,
        "created_at": iso(endpoint.created_at),
    }


def fan_out(session: Session, *, now: datetime | None = None, limit: int = 1000) -> int:
    """Turn not-yet-fanned-out events into one message per subscribed, enabled endpoint.

    A few statements per batch whatever its size: one to take the events (``FOR UPDATE SKIP
    LOCKED`` on PostgreSQL, so concurrent sweepers split the work instead of repeating it; SQLite
    writers are serialised already), one for the endpoints, one multi-row insert, one update.
    Returns how many messages were created.
    """
    query = (
        select(Event.id, Event.tenant_id, Event.type, Event.payload)
        .where(Event.fanned_out_at.is_(None))
        .order_by(Event.created_at, Event.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    events = session.execute(query).all()
    if not events:
        return 0
    endpoints: dict[str, list[Any]] = {}
    for ep in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.tenant_id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.tenant_id.in_({e.tenant_id for e in events}),
            WebhookEndpoint.enabled.is_(True),
        )
    ):
        endpoints.setdefault(ep.tenant_id, []).append(ep)
    now = now or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for event in events:
        body: bytes | None = None
        for ep in endpoints.get(event.tenant_id, []):
            if ep.event_types and event.type not in ep.event_types:
                continue
            body = body or _body(event.payload)
            rows.append(_message_row(tenant_id=event.tenant_id, endpoint_id=ep.id,
                                     event_id=event.id, event_type=event.type, body=body,
                                     now=now))  # fmt: skip
    created = 0
    if rows:
        created = len(session.execute(_insert_messages(session), rows).all())
    session.execute(
        update(Event).where(Event.id.in_([e.id for e in events])).values(fanned_out_at=now)
    )
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
    row = _message_row(tenant_id=endpoint.tenant_id, endpoint_id=endpoint.id, event_id=event_id,
                       event_type=event_type, body=_body(payload), now=now)  # fmt: skip
    return len(session.execute(_insert_messages(session), [row]).all())


def _body(payload: dict[str, Any]) -> bytes:
    when = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
    return signing.encode_event(payload["event"], when, payload["data"])


def _message_row(*, tenant_id: str, endpoint_id: str, event_id: str | None, event_type: str,
                 body: bytes, now: datetime) -> dict[str, Any]:  # fmt: skip
    return {"id": new_id("msg"), "tenant_id": tenant_id, "endpoint_id": endpoint_id,
            "event_id": event_id, "event_type": event_type, "body": body, "status": "pending",
            "attempts": 0, "next_attempt_at": now, "created_at": now}  # fmt: skip


def _insert_messages(session: Session) -> Any:
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    return (
        insert(WebhookMessage)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
        .returning(WebhookMessage.id)
    )


def _dialect(session: Session) -> str:
    bind = session.get_bind()
    return bind.dialect.name


@dataclass(frozen=True)
class Due:
    """A claimed message: what the sender needs, detached from any session."""

    id: str
    tenant_id: str
    endpoint_id: str
    event_type: str
    body: bytes
    attempts: int


@dataclass(frozen=True)
class Target:
    """An endpoint as the sender sees it."""

    id: str
    url: str
    secrets: tuple[str, ...]
    legacy_signature: bool
    rate_limit: int | None


def claim_due(
    session: Session, *, now: datetime, limit: int, lease: timedelta, rate_window_s: float = 5.0
) -> tuple[list[Due], dict[str, Target]]:
    """Due messages of enabled endpoints, leased to this worker for ``lease``.

    The lease (``locked_until``) keeps two sweepers from sending the same message at once; a
    worker that dies mid-batch leaves leases that simply expire. An endpoint with a rate limit
    gets at most ``rate_limit * rate_window_s`` messages per batch; the rest stay due.
    """
    query = (
        select(
            WebhookMessage.id,
            WebhookMessage.tenant_id,
            WebhookMessage.endpoint_id,
            WebhookMessage.event_type,
            WebhookMessage.body,
            WebhookMessage.attempts,
            WebhookEndpoint.rate_limit,
        )
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
    if _dialect(session) == "postgresql":
        query = query.with_for_update(of=WebhookMessage, skip_locked=True)
    taken: dict[str, int] = {}
    claimed: list[Due] = []
    for row in session.execute(query):
        if row.rate_limit:
            taken[row.endpoint_id] = taken.get(row.endpoint_id, 0) + 1
            if taken[row.endpoint_id] > max(1, int(row.rate_limit * rate_window_s)):
                continue
        claimed.append(Due(row.id, row.tenant_id, row.endpoint_id, row.event_type, row.body,
                           row.attempts))  # fmt: skip
    if not claimed:
        return [], {}
    session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id.in_([m.id for m in claimed]))
        .values(locked_until=now + lease)
    )
    targets = {
        ep.id: Target(
            ep.id, ep.url, tuple(signing_secrets(ep, now)), ep.legacy_signature, ep.rate_limit
        )
        for ep in session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_({m.endpoint_id for m in claimed}))
        )
    }
    return claimed, targets


def record_outcomes(
    session: Session,
    *,
    results: Sequence[tuple[Due, Outcome]],
    now: datetime,
    disable_after: timedelta,
) -> int:
    """Log every attempt of a batch and settle its messages; returns how many were recorded.

    Successes (the common case) take three statements for the whole batch; a failure goes
    through ``record_outcome`` (retry schedule, auto-disable). A message deleted meanwhile (its
    endpoint was deleted) or already settled elsewhere (a resend) is left alone.
    """
    ids = [due.id for due, _ in results]
    lock = select(WebhookMessage.id).where(
        WebhookMessage.id.in_(ids), WebhookMessage.status == "pending"
    )
    if _dialect(session) == "postgresql":
        lock = lock.with_for_update()
    pending = set(session.scalars(lock))
    results = [(due, outcome) for due, outcome in results if due.id in pending]
    if not results:
        return 0
    session.execute(insert(DeliveryAttempt), [
        {"tenant_id": due.tenant_id, "endpoint_id": due.endpoint_id, "message_id": due.id,
         "event_type": due.event_type, "attempted_at": now,
         "outcome": "success" if outcome.success else "failure",
         "status_code": outcome.status_code, "latency_ms": outcome.latency_ms,
         "response_excerpt": outcome.excerpt[:EXCERPT_BYTES], "error": outcome.error}
        for due, outcome in results
    ])  # fmt: skip
    succeeded = [due for due, outcome in results if outcome.success]
    if succeeded:
        session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id.in_([d.id for d in succeeded]))
            .values(
                status="succeeded",
                attempts=WebhookMessage.attempts + 1,
                last_attempt_at=now,
                next_attempt_at=None,
                locked_until=None,
            )
        )
        session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id.in_({d.endpoint_id for d in succeeded}),
                WebhookEndpoint.failing_since.is_not(None),
            )
            .values(failing_since=None)
        )
    for due, outcome in results:
        if outcome.success:
            continue
        message = session.get(WebhookMessage, due.id)
        endpoint = session.get(WebhookEndpoint, due.endpoint_id)
        if message is not None and endpoint is not None:
            _settle_failure(session, message=message, endpoint=endpoint, outcome=outcome,
                            now=now, disable_after=disable_after)  # fmt: skip
    return len(results)


def _settle_failure(
    session: Session,
    *,
    message: WebhookMessage,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
    now: datetime,
    disable_after: timedelta,
    rng: Any = None,
) -> None:
    """After a failed attempt: schedule the next one or give up, and maybe disable the endpoint."""
    message.attempts += 1
    message.last_attempt_at = now
    message.locked_until = None
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
    audit.record(session, tenant_id=endpoint.tenant_id, action="webhook_endpoint.disabled",
                 subject_type="webhook_endpoint", subject_id=endpoint.id,
                 details={"url": endpoint.url, "reason": reason})  # fmt: skip


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
