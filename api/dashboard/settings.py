"""Settings > API keys, and the audit log with the verification of its chain."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from api.dashboard.common import (
    PAGE,
    PageNotFound,
    render,
    text_of,
)
from api.dashboard.session import PATH, EditorDep, Viewer, ViewerDep
from api.deps import ReadSession, WriteSession
from api.errors import ApiError
from api.pages import PageNumber
from worker.storage import audit, tenants
from worker.storage.models import ApiKey
from worker.storage.pages import numbered_page

router = APIRouter(prefix=PATH, include_in_schema=False)


# --- settings: API keys -------------------------------------------------------------------------


@router.get("/settings/keys")
def keys_page(request: Request, who: ViewerDep, session: ReadSession) -> Response:
    return _keys(request, who, session)


def _keys(
    request: Request, who: Viewer, session: Session, created: tuple[ApiKey, str] | None = None
) -> Response:
    rows = tenants.list_api_keys(session, tenant_id=who.tenant_id)
    return render(request, "keys.html", {"who": who, "nav": "keys", "keys": rows,
                                         "created": created})  # fmt: skip


@router.post("/settings/keys")
async def create_key(request: Request, who: EditorDep, session: WriteSession) -> Response:
    form = await request.form()
    name = (text_of(form.get("name")) or "").strip()[:200]
    scope = text_of(form.get("scope")) or "write"
    if scope not in tenants.SCOPES:
        raise ApiError(400, "invalid_parameter", "scope must be write or read", field="scope")
    created = tenants.create_api_key(session, tenant_id=who.tenant_id, name=name, scope=scope,
                                     actor=audit.actor_of_key(who.key_id))  # fmt: skip
    session.commit()
    page = _keys(request, who, session, created=created)
    page.headers["Cache-Control"] = "no-store"  # the new key is on this page, once
    return page


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(key_id: str, who: EditorDep, session: WriteSession) -> Response:
    key = tenants.revoke_tenant_api_key(session, tenant_id=who.tenant_id, key_id=key_id,
                                        actor=audit.actor_of_key(who.key_id))  # fmt: skip
    if key is None:
        raise PageNotFound("API key", key_id)
    return RedirectResponse(f"{PATH}/settings/keys", status_code=303)


# --- audit log ----------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(
    request: Request,
    page: PageNumber = 1,
    *,
    who: ViewerDep,
    session: ReadSession,
) -> Response:
    page = max(page, 1)
    listing = audit.entry_listing(tenant_id=who.tenant_id, newest_first=True)
    rows, has_more, total = numbered_page(session, query=listing.query, limit=PAGE, page=page)
    verdict = audit.verify(session, tenant_id=who.tenant_id)
    return render(request, "audit.html", {
        "who": who, "nav": "audit", "entries": [r[0] for r in rows], "page": page,
        "has_more": has_more, "total": total, "verdict": verdict,
    })  # fmt: skip
