"""Uploads and the jobs they start, and LCFS reports: request, status, totals, preview,
download."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api import enqueue
from api.dashboard.common import (
    PAGE,
    PageNotFound,
    facility_of,
    queued,
    render,
    text_of,
)
from api.dashboard.session import PATH, EditorDep, ViewerDep
from api.deps import ReadSession, WriteSession
from api.errors import ApiError
from api.pages import PageNumber
from api.routes.data_points import csv_file
from api.schemas.reports import ReportIn
from api.uploads import FormFile
from worker.storage import facilities, jobs, reports
from worker.storage.models import Report
from worker.storage.pages import numbered_page

router = APIRouter(prefix=PATH, include_in_schema=False)


# --- jobs and uploads ---------------------------------------------------------------------------


@router.get("/jobs")
def jobs_page(
    request: Request,
    page: PageNumber = 1,
    *,
    who: ViewerDep,
    session: ReadSession,
) -> Response:
    page = max(page, 1)
    listing = jobs.job_listing(tenant_id=who.tenant_id)
    rows, has_more, total = numbered_page(session, query=listing.query, limit=PAGE, page=page)
    return render(
        request,
        "jobs.html",
        {
            "who": who,
            "nav": "jobs",
            "jobs": [r[0] for r in rows],
            "page": page,
            "has_more": has_more,
            "total": total,
        },
    )


@router.get("/jobs/{job_id}")
def job_page(
    request: Request,
    job_id: str,
    who: ViewerDep,
    session: ReadSession,
) -> Response:
    job = jobs.get_job(session, job_id=job_id, tenant_id=who.tenant_id)
    if job is None:
        raise PageNotFound("job", job_id)
    rejected = session.scalars(
        jobs.rejected_rows(tenant_id=who.tenant_id, job_id=job.id).limit(200)
    ).all()
    return render(
        request, "job.html", {"who": who, "nav": "jobs", "job": job, "rejected": rejected}
    )


@router.get("/upload")
def upload_form(request: Request, who: ViewerDep, session: ReadSession) -> Response:
    rows = session.scalars(facilities.facility_listing(tenant_id=who.tenant_id)).all()
    return render(request, "upload.html", {"who": who, "nav": "upload", "facilities": rows})


@router.post("/upload")
def upload(
    request: Request,
    who: EditorDep,
    file: FormFile = Depends(csv_file),
    *,
    session: WriteSession,
) -> Response:
    """The upload form's CSV: queued as ``POST /v1/data-points/import`` queues it."""
    facility_id = file.fields["facility_id"]
    if facility_id is not None:
        facility_of(session, who, facility_id)
    accepted = enqueue.points_csv(
        session, tenant_id=who.tenant_id, file=file, facility_id=facility_id
    )
    return queued(request, f"{PATH}/jobs/{quote(accepted.job_id)}", job_id=accepted.job_id)


# --- reports ------------------------------------------------------------------------------------


@router.get("/reports")
def reports_page(request: Request, who: ViewerDep, session: ReadSession) -> Response:
    rows = session.scalars(reports.report_listing(tenant_id=who.tenant_id).limit(100)).all()
    owned = session.scalars(facilities.facility_listing(tenant_id=who.tenant_id)).all()
    refresh = any(r.status == "queued" for r in rows)
    today = datetime.now(UTC).date()
    return render(
        request,
        "reports.html",
        {
            "who": who,
            "nav": "reports",
            "reports": rows,
            "facilities": owned,
            "refresh": refresh,
            "year": today.year if today.month > 3 else today.year - 1,
            "quarter": ((today.month - 1) // 3) or 4,
        },
    )


@router.post("/reports")
async def request_report(request: Request, who: EditorDep, session: WriteSession) -> Response:
    form = await request.form()
    facility = facility_of(session, who, text_of(form.get("facility_id")) or "")
    try:
        body = ReportIn.model_validate(
            {
                "facility_id": facility.id,
                "quarter": text_of(form.get("quarter")) or "",
                "year": int(text_of(form.get("year")) or 0),
                "format": text_of(form.get("format")) or "pdf",
                "preparer": text_of(form.get("preparer")) or "",
                "reviewer": text_of(form.get("reviewer")) or "",
            }
        )
    except (ValidationError, ValueError) as exc:
        raise ApiError(400, "invalid_parameter", _first_error(exc)) from None
    enqueue.report(session, facility=facility, body=body)
    return RedirectResponse(f"{PATH}/reports", status_code=303)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return "year must be a number"


@router.get("/reports/{report_id}")
def report_page(
    request: Request,
    report_id: str,
    who: ViewerDep,
    session: ReadSession,
) -> Response:
    """A report's status, totals per fuel pathway, what to check before filing, and (a PDF)
    its pages shown in the browser's own PDF viewer."""
    row = reports.get_report(session, tenant_id=who.tenant_id, report_id=report_id)
    if row is None:
        raise PageNotFound("report", report_id)
    return render(
        request,
        "report.html",
        {"who": who, "nav": "reports", "report": row, "totals": row.totals or {}},
    )


@router.get("/reports/{report_id}/file")
def report_file(report_id: str, who: ViewerDep, session: ReadSession) -> Response:
    row: Report | None = reports.get_report(
        session, tenant_id=who.tenant_id, report_id=report_id, content=True
    )
    if row is None:
        raise PageNotFound("report", report_id)
    if row.status != "generated" or row.content is None:
        raise ApiError(409, "report_not_ready", f"report '{report_id}' is {row.status}")
    name = f"lcfs_{row.facility_id}_{row.year}Q{row.quarter}{'_draft' if row.draft else ''}"
    inline = row.format == "pdf"
    disposition = "inline" if inline else "attachment"
    return Response(
        content=row.content,
        media_type=row.content_type,
        headers={"Content-Disposition": f'{disposition}; filename="{name}.{row.format}"'},
    )
