"""Jobs: the state, logs and outcome of enqueued work."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import Caller, caller, read_session
from api.errors import not_found
from api.pages import StartingAfter, listing_page
from api.params import DATE_EXAMPLES, parse_bound
from api.schemas import MAX_PAGE, JobOut, JobPage, RejectedRowPage
from worker.storage.jobs import get_job, job_view
from worker.storage.models import Job, RejectedRow
from worker.storage.pages import SortKey

router = APIRouter(tags=["jobs"])


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    status: Literal["queued", "running", "succeeded", "failed"] | None = None,
    kind: str | None = Query(None, description="e.g. ingest.process_upload"),
    created_from: str | None = Query(
        None, alias="from", description="created at or after (ISO 8601)", examples=DATE_EXAMPLES
    ),
    created_to: str | None = Query(
        None, alias="to", description="created at or before (ISO 8601)", examples=DATE_EXAMPLES
    ),
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    starting_after: StartingAfter = None,
    *,
    request: Request,
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """The tenant's jobs, newest first."""
    where = [Job.tenant_id == who.tenant_id]
    if status is not None:
        where.append(Job.status == status)
    if kind is not None:
        where.append(Job.kind == kind)
    if created_from is not None:
        where.append(Job.created_at >= parse_bound(created_from, "from", end=False))
    if created_to is not None:
        where.append(Job.created_at <= parse_bound(created_to, "to", end=True))
    keys = [SortKey(Job.created_at, descending=True), SortKey(Job.id)]
    query = select(Job).where(*where).order_by(Job.created_at.desc(), Job.id)
    rows, paging = listing_page(
        request, session, query=query, keys=keys, limit=limit, page=page,
        starting_after=starting_after, item_id=lambda row: row[0].id,
        locate=lambda cursor: [Job.id == cursor, Job.tenant_id == who.tenant_id],
    )  # fmt: skip
    return {"data": [job_view(j) for (j,) in rows], **paging}


@router.get("/jobs/{job_id}", response_model=JobOut)
def read_job(
    job_id: str, who: Caller = Depends(caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    job = get_job(session, job_id=job_id, tenant_id=who.tenant_id)
    if job is None:
        raise not_found("job", job_id)
    return job_view(job)


@router.get("/jobs/{job_id}/rejected-rows", response_model=RejectedRowPage)
def list_rejected_rows(
    job_id: str,
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    job = get_job(session, job_id=job_id, tenant_id=who.tenant_id)
    if job is None:
        raise not_found("job", job_id)
    where = (RejectedRow.job_id == job.id, RejectedRow.tenant_id == who.tenant_id)
    total = session.scalar(select(func.count()).select_from(RejectedRow).where(*where))
    rows = session.scalars(
        select(RejectedRow)
        .where(*where)
        .order_by(RejectedRow.row_number)
        .limit(limit)
        .offset((page - 1) * limit)
    )
    return {
        "data": [{"row": r.row_number, "reason": r.reason, "raw": r.raw} for r in rows],
        "pagination": {"total": int(total or 0), "page": page, "per_page": limit},
    }
