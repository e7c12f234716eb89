"""Documents: upload invoices, bills of lading and PTDs for extraction; read the results."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends

from api import enqueue
from api.deps import CallerDep, ReadSession, WriterDep, WriteSession, owned_facility
from api.errors import ApiError, about, error_body, found, responses
from api.pages import Page, numbered
from api.schemas import request_body
from api.schemas.document_review import DocumentReview
from api.schemas.documents import (
    DOCUMENT_UPLOAD,
    DocumentAccepted,
    DocumentOut,
    DocumentPage,
    DocumentPatch,
)
from api.uploads import FormFile, MultipartFile
from pipelines.documents import DOCUMENT_TYPES, NotReviewableError
from worker.settings import get_settings
from worker.storage import audit, documents
from worker.storage.reports import lcfs_tables

router = APIRouter(tags=["documents"])


def _too_large(size: int) -> ApiError:
    limit = get_settings().document_max_bytes
    message = f"the document is {size} bytes; the limit is {limit} bytes"
    return ApiError(413, "payload_too_large", message, field="file")


pdf_file = MultipartFile(
    limit=lambda settings: settings.document_max_bytes,
    too_large=_too_large,
    unsupported="send the document as multipart/form-data in the 'file' field, "
    "e.g. curl -F file=@invoice.pdf",
    fields={"document_type": DOCUMENT_TYPES, "facility_id": None},
)


@router.post(
    "/documents",
    status_code=202,
    responses=responses(413, 415),
    openapi_extra=request_body({"multipart/form-data": DOCUMENT_UPLOAD}),
)
def upload_document(
    who: WriterDep,
    file: FormFile = Depends(pdf_file),
    *,
    session: WriteSession,
) -> DocumentAccepted:
    """Queue a PDF for extraction (multipart: ``file``; optional ``document_type``:
    invoice, bill_of_lading, product_transfer_document or unknown; optional ``facility_id``).

    The same file again is the same document (``duplicate: true``), not queued again unless its
    earlier run failed for a passing reason (internal error or timeout).
    """
    facility_id = file.fields["facility_id"]
    if facility_id is not None:
        owned_facility(session, who, facility_id)
    return enqueue.document(
        session,
        tenant_id=who.tenant_id,
        file=file,
        facility_id=facility_id,
        declared_type=file.fields["document_type"],
    )


@router.get("/documents")
def list_documents(
    facility_id: str | None = None,
    status: Literal["queued", "processed", "failed"] | None = None,
    *,
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> DocumentPage:
    if facility_id is not None:
        facility_id = owned_facility(session, who, facility_id).id
    query = documents.document_listing(
        tenant_id=who.tenant_id, facility_id=facility_id, status=status
    )
    rows, pagination = numbered(session, query, paging)
    return DocumentPage(data=[DocumentOut.of(d) for (d,) in rows], pagination=pagination)


@router.patch("/documents/{document_id}", responses=responses(400))
def patch_document(
    document_id: str,
    body: DocumentPatch,
    who: WriterDep,
    session: WriteSession,
) -> DocumentOut:
    """Record how a failed or warned reconciliation was resolved (shown in the LCFS report)."""
    document = documents.get_document(session, document_id=document_id, tenant_id=who.tenant_id)
    document = found(document, "document", document_id)
    documents.set_resolution_note(
        session, document=document, note=body.resolution_note, actor=audit.actor_of_key(who.key_id)
    )
    return DocumentOut.of(document)


@router.get("/documents/{document_id}")
def read_document(document_id: str, who: CallerDep, session: ReadSession) -> DocumentOut:
    document = documents.get_document(session, document_id=document_id, tenant_id=who.tenant_id)
    return DocumentOut.of(found(document, "document", document_id))


BAD_FIELD = error_body(
    400,
    "invalid_field_value",
    "quantity: 'about 8200' is not a number (write it like 8210.5)",
    "fields.quantity",
)
NOT_PROCESSED = error_body(409, NotReviewableError.code, str(NotReviewableError(status="queued")))
REVIEW_ERRORS = responses(400, 409, examples={400: BAD_FIELD, 409: NOT_PROCESSED})


@router.post("/documents/{document_id}/review", responses=REVIEW_ERRORS)
def review_document(
    document_id: str,
    body: DocumentReview,
    who: WriterDep,
    session: WriteSession,
) -> DocumentOut:
    """Correct or confirm a processed document's fields. The reviewed values are kept beside the
    extracted ones (``reviewed_fields``), and the document's reconciliation with the meters and
    its fuel transaction are recomputed with them; audit-logged as ``document.reviewed``.
    Answers the document as ``GET`` does. An unknown field or a value that does not fit it is
    400 naming ``fields.<name>``; a document not processed (yet) is 409."""
    document = documents.get_document(session, document_id=document_id, tenant_id=who.tenant_id)
    document = found(document, "document", document_id)
    if document.status != "processed":
        refused = NotReviewableError(status=document.status)
        raise ApiError(409, refused.code, str(refused))
    with about("fields"):
        documents.review_document(
            session,
            document=document,
            changes=body.fields,
            actor=audit.actor_of_key(who.key_id),
            tables=lcfs_tables(),
        )
    return DocumentOut.of(document)
