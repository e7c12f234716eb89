"""The dashboard's document pages: upload a PDF (invoice, bill of lading, product transfer
document), see what was read from it with each field's confidence, how it reconciles against
the facility's meters, and record how a failed reconciliation was resolved.

Uploads go through ``enqueue.document`` (as ``POST /v1/documents``); notes through
``documents.set_resolution_note`` (as ``PATCH /v1/documents/{id}``), audit-logged the same way.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from api import enqueue
from api.dashboard.common import PageNotFound, facility_of, queued, render
from api.dashboard.session import PATH, EditorDep, Viewer, ViewerDep
from api.deps import ReadSession, WriteSession
from api.errors import ApiError, about
from api.routes.documents import pdf_file
from api.uploads import FormFile
from pipelines import documents as docs
from pipelines.documents.model import DOCUMENT_TYPES
from worker.storage import audit, documents, facilities, reports
from worker.storage.models import Document

router = APIRouter(prefix=PATH, include_in_schema=False)
# Offered in the review form even when nothing was read for them: what reconciliation and the
# fuel transaction need.
KEY_FIELDS = ("document_date", "quantity", "unit", "fuel_pathway_code", "transaction_date")


def _owned(session: Session, who: Viewer, document_id: str) -> Document:
    doc = documents.get_document(session, document_id=document_id, tenant_id=who.tenant_id)
    if doc is None:
        raise PageNotFound("document", document_id)
    return doc


@router.get("/documents")
def documents_page(request: Request, who: ViewerDep, session: ReadSession) -> Response:
    rows = session.scalars(documents.document_listing(tenant_id=who.tenant_id).limit(200)).all()
    owned = session.scalars(facilities.facility_listing(tenant_id=who.tenant_id)).all()
    return render(
        request,
        "documents.html",
        {
            "who": who,
            "nav": "documents",
            "documents": rows,
            "facilities": owned,
            "types": DOCUMENT_TYPES,
            "refresh": any(d.status == "queued" for d in rows),
        },
    )


@router.post("/documents")
def upload_document(
    request: Request,
    who: EditorDep,
    file: FormFile = Depends(pdf_file),
    *,
    session: WriteSession,
) -> Response:
    facility_id = file.fields["facility_id"]
    if facility_id is not None:
        facility_of(session, who, facility_id)
    accepted = enqueue.document(
        session,
        tenant_id=who.tenant_id,
        file=file,
        facility_id=facility_id,
        declared_type=file.fields["document_type"],
    )
    target = f"{PATH}/documents/{quote(accepted.document_id)}"
    return queued(request, target, document_id=accepted.document_id)


@router.get("/documents/{document_id}")
def document_page(
    request: Request,
    document_id: str,
    who: ViewerDep,
    session: ReadSession,
) -> Response:
    doc = _owned(session, who, document_id)
    effective = docs.effective_fields(doc.fields or {}, doc.reviewed_fields)
    rows = [
        (name, effective.get(name), (doc.reviewed_fields or {}).get(name))
        for name in docs.FIELD_NAMES
        if name in effective or name in KEY_FIELDS
    ]
    return render(
        request,
        "document.html",
        {
            "who": who,
            "nav": "documents",
            "doc": doc,
            "rows": rows,
            "notice": request.query_params,
        },
    )


@router.post("/documents/{document_id}/review")
async def review(
    request: Request,
    document_id: str,
    who: EditorDep,
    session: WriteSession,
) -> Response:
    """The review form: each field whose value the reviewer changed is recorded as reviewed
    (``documents.review_document``, as ``POST /v1/documents/{id}/review``), and the
    reconciliation and fuel transaction are computed again."""
    doc = _owned(session, who, document_id)
    if doc.status != "processed":
        message = f"document '{doc.id}' is {doc.status}; only a processed one is reviewed"
        raise ApiError(409, "document_not_processed", message)
    form = await request.form()
    effective = docs.effective_fields(doc.fields or {}, doc.reviewed_fields)
    changes: dict[str, object] = {}
    for name in docs.FIELD_NAMES:
        sent = form.get(f"field.{name}")
        if not isinstance(sent, str) or not sent.strip():
            continue
        now = effective.get(name)
        if now is None or sent.strip() != _shown(now.value):
            changes[name] = sent.strip()
    if not changes:
        return RedirectResponse(f"{PATH}/documents/{quote(doc.id)}?reviewed=0", 303)
    with about("fields"):
        documents.review_document(
            session,
            document=doc,
            changes=changes,
            actor=audit.actor_of_key(who.key_id),
            tables=reports.lcfs_tables(),
        )
    target = f"{PATH}/documents/{quote(doc.id)}?reviewed={len(changes)}"
    return RedirectResponse(target, status_code=303)


def _shown(value: object) -> str:
    """A value as the form shows it (and gets it back when it is left alone)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


@router.post("/documents/{document_id}/note")
async def resolution_note(
    request: Request,
    document_id: str,
    who: EditorDep,
    session: WriteSession,
) -> Response:
    doc = _owned(session, who, document_id)
    form = await request.form()
    note = str(form.get("note") or "")[:2000]
    documents.set_resolution_note(
        session, document=doc, note=note, actor=audit.actor_of_key(who.key_id)
    )
    return RedirectResponse(f"{PATH}/documents/{quote(doc.id)}", status_code=303)
