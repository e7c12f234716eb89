"""The audit log: append entries to a tenant's hash chain, list them, verify the chain.

``record`` runs inside the caller's transaction, so an entry commits with the change it
describes or not at all (a duplicated message that loses its race rolls back its entry too). It
locks the tenant's chain head row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writers already
hold the database's write lock), so concurrent workers append one after another and every entry
links to the one committed before it. Callers record as the last step before commit, which keeps
the time the head is held short.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipelines import audit as chain
from worker.storage.db import new_id
from worker.storage.models import AuditEntry, AuditHead
from worker.storage.pages import Listing, SortKey, tenant_listing, within

ACTIONS = (
    "ingest.completed",
    "ingest.failed",
    "analysis.completed",
    "report.generated",
    "report.failed",
    "document.processed",
    "document.failed",
    "document.resolution_noted",
    "document.reviewed",
    "fuel_mappings.replaced",
    "organization.updated",
    "webhook_endpoint.created",
    "webhook_endpoint.updated",
    "webhook_endpoint.deleted",
    "webhook_endpoint.secret_rotated",
    "webhook_endpoint.disabled",
    "api_key.created",
    "api_key.revoked",
    "alert.acknowledged",
    "points.archived",
    "points.restored",
)
SYSTEM = "system"  # actor of work done by workers and beat
OPERATOR = "operator"  # actor of changes made with the CLI on the server


def actor_of_key(key_id: str) -> str:
    return f"api_key:{key_id}"


def record(
    session: Session,
    *,
    tenant_id: str,
    action: str,
    subject_type: str,
    subject_id: str,
    actor: str = SYSTEM,
    facility_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> chain.Entry:
    """Append one entry to ``tenant_id``'s chain in the caller's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    # As the database will return it: JSON-native values only (a float NaN or a datetime here
    # is a bug in the caller, not something to coerce silently).
    plain = json.loads(json.dumps(details or {}, allow_nan=False))
    head_seq, prev_hash = _lock_head(session, tenant_id)
    fields: dict[str, Any] = {
        "id": new_id("aud"),
        "tenant_id": tenant_id,
        "created_at": datetime.now(UTC),
        "action": action,
        "actor": actor,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "facility_id": facility_id,
        "details": plain,
        "prev_hash": prev_hash,
    }
    digest = chain.row_hash(**fields)
    seq = head_seq + 1
    session.execute(insert(AuditEntry).values(seq=seq, row_hash=digest, **fields))
    session.execute(
        update(AuditHead).where(AuditHead.tenant_id == tenant_id).values(seq=seq, row_hash=digest)
    )
    return chain.Entry(seq=seq, row_hash=digest, **fields)


def _lock_head(session: Session, tenant_id: str) -> tuple[int, str]:
    query = (
        select(AuditHead.seq, AuditHead.row_hash)
        .where(AuditHead.tenant_id == tenant_id)
        .with_for_update()
    )
    row = session.execute(query).one_or_none()
    if row is None:  # the tenant's first entry: create its head, once, whoever gets there first
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(AuditHead)
            .values(tenant_id=tenant_id, seq=0, row_hash=chain.GENESIS)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        row = session.execute(query).one()
    return int(row.seq), str(row.row_hash)


# --- reading and verifying -------------------------------------------------------------------


def entries(session: Session, *, tenant_id: str, batch: int = 5000) -> Iterator[chain.Entry]:
    """Every entry of a tenant's chain in ``seq`` order, read in keyset-paged batches."""
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.tenant_id == tenant_id, AuditEntry.seq > after)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        for row in rows:
            yield to_entry(row)
        if len(rows) < batch:
            return
        after = rows[-1].seq
        session.expunge_all()  # keep memory flat over millions of entries


def entry_listing(
    *,
    tenant_id: str,
    action: str | None = None,
    subject_id: str | None = None,
    facility_id: str | None = None,
    after_seq: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    newest_first: bool = False,
) -> Listing:
    """The tenant's entries in chain order (``newest_first``: reversed), filtered; ``start`` and
    ``end`` bound the creation time, ``after_seq`` the position."""
    where = [AuditEntry.tenant_id == tenant_id]
    if action is not None:
        where.append(AuditEntry.action == action)
    if subject_id is not None:
        where.append(AuditEntry.subject_id == subject_id)
    if facility_id is not None:
        where.append(AuditEntry.facility_id == facility_id)
    if after_seq is not None:
        where.append(AuditEntry.seq > after_seq)
    where += within(AuditEntry.created_at, start, end)
    order = AuditEntry.seq.desc() if newest_first else AuditEntry.seq
    return tenant_listing(
        AuditEntry,
        tenant_id=tenant_id,
        query=select(AuditEntry).where(*where).order_by(order),
        keys=[SortKey(AuditEntry.seq, descending=newest_first)],
    )


def get_entry(session: Session, *, tenant_id: str, entry_id: str) -> chain.Entry | None:
    row = session.scalar(
        select(AuditEntry).where(AuditEntry.id == entry_id, AuditEntry.tenant_id == tenant_id)
    )
    return to_entry(row) if row is not None else None


def to_entry(row: AuditEntry) -> chain.Entry:
    return chain.Entry(
        seq=row.seq,
        id=row.id,
        tenant_id=row.tenant_id,
        created_at=row.created_at,
        action=row.action,
        actor=row.actor,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        facility_id=row.facility_id,
        details=row.details,
        prev_hash=row.prev_hash,
        row_hash=row.row_hash,
    )


def head_of(session: Session, *, tenant_id: str) -> tuple[int, str]:
    """(seq, row_hash) of the tenant's recorded chain head; (0, GENESIS) when it has none."""
    head = session.get(AuditHead, tenant_id)
    return (head.seq, head.row_hash) if head else (0, chain.GENESIS)


def verify(
    session: Session,
    *,
    tenant_id: str,
    track: Callable[[Iterator[chain.Entry]], Iterable[chain.Entry]] | None = None,
) -> chain.Verdict:
    """Verify a tenant's chain; ``track`` may wrap the entry stream (e.g. a progress bar)."""
    head_seq, head_hash = head_of(session, tenant_id=tenant_id)

    def locate(row_hash: str) -> int | None:
        return session.scalar(
            select(AuditEntry.seq)
            .where(AuditEntry.tenant_id == tenant_id, AuditEntry.row_hash == row_hash)
            .limit(1)
        )

    stream = entries(session, tenant_id=tenant_id)
    return chain.verify(
        track(stream) if track else stream, head_seq=head_seq, head_hash=head_hash, locate=locate
    )


def tenants_with_log(session: Session) -> list[str]:
    """Tenants that have a chain (a head row or any entry), in id order."""
    heads = set(session.scalars(select(AuditHead.tenant_id)))
    heads |= set(session.scalars(select(AuditEntry.tenant_id).distinct()))
    return sorted(heads)
