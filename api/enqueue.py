"""Queueing work from a request: the rows a job reads are stored and committed, and only then is
the job published (``worker.dispatch``), so a worker never looks for a row that is not committed
yet. If the broker cannot be reached the job stays queued, and ``jobs.requeue_stale`` sends it.

Each function takes what a route parsed and authorised, and returns the route's answer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.errors import ApiError, about
from api.schemas import Accepted
from api.schemas.documents import DocumentAccepted
from api.schemas.reports import ReportIn, ReportOut
from api.uploads import FormFile
from pipelines.errors import PipelineError
from pipelines.ingest import check_header
from worker.dispatch import dispatch
from worker.storage import documents, reports, uploads
from worker.storage.models import Facility, Job


def points(
    session: Session, *, tenant_id: str, content: bytes, facility_id: str | None
) -> Accepted:
    """Queue a JSON batch of points (checked point by point by the worker)."""
    upload = uploads.save_upload(session, tenant_id=tenant_id, content=content,
                                 content_type="application/json", filename="")  # fmt: skip
    job = uploads.queue_ingest(session, upload=upload, facility_id=facility_id)
    _publish(session, job)
    return Accepted(job_id=job.id, upload_id=upload.id)


def points_csv(
    session: Session, *, tenant_id: str, file: FormFile, facility_id: str | None
) -> Accepted:
    """Queue a CSV file of points. A file whose header is refused is kept all the same: the
    error's ``upload_id`` finds the bytes again."""
    upload = uploads.save_upload(session, tenant_id=tenant_id, content=file.content,
                                 content_type="text/csv", filename=file.filename)  # fmt: skip
    try:
        with about("file", upload_id=upload.id):
            check_header(file.content, facility_given=facility_id is not None)
    except PipelineError:
        session.commit()  # keep what was received, then refuse it
        raise
    job = uploads.queue_ingest(session, upload=upload, facility_id=facility_id)
    _publish(session, job)
    return Accepted(job_id=job.id, upload_id=upload.id)


def document(
    session: Session,
    *,
    tenant_id: str,
    file: FormFile,
    facility_id: str | None,
    declared_type: str | None,
) -> DocumentAccepted:
    """Queue a document for extraction; the same file again is the same document, queued again
    only when its earlier run failed for a passing reason."""
    received = documents.receive_document(
        session, tenant_id=tenant_id, content=file.content, filename=file.filename,
        media_type=(file.media_type or "application/pdf")[:100], facility_id=facility_id,
        declared_type=declared_type,
    )  # fmt: skip
    doc, job = received.document, received.job
    if job is None:  # a duplicate with nothing to run
        session.commit()
        return DocumentAccepted(document_id=doc.id, job_id=doc.job_id, status=doc.status,
                                duplicate=True)  # fmt: skip
    _publish(session, job)
    return DocumentAccepted(document_id=doc.id, job_id=job.id, status="queued",
                            duplicate=not received.created)  # fmt: skip


def report(session: Session, *, facility: Facility, body: ReportIn) -> ReportOut:
    """Queue an LCFS quarterly report: 400 when the facility has nothing to report on, or when
    the quarter cannot be computed (the error says what is missing)."""
    if not reports.has_fuel_inputs(session, facility_id=facility.id):
        raise ApiError(400, "no_fuel_mapping",
                       f"facility '{facility.id}' has no fuel mapping and no fuel transactions: "
                       f"PUT /v1/facilities/{facility.id}/fuel-mappings first",
                       field="facility_id")  # fmt: skip
    with about("year"):
        row, job = reports.request_report(
            session, facility=facility, year=body.year, quarter=body.quarter_number,
            fmt=body.format, preparer=body.preparer, reviewer=body.reviewer,
        )  # fmt: skip
    answer = ReportOut.of(row)
    _publish(session, job)
    return answer


def _publish(session: Session, job: Job) -> None:
    session.commit()  # the worker must find the job and its rows: publish only after this
    dispatch(job.id, job.kind)
