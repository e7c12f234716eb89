"""The dashboard's document pages: upload a PDF (invoice, bill of lading, product transfer
document), see what was read from it with each field's confidence, how it reconciles against
the facility's meters, and record how a failed reconciliation was resolved.

Uploads go through ``enqueue.document`` (as ``POST /v1/documents``); notes through
``documents.set_resolution_note`` (as ``PATCH /v1/documents/{id}``), audit-logged the same way.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api import enqueue
from api.dashboard.pages import PageNotFound, facility_of, render
from api.dashboard.session import PATH, Viewer, editor, viewer
from api.deps import get_session, read_session
from api.routes.documents import pdf_file
from api.uploads import FormFile
from pipelines.documents.model import DOCUMENT_TYPES
from worker.storage import audit, documents, facilities
from worker.storage.models import Document

router = APIRouter(prefix=PATH, include_in_schema=False)


def _owned(session: Session, who: Viewer, document_id: str) -> Document:
    doc = documents.get_document(session, document_id=document_id, tenant_id=who.tenant_id)
    if doc is None:
        raise PageNotFound("document", document_id)
    return doc


@router.get("/documents")
def documents_page(
    request: Request, who: Viewer = Depends(viewer), session: Session = Depends(read_session)
) -> Response:
    rows = session.scalars(documents.document_listing(tenant_id=who.tenant_id).limit(200)).all()
    owned = session.scalars(facilities.facility_listing(tenant_id=who.tenant_id)).all()
    return render(request, "documents.html", {
        "who": who, "nav": "documents", "documents": rows, "facilities": owned,
        "types": DOCUMENT_TYPES, "refresh": any(d.status == "queued" for d in rows),
    })  # fmt: skip


@router.post("/documents")
def upload_document(
    request: Request,
    who: Viewer = Depends(editor),
    file: FormFile = Depends(pdf_file),
    session: Session = Depends(get_session),
) -> Response:
    facility_id = file.fields["facility_id"]
    if facility_id is not None:
        facility_of(session, who, facility_id)
    accepted = enqueue.document(session, tenant_id=who.tenant_id, file=file,
                                facility_id=facility_id,
                                declared_type=file.fields["document_type"])  # fmt: skip
    target = f"{PATH}/documents/{quote(accepted.document_id)}"
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"document_id": accepted.document_id, "url": target}, 202)
    return RedirectResponse(target, status_code=303)


@router.get("/documents/{document_id}")
def document_page(
    request: Request,
    document_id: str,
    who: Viewer = Depends(viewer),
    session: Session = Depends(read_session),
) -> Response:
    doc = _owned(session, who, document_id)
    return render(request, "document.html", {"who": who, "nav": "documents", "doc": doc})


@router.post("/documents/{document_id}/note")
async def resolution_note(
    request: Request,
    document_id: str,
    who: Viewer = Depends(editor),
    session: Session = Depends(get_session),
) -> Response:
    doc = _owned(session, who, document_id)
    form = await request.form()
    note = str(form.get("note") or "")[:2000]
    documents.set_resolution_note(session, document=doc, note=note,
                                  actor=audit.actor_of_key(who.key_id))  # fmt: skip
    return RedirectResponse(f"{PATH}/documents/{quote(doc.id)}", status_code=303)
