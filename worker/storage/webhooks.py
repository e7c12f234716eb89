"""Webhook endpoints, messages and attempts: fan-out from the event outbox, leases, outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from secrets import randbelow, token_bytes
from typing import Any

from sqlalchemy import and_, case, func, insert, literal, null, or_, select, text, update
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
    """Turn up to ``limit`` not-yet-fanned-out events into one message per subscribed, enabled
    endpoint, due now and leased to nobody. Returns how many messages were created.

    Sweeps do not call this: ``claim_due`` fans out into messages already leased to the sweep.
    """
    return len(_fan_out(session, now=now or datetime.now(UTC), limit=limit, lease_until=None))


def _fan_out(
    session: Session, *, now: datetime, limit: int, lease_until: datetime | None
) -> list[Due]:
    """The messages created from up to ``limit`` events, in the events' order.

    Three statements whatever the batch size: one ``UPDATE … RETURNING`` takes the events and
    marks them fanned out (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent sweeps split
    the work instead of repeating it; SQLite writers are serialised already), one reads the
    endpoints, one multi-row insert writes the messages. With ``lease_until``, the messages of
    endpoints without a rate limit are written leased until then, for the caller to send; a
    rate-limited endpoint's are left for ``claim_due``'s per-endpoint share.
    """
    pick = (
        select(Event.id)
        .where(Event.fanned_out_at.is_(None))
        .order_by(Event.created_at, Event.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    events = session.execute(
        update(Event)
        .where(Event.id.in_(pick))
        .values(fanned_out_at=now)
        .returning(Event.id, Event.tenant_id, Event.type, Event.payload, Event.created_at)
        .execution_options(synchronize_session=False)
    ).all()
    if not events:
        return []
    events.sort(key=lambda e: (e.created_at, e.id))  # RETURNING has no order of its own
    endpoints: dict[str, list[Any]] = {}
    for ep in session.execute(
        select(
            WebhookEndpoint.id,
            WebhookEndpoint.tenant_id,
            WebhookEndpoint.event_types,
            WebhookEndpoint.rate_limit,
        ).where(
            WebhookEndpoint.tenant_id.in_({e.tenant_id for e in events}),
            WebhookEndpoint.enabled.is_(True),
        )
    ):
        endpoints.setdefault(ep.tenant_id, []).append(ep)
    rows: list[dict[str, Any]] = []
    ids = iter(_message_ids(sum(len(endpoints.get(e.tenant_id, ())) for e in events)))
    for event in events:
        body: bytes | None = None
        for ep in endpoints.get(event.tenant_id, []):
            if ep.event_types and event.type not in ep.event_types:
                continue
            body = body or _body(event.payload)
            # One microsecond apart: the order they became due is the events' order.
            row = _message_row(id=next(ids), tenant_id=event.tenant_id, endpoint_id=ep.id,
                               event_id=event.id, event_type=event.type, body=body, now=now,
                               created_at=now + timedelta(microseconds=len(rows)),
                               locked_until=None if ep.rate_limit else lease_until)  # fmt: skip
            rows.append(row)
    if not rows:
        return []
    created = _insert_message_rows(session, rows)
    return [
        Due(
            r["id"],
            r["tenant_id"],
            r["endpoint_id"],
            r["event_type"],
            r["body"],
            0,
            lease=r["locked_until"],
            fresh=True,
        )
        for r in rows
        if r["id"] in created
    ]


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


def _message_row(*, id: str | None = None, tenant_id: str, endpoint_id: str,
                 event_id: str | None, event_type: str, body: bytes, now: datetime,
                 created_at: datetime | None = None,
                 locked_until: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    return {"id": id or new_id("msg"), "tenant_id": tenant_id, "endpoint_id": endpoint_id,
            "event_id": event_id, "event_type": event_type, "body": body, "status": "pending",
            "attempts": 0, "next_attempt_at": now, "locked_until": locked_until,
            "created_at": created_at or now}  # fmt: skip


_ID_ALPHABET = "0123456789abcdefghijkmnpqrstvwxyz"  # new_id's: 33 characters
_ID_BYTES = 256 - 256 % len(_ID_ALPHABET)  # random bytes below this map to a character evenly


def _message_ids(n: int) -> list[str]:
    """``n`` ids shaped like ``new_id("msg")`` from one read of the system's random source
    (``new_id`` reads it once per character)."""
    chars: list[str] = []
    while len(chars) < 16 * n:
        chars += [_ID_ALPHABET[b % len(_ID_ALPHABET)]
                  for b in token_bytes(18 * n + 16) if b < _ID_BYTES]  # fmt: skip
    return ["msg_" + "".join(chars[i : i + 16]) for i in range(0, 16 * n, 16)]


MESSAGE_COLUMNS = ("id", "tenant_id", "endpoint_id", "event_id", "event_type", "body", "status",
                   "attempts", "next_attempt_at", "locked_until", "created_at")  # fmt: skip
_UNNEST_MESSAGES = text(
    "INSERT INTO webhook_message (" + ", ".join(MESSAGE_COLUMNS) + ") "
    "SELECT * FROM unnest(CAST(:id AS varchar[]), CAST(:tenant_id AS varchar[]), "
    "CAST(:endpoint_id AS varchar[]), CAST(:event_id AS varchar[]), "
    "CAST(:event_type AS varchar[]), CAST(:body AS bytea[]), CAST(:status AS varchar[]), "
    "CAST(:attempts AS integer[]), CAST(:next_attempt_at AS timestamptz[]), "
    "CAST(:locked_until AS timestamptz[]), CAST(:created_at AS timestamptz[])) "
    "ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id"
)


def _insert_message_rows(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert message rows (at most one per endpoint and event); returns the ids inserted.

    On PostgreSQL one statement with one array per column (``unnest``): a statement with a
    placeholder per value costs the driver more to prepare than the server to run.
    """
    if _dialect(session) != "postgresql":
        return set(session.execute(_insert_messages(session), rows).scalars())
    columns = {name: [row[name] for row in rows] for name in MESSAGE_COLUMNS}
    return set(session.execute(_UNNEST_MESSAGES, columns).scalars())


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
    """A claimed message: what the sender needs, detached from any session.

    ``lease`` is when the claim's lease ends; its last microseconds are random, so it also names
    the batch that holds the message (``record_outcomes`` settles only what its batch still
    holds). ``fresh``: created by this claim's fan-out.
    """

    id: str
    tenant_id: str
    endpoint_id: str
    event_type: str
    body: bytes
    attempts: int
    lease: datetime | None = None
    fresh: bool = False


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
    """A batch for one sweep, leased to it until ``now + lease``: due messages of enabled
    endpoints, oldest due first, then, while the batch has room, messages fanned out from new
    events (written already leased, so they need no claim of their own).

    The lease (``locked_until``) keeps two sweeps from sending the same message at once; a worker
    that dies mid-batch leaves leases that simply expire. An endpoint with a rate limit gets at
    most ``rate_limit * rate_window_s`` (at least one) messages per claim; the rest stay due.
    """
    lease_until = now + lease + timedelta(microseconds=1 + randbelow(999))
    claimed = _claim(session, now=now, limit=limit, lease_until=lease_until,
                     rate_window_s=rate_window_s)  # fmt: skip
    if len(claimed) < limit:
        fresh = _fan_out(session, now=now, limit=limit - len(claimed), lease_until=lease_until)
        leased = [due for due in fresh if due.lease is not None]
        claimed += leased
        if len(leased) < len(fresh) and len(claimed) < limit:  # new rate-limited messages
            claimed += _claim(session, now=now, limit=limit - len(claimed),
                              lease_until=lease_until, rate_window_s=rate_window_s)  # fmt: skip
    if not claimed:
        return [], {}
    targets = {
        ep.id: Target(
            ep.id, ep.url, tuple(signing_secrets(ep, now)), ep.legacy_signature, ep.rate_limit
        )
        for ep in session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_({m.endpoint_id for m in claimed}))
        )
    }
    return claimed, targets


