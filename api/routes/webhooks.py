"""Webhook endpoints: subscriptions, secret rotation, attempts, resend, recover, test ping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api.deps import Caller, CallerDep, ReadSession, WriterDep, WriteSession
from api.errors import ApiError, about, found
from api.pages import CursorPage, Page, listing_page, numbered
from api.params import DATE_EXAMPLES, bounds, parse_bound
from api.schemas.webhooks import (
    AttemptOut,
    AttemptPage,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    MessageQueued,
    Recovered,
    RotatedSecret,
    RotateIn,
)
from worker.settings import get_settings
from worker.storage import audit, endpoints
from worker.storage.events import iso
from worker.storage.models import WebhookEndpoint

router = APIRouter(tags=["webhooks"])
RECOVER_MAX = timedelta(days=14)
# A URL check_url refuses answers invalid_parameter (not the error's own invalid_url): the code
# clients have always been given for it.
URL_REFUSED = "invalid_parameter"


def _owned(session: Session, who: Caller, endpoint_id: str) -> WebhookEndpoint:
    endpoint = endpoints.get_endpoint(session, tenant_id=who.tenant_id, endpoint_id=endpoint_id)
    return found(endpoint, "webhook endpoint", endpoint_id)


@router.post("/webhook-endpoints", status_code=201)
def create_webhook_endpoint(
    body: EndpointIn, who: WriterDep, session: WriteSession
) -> EndpointCreated:
    """Subscribe a URL. The signing secret is in this response only: store it now."""
    with about("url", code=URL_REFUSED):
        body.check(allow_http=get_settings().webhook_allow_http)
    endpoint, secret = endpoints.subscribe(
        session, tenant_id=who.tenant_id, actor=audit.actor_of_key(who.key_id), url=body.url,
        event_types=body.event_types, description=body.description,
        legacy_signature=body.legacy_signature, rate_limit=body.rate_limit,
    )  # fmt: skip
    return EndpointCreated.with_secret(endpoint, secret)


@router.get("/webhook-endpoints")
def list_webhook_endpoints(paging: Page, who: CallerDep, session: ReadSession) -> EndpointPage:
    query = endpoints.endpoint_listing(tenant_id=who.tenant_id)
    rows, pagination = numbered(session, query, paging)
    return EndpointPage(data=[EndpointOut.of(e) for (e,) in rows], pagination=pagination)


@router.get("/webhook-endpoints/{endpoint_id}")
def read_webhook_endpoint(endpoint_id: str, who: CallerDep, session: ReadSession) -> EndpointOut:
    return EndpointOut.of(_owned(session, who, endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}")
def update_webhook_endpoint(
    endpoint_id: str, body: EndpointPatch, who: WriterDep, session: WriteSession
) -> EndpointOut:
    """Change an endpoint; ``enabled: true`` re-enables a disabled one."""
    endpoint = _owned(session, who, endpoint_id)
    with about("url", code=URL_REFUSED):
        body.check(allow_http=get_settings().webhook_allow_http)
    endpoint = endpoints.update_endpoint(session, endpoint=endpoint, changes=body.changes(),
                                         actor=audit.actor_of_key(who.key_id))  # fmt: skip
    return EndpointOut.of(endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, response_class=Response)
def delete_webhook_endpoint(endpoint_id: str, who: WriterDep, session: WriteSession) -> Response:
    endpoints.delete_endpoint(session, endpoint=_owned(session, who, endpoint_id),
                              actor=audit.actor_of_key(who.key_id))  # fmt: skip
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret")
def rotate_webhook_secret(
    endpoint_id: str,
    body: RotateIn | None = None,
    *,
    who: WriterDep,
    session: WriteSession,
) -> RotatedSecret:
    """A new secret (shown once); the old one keeps signing for ``grace_hours`` (24 h)."""
    endpoint = _owned(session, who, endpoint_id)
    grace = timedelta(hours=(body or RotateIn()).grace_hours)
    secret = endpoints.rotate_endpoint_secret(session, endpoint=endpoint, grace=grace,
                                              actor=audit.actor_of_key(who.key_id))  # fmt: skip
    return RotatedSecret(id=endpoint.id, secret=secret,
                         previous_secrets_expire_at=iso(datetime.now(UTC) + grace))  # fmt: skip


@router.post("/webhook-endpoints/{endpoint_id}/test", status_code=202)
def ping_webhook_endpoint(endpoint_id: str, who: WriterDep, session: WriteSession) -> MessageQueued:
    """Queue an ``endpoint.test`` message to this endpoint, whatever its event types."""
    message_id = endpoints.send_test(session, endpoint=_owned(session, who, endpoint_id))
    return MessageQueued(message_id=message_id, status="pending")


@router.get("/webhook-endpoints/{endpoint_id}/attempts")
def list_webhook_attempts(
    endpoint_id: str,
    status: Literal["success", "failure"] | None = None,
    event_type: str | None = None,
    start_date: str | None = Query(
        None, description="attempted at or after (ISO 8601)", examples=DATE_EXAMPLES
    ),
    end_date: str | None = Query(
        None, description="attempted at or before (ISO 8601)", examples=DATE_EXAMPLES
    ),
    *,
    paging: CursorPage,
    who: CallerDep,
    session: ReadSession,
) -> AttemptPage:
    """Every delivery attempt, newest first: status code, latency, response excerpt, error."""
    endpoint = _owned(session, who, endpoint_id)
    start, end = bounds(start_date, end_date)
    listing = endpoints.attempt_listing(tenant_id=who.tenant_id, endpoint_id=endpoint.id,
                                        outcome=status, event_type=event_type, start=start,
                                        end=end)  # fmt: skip
    rows, page_fields = listing_page(session, listing, paging)
    return AttemptPage(data=[AttemptOut.of(a) for (a,) in rows], **page_fields)


@router.post("/webhook-messages/{message_id}/resend", status_code=202)
def resend_webhook_message(message_id: str, who: WriterDep, session: WriteSession) -> MessageQueued:
    """Send a message again now, under the same ``webhook-id``."""
    message = endpoints.resend_message(session, tenant_id=who.tenant_id, message_id=message_id)
    return MessageQueued(message_id=found(message, "webhook message", message_id).id,
                         status="pending")  # fmt: skip


@router.post("/webhook-endpoints/{endpoint_id}/recover", status_code=202)
def recover_webhook_messages(
    endpoint_id: str,
    since: str = Query(..., description="ISO 8601, at most 14 days ago", examples=DATE_EXAMPLES),
    *,
    who: WriterDep,
    session: WriteSession,
) -> Recovered:
    """Send again every message to this endpoint that failed since ``since``."""
    endpoint = _owned(session, who, endpoint_id)
    start = parse_bound(since, "since", end=False)
    if start < datetime.now(UTC) - RECOVER_MAX:
        raise ApiError(400, "invalid_parameter", "since may be at most 14 days ago",
                       field="since")  # fmt: skip
    count = endpoints.recover_messages(session, endpoint=endpoint, since=start)
    return Recovered(endpoint_id=endpoint.id, messages=count)
