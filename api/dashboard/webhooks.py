"""The dashboard's webhook pages: what an integrator needs to run a receiver (endpoints with
their event types, the secret shown once, rotation, a test event, the attempt log with filters
and response excerpts, resending one message, recovering failed ones since a time).

Every change goes through the storage function ``/v1/webhook-endpoints`` uses, with the same
checks (``EndpointIn.check``: the URL may be used, the event types exist) and audit entries.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.dashboard.common import PAGE, PageNotFound, render
from api.dashboard.session import PATH, EditorDep, Viewer, ViewerDep
from api.deps import ReadSession, WriteSession
from api.errors import ApiError, about
from api.pages import PageNumber
from api.routes.webhooks import RECOVER_MAX, URL_REFUSED
from api.schemas.webhooks import EndpointIn, EndpointPatch
from worker.settings import get_settings
from worker.storage import audit, endpoints
from worker.storage.events import EVENT_TYPES
from worker.storage.models import WebhookEndpoint
from worker.storage.pages import numbered_page

router = APIRouter(prefix=PATH, include_in_schema=False)


def _owned(session: Session, who: Viewer, endpoint_id: str) -> WebhookEndpoint:
    endpoint = endpoints.get_endpoint(session, tenant_id=who.tenant_id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise PageNotFound("webhook endpoint", endpoint_id)
    return endpoint


def _refused(exc: ValidationError) -> ApiError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return ApiError(400, "invalid_parameter", f"{where}: {err['msg']}")


@router.get("/webhooks")
def endpoints_page(request: Request, who: ViewerDep, session: ReadSession) -> Response:
    return _list(request, who, session)


def _list(
    request: Request,
    who: Viewer,
    session: Session,
    created: tuple[WebhookEndpoint, str] | None = None,
) -> Response:
    rows = session.scalars(endpoints.endpoint_listing(tenant_id=who.tenant_id)).all()
    return render(
        request,
        "webhooks.html",
        {
            "who": who,
            "nav": "webhooks",
            "endpoints": rows,
            "events": EVENT_TYPES,
            "created": created,
        },
    )


@router.post("/webhooks")
async def create_endpoint(request: Request, who: EditorDep, session: WriteSession) -> Response:
    form = await request.form()
    try:
        body = EndpointIn.model_validate(
            {
                "url": str(form.get("url") or "").strip(),
                "description": str(form.get("description") or "").strip(),
                "event_types": [str(v) for v in form.getlist("event_types")],
            }
        )
    except ValidationError as exc:
        raise _refused(exc) from None
    with about("url", code=URL_REFUSED):
        body.check(allow_http=get_settings().webhook_allow_http)
    created = endpoints.subscribe(
        session,
        tenant_id=who.tenant_id,
        actor=audit.actor_of_key(who.key_id),
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        legacy_signature=body.legacy_signature,
        rate_limit=body.rate_limit,
    )
    session.commit()
    page = _list(request, who, session, created=created)
    page.headers["Cache-Control"] = "no-store"  # the secret is on this page, once
    return page


@router.get("/webhooks/{endpoint_id}")
def endpoint_page(
    request: Request,
    endpoint_id: str,
    status: str = "",
    event_type: str = "",
    page: PageNumber = 1,
    *,
    who: ViewerDep,
    session: ReadSession,
) -> Response:
    endpoint = _owned(session, who, endpoint_id)
    return _detail(
        request, who, session, endpoint, status=status, event_type=event_type, page=max(page, 1)
    )


def _detail(
    request: Request,
    who: Viewer,
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    status: str = "",
    event_type: str = "",
    page: int = 1,
    secret: str | None = None,
) -> Response:
    """The endpoint, its settings form and its attempts (filtered by outcome and event type)."""
    known = (*EVENT_TYPES, "endpoint.test")
    listing = endpoints.attempt_listing(
        tenant_id=who.tenant_id,
        endpoint_id=endpoint.id,
        outcome=status if status in ("success", "failure") else None,
        event_type=event_type if event_type in known else None,
    )
    rows, has_more, total = numbered_page(session, query=listing.query, limit=PAGE, page=page)
    answer = render(
        request,
        "webhook.html",
        {
            "who": who,
            "nav": "webhooks",
            "endpoint": endpoint,
            "attempts": [r[0] for r in rows],
            "events": EVENT_TYPES,
            "known": known,
            "status": status,
            "event_type": event_type,
            "page": page,
            "has_more": has_more,
            "total": total,
            "secret": secret,
            "recover_from": (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "notice": request.query_params,
        },
    )
    if secret is not None:
        answer.headers["Cache-Control"] = "no-store"
    return answer


@router.post("/webhooks/{endpoint_id}")
async def update_endpoint(
    request: Request,
    endpoint_id: str,
    who: EditorDep,
    session: WriteSession,
) -> Response:
    endpoint = _owned(session, who, endpoint_id)
    form = await request.form()
    try:
        body = EndpointPatch.model_validate(
            {
                "description": str(form.get("description") or "").strip(),
                "event_types": [str(v) for v in form.getlist("event_types")],
                "enabled": form.get("enabled") == "on",
            }
        )
    except ValidationError as exc:
        raise _refused(exc) from None
    body.check(allow_http=get_settings().webhook_allow_http)
    endpoints.update_endpoint(
        session, endpoint=endpoint, changes=body.changes(), actor=audit.actor_of_key(who.key_id)
    )
    return RedirectResponse(f"{PATH}/webhooks/{quote(endpoint.id)}", status_code=303)


@router.post("/webhooks/{endpoint_id}/rotate")
def rotate_secret(
    request: Request,
    endpoint_id: str,
    who: EditorDep,
    session: WriteSession,
) -> Response:
    """A new secret, shown on the page this once; the old one signs for 24 h more."""
    endpoint = _owned(session, who, endpoint_id)
    secret = endpoints.rotate_endpoint_secret(
        session, endpoint=endpoint, grace=timedelta(hours=24), actor=audit.actor_of_key(who.key_id)
    )
    session.commit()
    return _detail(request, who, session, endpoint, secret=secret)


@router.post("/webhooks/{endpoint_id}/test")
def send_test(endpoint_id: str, who: EditorDep, session: WriteSession) -> Response:
    endpoints.send_test(session, endpoint=_owned(session, who, endpoint_id))
    return RedirectResponse(f"{PATH}/webhooks/{quote(endpoint_id)}?sent=test", status_code=303)


@router.post("/webhooks/{endpoint_id}/recover")
async def recover(
    request: Request,
    endpoint_id: str,
    who: EditorDep,
    session: WriteSession,
) -> Response:
    endpoint = _owned(session, who, endpoint_id)
    form = await request.form()
    try:
        since = datetime.fromisoformat(str(form.get("since") or "")).replace(tzinfo=UTC)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "since: give a date and time") from None
    if since < datetime.now(UTC) - RECOVER_MAX:
        raise ApiError(400, "invalid_parameter", "since may be at most 14 days ago")
    count = endpoints.recover_messages(session, endpoint=endpoint, since=since)
    target = f"{PATH}/webhooks/{quote(endpoint.id)}?recovered={count}"
    return RedirectResponse(target, status_code=303)


@router.post("/webhook-messages/{message_id}/resend")
def resend(message_id: str, who: EditorDep, session: WriteSession) -> Response:
    message = endpoints.resend_message(session, tenant_id=who.tenant_id, message_id=message_id)
    if message is None:
        raise PageNotFound("webhook message", message_id)
    target = f"{PATH}/webhooks/{quote(message.endpoint_id)}?resent={quote(message.id)}"
    return RedirectResponse(target, status_code=303)