def _claim(
    session: Session, *, now: datetime, limit: int, lease_until: datetime, rate_window_s: float
) -> list[Due]:
    """One ``UPDATE … RETURNING``: take up to ``limit`` due, unleased messages (``SKIP LOCKED`` on
    PostgreSQL: concurrent sweeps take different ones), keep each rate-limited endpoint's share,
    lease them until ``lease_until``."""
    m, ep = WebhookMessage, WebhookEndpoint
    due = (
        select(m.id, m.endpoint_id, m.next_attempt_at, m.created_at, ep.rate_limit)
        .join(ep, ep.id == m.endpoint_id)
        .where(
            m.status == "pending",
            m.next_attempt_at <= now,
            or_(m.locked_until.is_(None), m.locked_until <= now),
            ep.enabled.is_(True),
        )
        .order_by(m.next_attempt_at, m.created_at)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        due = due.with_for_update(of=m, skip_locked=True)
    picked = due.subquery("due")
    order = (picked.c.next_attempt_at, picked.c.created_at)
    rank = func.row_number().over(partition_by=picked.c.endpoint_id, order_by=order)
    ranked = select(picked.c.id, picked.c.rate_limit, rank.label("rank")).subquery("ranked")
    within_share = select(ranked.c.id).where(
        or_(
            ranked.c.rate_limit.is_(None),
            ranked.c.rate_limit <= 0,
            ranked.c.rank == 1,
            ranked.c.rank <= ranked.c.rate_limit * rate_window_s,  # rank <= floor(limit * window)
        )
    )
    rows = session.execute(
        update(m)
        .where(m.id.in_(within_share))
        .values(locked_until=lease_until)
        .returning(
            m.id,
            m.tenant_id,
            m.endpoint_id,
            m.event_type,
            m.body,
            m.attempts,
            m.next_attempt_at,
            m.created_at,
        )
        .execution_options(synchronize_session=False)
    ).all()
    rows.sort(key=lambda r: (r.next_attempt_at, r.created_at))
    return [Due(r.id, r.tenant_id, r.endpoint_id, r.event_type, r.body, r.attempts,
                lease=lease_until) for r in rows]  # fmt: skip


ATTEMPT_COLUMNS = ("tenant_id", "endpoint_id", "message_id", "event_type", "attempted_at",
                   "outcome", "status_code", "latency_ms", "response_excerpt", "error")  # fmt: skip


def record_outcomes(
    session: Session,
    *,
    results: Sequence[tuple[Due, Outcome]],
    now: datetime,
    disable_after: timedelta,
) -> int:
    """Log every attempt of a batch and settle its messages; returns how many were recorded.

    One guarded ``UPDATE … RETURNING`` settles the whole batch (succeeded, or the next attempt
    on the retry schedule, or failed); it touches only messages still pending and still held by
    the batch's lease, so a message deleted meanwhile (its endpoint was deleted), settled
    elsewhere, resent, or re-claimed by another sweep after its lease ran out is left alone and
    its attempt is not logged here. The attempts of what it settled are written in bulk (COPY on
    PostgreSQL). Endpoints with a failure start or keep their failing period and may be disabled
    (410 Gone, or failing for ``disable_after``); a success ends it.
    """
    if not results:
        return 0
    plans: Plans = {}
    for due, outcome in results:
        if outcome.success:
            continue
        throttled = (
            signing.is_throttling(outcome.status_code)
            if outcome.status_code is not None
            else "Timeout" in (outcome.error or "")  # a receiver too slow to answer: back off too
        )
        delay = signing.next_delay(due.attempts + 1, retry_after=outcome.retry_after,
                                   throttled=throttled, now=now)  # fmt: skip
        plans[due.id] = ("failed", None) if delay is None else (
            "pending", now + timedelta(seconds=delay))  # fmt: skip
    if _dialect(session) == "postgresql":
        recorded = _settle_pg(session, results=results, plans=plans, now=now)
    else:
        recorded = _settle(session, results=results, plans=plans, now=now)
    results = [(due, outcome) for due, outcome in results if due.id in recorded]
    if not results:
        return 0
    _write_attempts(session, [
        (due.tenant_id, due.endpoint_id, due.id, due.event_type, now,
         "success" if outcome.success else "failure", outcome.status_code, outcome.latency_ms,
         outcome.excerpt[:EXCERPT_BYTES].replace("\x00", "\ufffd"), outcome.error)
        for due, outcome in results
    ])  # fmt: skip
    succeeded = {due.endpoint_id for due, outcome in results if outcome.success}
    if succeeded:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(succeeded), WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
            .execution_options(synchronize_session=False)
        )
    failures: dict[str, list[Outcome]] = {}
    for due, outcome in results:
        if not outcome.success:
            failures.setdefault(due.endpoint_id, []).append(outcome)
    for endpoint_id, outcomes in failures.items():
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is not None:
            _endpoint_failed(session, endpoint=endpoint, outcomes=outcomes, now=now,
                             disable_after=disable_after)  # fmt: skip
    return len(results)


