"""The tenant's audit log and its verification."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from api.deps import CallerDep, ReadSession, owned_facility
from api.errors import found
from api.pages import CursorPage, listing_page
from api.params import DATE_EXAMPLES, bounds
from api.schemas.audit import AuditEntryOut, AuditEntryPage, AuditVerdictOut
from worker.storage import audit

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
    *,
    paging: CursorPage,
    who: CallerDep,
    session: ReadSession,
) -> AuditEntryPage:
    """The tenant's audit entries in chain order (``order=desc``: newest first), each with its
    ``prev_hash`` and ``row_hash``.

    Inputs and outputs are recorded as SHA-256 hashes (upload, report input data, report file,
    document), never their contents."""
    if facility_id is not None:
        facility_id = owned_facility(session, who, facility_id).id
    start, end = bounds(start_date, end_date)
    listing = audit.entry_listing(
        tenant_id=who.tenant_id,
        action=action,
        subject_id=subject_id,
        facility_id=facility_id,
        after_seq=after_seq,
        start=start,
        end=end,
        newest_first=order == "desc",
    )
    rows, page_fields = listing_page(session, listing, paging)
    return AuditEntryPage(
        data=[AuditEntryOut.of(audit.to_entry(e)) for (e,) in rows], **page_fields
    )


@router.get("/audit-log/verify")
def verify_audit_log(who: CallerDep, session: ReadSession) -> AuditVerdictOut:
    """Recompute the tenant's chain: ``valid``, the number of entries, the head (record its
    ``row_hash`` elsewhere to anchor the log) and the first altered, deleted or reordered entry.
    """
    return AuditVerdictOut.of(audit.verify(session, tenant_id=who.tenant_id))


@router.get("/audit-log/{entry_id}")
def read_audit_entry(entry_id: str, who: CallerDep, session: ReadSession) -> AuditEntryOut:
    """One audit entry by its id, with its chain fields."""
    entry = audit.get_entry(session, tenant_id=who.tenant_id, entry_id=entry_id)
    return AuditEntryOut.of(found(entry, "audit entry", entry_id))
