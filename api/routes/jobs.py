"""Jobs: the state, logs and outcome of enqueued work."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from api.deps import CallerDep, ReadSession
from api.errors import found
from api.pages import CursorPage, Page, listing_page, numbered
from api.params import DATE_EXAMPLES, parse_bound
from api.schemas import JobOut, JobPage, RejectedRowOut, RejectedRowPage
from worker.storage import jobs

router = APIRouter(tags=["jobs"])


@router.get("/jobs")
def list_jobs(
    status: Literal["queued", "running", "succeeded", "failed"] | None = None,
    kind: str | None = Query(None, description="e.g. ingest.process_upload"),
    created_from: str | None = Query(
        None, alias="from", description="created at or after (ISO 8601)", examples=DATE_EXAMPLES
    ),
    created_to: str | None = Query(
        None, alias="to", description="created at or before (ISO 8601)", examples=DATE_EXAMPLES
    ),
    *,
    paging: CursorPage,
    who: CallerDep,
    session: ReadSession,
) -> JobPage:
    """The tenant's jobs, newest first."""
    listing = jobs.job_listing(
        tenant_id=who.tenant_id,
        status=status,
        kind=kind,
        created_from=parse_bound(created_from, "from", end=False) if created_from else None,
        created_to=parse_bound(created_to, "to", end=True) if created_to else None,
    )
    rows, page_fields = listing_page(session, listing, paging)
    return JobPage(data=[JobOut.of(j) for (j,) in rows], **page_fields)


@router.get("/jobs/{job_id}")
def read_job(job_id: str, who: CallerDep, session: ReadSession) -> JobOut:
    return JobOut.of(
        found(jobs.get_job(session, job_id=job_id, tenant_id=who.tenant_id), "job", job_id)
    )


@router.get("/jobs/{job_id}/rejected-rows")
def list_rejected_rows(
    job_id: str,
    *,
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> RejectedRowPage:
    job = found(jobs.get_job(session, job_id=job_id, tenant_id=who.tenant_id), "job", job_id)
    query = jobs.rejected_rows(tenant_id=who.tenant_id, job_id=job.id)
    rows, pagination = numbered(session, query, paging)
    return RejectedRowPage(data=[RejectedRowOut.of(r) for (r,) in rows], pagination=pagination)