_SETTLE_PG = text(
    "UPDATE webhook_message AS m SET status = v.status, attempts = m.attempts + 1, "
    "last_attempt_at = :now, next_attempt_at = v.next_attempt_at, locked_until = NULL "
    "FROM unnest(CAST(:id AS varchar[]), CAST(:status AS varchar[]), "
    "CAST(:next_attempt_at AS timestamptz[]), CAST(:lease AS timestamptz[])) "
    "AS v(id, status, next_attempt_at, lease) "
    "WHERE m.id = v.id AND m.status = 'pending' "
    "AND (v.lease IS NULL OR m.locked_until = v.lease) RETURNING m.id"
)


Plans = dict[str, tuple[str, datetime | None]]  # failed message id -> status, next attempt


def _settle_pg(session: Session, *, results: Sequence[tuple[Due, Outcome]], plans: Plans,
               now: datetime) -> set[str]:  # fmt: skip
    """The guarded update on PostgreSQL: one array per column, whatever the batch size."""
    settled = [plans.get(due.id, ("succeeded", None)) for due, _ in results]
    return set(session.execute(_SETTLE_PG, {
        "now": now,
        "id": [due.id for due, _ in results],
        "status": [status for status, _ in settled],
        "next_attempt_at": [at for _, at in settled],
        "lease": [due.lease for due, _ in results],
    }).scalars())  # fmt: skip


