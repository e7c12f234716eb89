"""Documents: upload invoices, bills of lading and PTDs for extraction; read the results."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import Caller, caller, get_session, read_session, writer
from api.errors import ApiError, not_found, responses
from api.params import file_name
from api.routes.facilities import owned_facility
from api.schemas import MAX_PAGE, Pagination, request_body
from pipelines.documents import DOCUMENT_TYPES
from worker import kinds
from worker.dispatch import dispatch
from worker.settings import get_settings
from worker.storage import audit
from worker.storage import documents as storage
from worker.storage.jobs import create_job
from worker.storage.models import Document, Facility
from worker.storage.uploads import save_upload

router = APIRouter(tags=["documents"])
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the other fields


class DocumentAccepted(BaseModel):
    document_id: str
    job_id: str | None
    status: str
    duplicate: bool


class FieldOut(BaseModel):
    value: str | float
    confidence: float
    source: str | None = None


class ErrorOut(BaseModel):
    code: str | None
    message: str


class DocumentOut(BaseModel):
    id: str
    status: str
    document_type: str | None
    declared_type: str | None
    facility_id: str | None
    filename: str
    sha256: str
    pages: int | None
    fields: dict[str, FieldOut]
    warnings: list[str]
    reconciliation: dict[str, Any] | None
    error: ErrorOut | None
    job_id: str | None
    resolution_note: str = Field(description="How a failed or warned reconciliation was resolved")
    created_at: str
    processed_at: str | None


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    resolution_note: str = Field(max_length=2000, pattern=r"^[^\x00]*$")


class DocumentPage(BaseModel):
    data: list[DocumentOut]
    pagination: Pagination


def _too_large(size: int) -> ApiError:
    limit = get_settings().document_max_bytes
    return ApiError(
        413,
        "payload_too_large",
        f"the document is {size} bytes; the limit is {limit} bytes",
        field="file",
    )


def _form_text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


DOCUMENT_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The PDF"},
        "document_type": {"type": "string", "enum": list(DOCUMENT_TYPES)},
        "facility_id": {"type": "string"},
    },
}


@router.post(
    "/documents",
    status_code=202,
    response_model=DocumentAccepted,
    responses=responses(413, 415),
    openapi_extra=request_body({"multipart/form-data": DOCUMENT_UPLOAD}),
)
async def upload_document(
    request: Request,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Queue a PDF for extraction (multipart: ``file``; optional ``document_type``:
    invoice, bill_of_lading, product_transfer_document or unknown; optional ``facility_id``).

    The same file again is the same document (``duplicate: true``), not queued again unless its
    earlier run failed for a passing reason (internal error or timeout).
    """
    limit = get_settings().document_max_bytes
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the document as multipart/form-data in the 'file' field, "
            "e.g. curl -F file=@invoice.pdf",
        )
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit + FORM_OVERHEAD:
        raise _too_large(declared)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(
            400, "missing_parameter", "file is required (multipart field 'file')", field="file"
        )
    document_type = _form_text(form.get("document_type"))
    if document_type is not None and document_type not in DOCUMENT_TYPES:
        raise ApiError(
            400,
            "invalid_parameter",
            f"document_type must be one of {', '.join(DOCUMENT_TYPES)}",
            field="document_type",
        )
    facility_id = _form_text(form.get("facility_id"))
    content = await upload.read()
    if len(content) > limit:
        raise _too_large(len(content))
    if not content:
        raise ApiError(400, "empty_file", "the file is empty", field="file")
    filename = file_name(upload.filename)
    media_type = (upload.content_type or "application/pdf")[:100]

    def store() -> dict[str, Any]:
        if facility_id is not None:
            found = session.scalar(
                select(Facility.id).where(
                    Facility.id == facility_id, Facility.tenant_id == who.tenant_id
                )
            )
            if found is None:
                raise not_found("facility", facility_id)
        kept = save_upload(
            session,
            tenant_id=who.tenant_id,
            content=content,
            content_type=media_type,
            filename=filename,
        )
        document, created = storage.create_document(
            session,
            tenant_id=who.tenant_id,
            upload=kept,
            facility_id=facility_id,
            declared_type=document_type,
            filename=filename,
        )
        if not created and not storage.should_requeue(document):
            session.commit()
            return {
                "document_id": document.id,
                "job_id": document.job_id,
                "status": document.status,
                "duplicate": True,
            }
        job = create_job(
            session,
            tenant_id=who.tenant_id,
            kind=kinds.PROCESS_DOCUMENT,
            upload_id=kept.id,
            params={"document_id": document.id},
        )
        storage.reset_for_requeue(document, job_id=job.id)
        session.commit()  # the worker must find the rows: publish only after this commit
        dispatch(job.id, job.kind)
        return {
            "document_id": document.id,
            "job_id": job.id,
            "status": "queued",
            "duplicate": not created,
        }

    return await run_in_threadpool(store)


@router.get("/documents", response_model=DocumentPage)
def list_documents(
    facility_id: str | None = None,
    status: Literal["queued", "processed", "failed"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    where = [Document.tenant_id == who.tenant_id]
    if facility_id is not None:
        where.append(Document.facility_id == owned_facility(session, who, facility_id).id)
    if status is not None:
        where.append(Document.status == status)
    total = session.scalar(select(func.count()).select_from(Document).where(*where))
    rows = session.scalars(
        select(Document)
        .where(*where)
        .order_by(Document.created_at.desc(), Document.id)
        .limit(limit)
        .offset((page - 1) * limit)
    )
    return {
        "data": [storage.document_view(d) for d in rows],
        "pagination": {"total": int(total or 0), "page": page, "per_page": limit},
    }


@router.patch("/documents/{document_id}", response_model=DocumentOut, responses=responses(400))
def patch_document(
    document_id: str,
    body: DocumentPatch,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Record how a failed or warned reconciliation was resolved (shown in the LCFS report)."""
    document = storage.get_document(session, document_id=document_id, tenant_id=who.tenant_id)
    if document is None:
        raise not_found("document", document_id)
    storage.set_resolution_note(session, document=document, note=body.resolution_note,
                                actor=audit.actor_of_key(who.key_id))  # fmt: skip
    return storage.document_view(document)


@router.get("/documents/{document_id}", response_model=DocumentOut)
def read_document(
    document_id: str, who: Caller = Depends(caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    document = storage.get_document(session, document_id=document_id, tenant_id=who.tenant_id)
    if document is None:
        raise not_found("document", document_id)
    return storage.document_view(document)
