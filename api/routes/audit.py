"""The tenant's audit log and its verification."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import Caller, caller, read_session
from api.errors import not_found
from api.pages import StartingAfter, listing_page
from api.params import DATE_EXAMPLES
from api.routes.analysis import _range
from api.routes.facilities import owned_facility
from api.schemas import MAX_PAGE
from worker.storage import audit
from worker.storage.models import AuditEntry
from worker.storage.pages import SortKey

router = APIRouter(tags=["audit"])


@router.get("/audit-log")
def list_audit_entries(
    action: str | None = Query(None, description="e.g. report.generated"),
    subject_id: str | None = Query(None, description="a job, report, document, endpoint or key"),
    facility_id: str | None = None,
    start_date: str | None = Query(
        None, description="entries at or after (ISO 8601)", examples=DATE_EXAMPLES
    ),
    end_date: str | None = Query(
        None, description="entries at or before (ISO 8601)", examples=DATE_EXAMPLES
    ),
    after_seq: int | None = Query(
        None, ge=0, le=2**63 - 1, description="only entries after this position"
    ),
    order: Literal["asc", "desc"] = Query(
        "asc", description="asc: chain order, oldest first; desc: newest first"
    ),
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    starting_after: StartingAfter = None,
    *,
    request: Request,
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """The tenant's audit entries in chain order (``order=desc``: newest first), each with its
    ``prev_hash`` and ``row_hash``.

    Inputs and outputs are recorded as SHA-256 hashes (upload, report input data, report file,
    document), never their contents."""
    where = [AuditEntry.tenant_id == who.tenant_id]
    if action is not None:
        where.append(AuditEntry.action == action)
    if subject_id is not None:
        where.append(AuditEntry.subject_id == subject_id)
    if facility_id is not None:
        where.append(AuditEntry.facility_id == owned_facility(session, who, facility_id).id)
    if after_seq is not None:
        where.append(AuditEntry.seq > after_seq)
    where += _range(AuditEntry.created_at, start_date, end_date)
    seq = AuditEntry.seq.desc() if order == "desc" else AuditEntry.seq
    query = select(AuditEntry).where(*where).order_by(seq)
    rows, paging = listing_page(
        request, session, query=query, limit=limit, page=page, starting_after=starting_after,
        keys=[SortKey(AuditEntry.seq, descending=order == "desc")], item_id=lambda row: row[0].id,
        locate=lambda cursor: [AuditEntry.id == cursor, AuditEntry.tenant_id == who.tenant_id],
    )  # fmt: skip
    return {"data": [audit.entry_view(audit.to_entry(e)) for (e,) in rows], **paging}


@router.get("/audit-log/verify")
def verify_audit_log(
    who: Caller = Depends(caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    """Recompute the tenant's chain: ``valid``, the number of entries, the head (record its
    ``row_hash`` elsewhere to anchor the log) and the first altered, deleted or reordered entry.
    """
    return audit.verify(session, tenant_id=who.tenant_id).to_dict()


@router.get("/audit-log/{entry_id}")
def read_audit_entry(
    entry_id: str, who: Caller = Depends(caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    """One audit entry by its id, with its chain fields."""
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.id == entry_id, AuditEntry.tenant_id == who.tenant_id)
    )
    if entry is None:
        raise not_found("audit entry", entry_id)
    return audit.entry_view(audit.to_entry(entry))