def _settle(session: Session, *, results: Sequence[tuple[Due, Outcome]], plans: Plans,
            now: datetime) -> set[str]:  # fmt: skip
    """The guarded update elsewhere (SQLite): the failures' outcomes as ``CASE`` arms."""
    m = WebhookMessage
    values: dict[str, Any] = {"attempts": m.attempts + 1, "last_attempt_at": now,
                              "locked_until": None, "status": "succeeded",
                              "next_attempt_at": None}  # fmt: skip
    if plans:
        values["status"] = case({i: status for i, (status, _) in plans.items()}, value=m.id,
                                else_="succeeded")  # fmt: skip
        retry_at = {i: literal(at, m.next_attempt_at.type)
                    for i, (_, at) in plans.items() if at is not None}  # fmt: skip
        if retry_at:
            values["next_attempt_at"] = case(retry_at, value=m.id, else_=null())
    held: dict[datetime | None, list[str]] = {}
    for due, _ in results:
        held.setdefault(due.lease, []).append(due.id)
    guard = or_(*(
        m.id.in_(ids) if lease is None else and_(m.id.in_(ids), m.locked_until == lease)
        for lease, ids in held.items()
    ))  # fmt: skip
    return set(
        session.execute(
            update(m)
            .where(m.status == "pending", guard)
            .values(values)
            .returning(m.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )


def _write_attempts(session: Session, rows: list[tuple[Any, ...]]) -> None:
    if _dialect(session) == "postgresql":
        raw = session.connection().connection.driver_connection
        assert raw is not None
        columns = ", ".join(ATTEMPT_COLUMNS)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY delivery_attempt ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        session.execute(insert(DeliveryAttempt), [dict(zip(ATTEMPT_COLUMNS, row, strict=True))
                                                  for row in rows])  # fmt: skip


def _endpoint_failed(
    session: Session,
    *,
    endpoint: WebhookEndpoint,
    outcomes: Sequence[Outcome],
    now: datetime,
    disable_after: timedelta,
) -> None:
    """After failed attempts: the endpoint is failing since now unless it already was; disable it
    on a 410 Gone or once it has failed for ``disable_after``."""
    endpoint.failing_since = endpoint.failing_since or now
    gone = any(o.status_code is not None and signing.disables_now(o.status_code)
               for o in outcomes)  # fmt: skip
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
