"""Webhook endpoints: subscriptions, secret rotation, attempts, resend, recover, test ping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.deps import Caller, caller, get_session, read_session, writer
from api.errors import ApiError, not_found
from api.pages import StartingAfter, listing_page
from api.params import DATE_EXAMPLES, parse_bound
from api.routes.analysis import _page, _range
from api.schemas import MAX_PAGE
from pipelines import webhooks as signing
from pipelines.errors import PipelineError
from worker.settings import get_settings
from worker.storage import audit
from worker.storage.events import EVENT_TYPES, iso
from worker.storage.models import DeliveryAttempt, WebhookEndpoint, WebhookMessage
from worker.storage.pages import SortKey
from worker.storage.webhooks import (
    attempt_view,
    create_endpoint,
    endpoint_view,
    enqueue_message,
    rotate_secret,
)

router = APIRouter(tags=["webhooks"])
RECOVER_MAX = timedelta(days=14)


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(min_length=1, max_length=2000)
    event_types: list[str] = Field(default_factory=list, description="Empty: every event")
    description: str = Field(default="", max_length=500)
    legacy_signature: bool = Field(
        default=False, description="Also send X-Signature: sha256=<hex> for older receivers"
    )
    rate_limit: int | None = Field(
        default=None, ge=1, le=10_000, description="Most requests per second (none: no limit)"
    )


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    legacy_signature: bool | None = None
    rate_limit: int | None = Field(
        default=None, ge=0, le=10_000, description="Requests per second; 0 removes the limit"
    )


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    grace_hours: float = Field(default=24.0, ge=0, le=24 * 7)


def _check_url(url: str) -> None:
    try:
        signing.check_url(url, allow_http=get_settings().webhook_allow_http)
    except PipelineError as exc:
        raise ApiError(400, "invalid_parameter", str(exc), field="url") from exc


def _check_events(types: list[str]) -> None:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise ApiError(400, "invalid_parameter",
                       f"unknown event type(s): {', '.join(unknown)}; known: "
                       f"{', '.join(EVENT_TYPES)}", field="event_types")  # fmt: skip


def _owned(session: Session, who: Caller, endpoint_id: str) -> WebhookEndpoint:
    found = session.scalar(select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == who.tenant_id))  # fmt: skip
    if found is None:
        raise not_found("webhook endpoint", endpoint_id)
    return found


def _audit(session: Session, who: Caller, endpoint: WebhookEndpoint, change: str,
           details: dict[str, Any]) -> None:  # fmt: skip
    """An endpoint change in the audit log: what changed, never a secret."""
    audit.record(session, tenant_id=who.tenant_id, action=f"webhook_endpoint.{change}",
                 actor=audit.actor_of_key(who.key_id), subject_type="webhook_endpoint",
                 subject_id=endpoint.id, details=details)  # fmt: skip


@router.post("/webhook-endpoints", status_code=201)
def create_webhook_endpoint(body: EndpointIn, who: Caller = Depends(writer),
           session: Session = Depends(get_session)) -> dict[str, Any]:  # fmt: skip
    """Subscribe a URL. The signing secret is in this response only: store it now."""
    _check_url(body.url)
    _check_events(body.event_types)
    endpoint, secret = create_endpoint(
        session, tenant_id=who.tenant_id, url=body.url, event_types=body.event_types,
        description=body.description, legacy_signature=body.legacy_signature,
        rate_limit=body.rate_limit,
    )  # fmt: skip
    _audit(session, who, endpoint, "created", endpoint_view(endpoint))
    return {**endpoint_view(endpoint), "secret": secret}


@router.get("/webhook-endpoints")
def list_webhook_endpoints(limit: int = Query(100, ge=1, le=1000),
                           page: int = Query(1, ge=1, le=MAX_PAGE),
                           who: Caller = Depends(caller),
                           session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    query = (select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == who.tenant_id)
             .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id))  # fmt: skip
    rows, pagination = _page(session, query, limit=limit, page=page)
    return {"data": [endpoint_view(e) for (e,) in rows], "pagination": pagination}


@router.get("/webhook-endpoints/{endpoint_id}")
def read_webhook_endpoint(endpoint_id: str, who: Caller = Depends(caller),
         session: Session = Depends(read_session)) -> dict[str, Any]:  # fmt: skip
    return endpoint_view(_owned(session, who, endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}")
def update_webhook_endpoint(endpoint_id: str, body: EndpointPatch, who: Caller = Depends(writer),
          session: Session = Depends(get_session)) -> dict[str, Any]:  # fmt: skip
    """Change an endpoint; ``enabled: true`` re-enables a disabled one."""
    endpoint = _owned(session, who, endpoint_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        _check_url(changes["url"])
    if "event_types" in changes:
        _check_events(changes["event_types"])
        changes["event_types"] = sorted(set(changes["event_types"]))
    if changes.get("rate_limit") == 0:
        changes["rate_limit"] = None
    if changes.get("enabled") is True:
        endpoint.disabled_reason, endpoint.failing_since = None, None
    for key, value in changes.items():
        setattr(endpoint, key, value)
    endpoint.updated_at = datetime.now(UTC)
    _audit(session, who, endpoint, "updated", {"changes": changes})
    return endpoint_view(endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, response_class=Response)
def delete_webhook_endpoint(endpoint_id: str, who: Caller = Depends(writer),
           session: Session = Depends(get_session)) -> Response:  # fmt: skip
    endpoint = _owned(session, who, endpoint_id)
    _audit(session, who, endpoint, "deleted", {"url": endpoint.url})
    session.delete(endpoint)
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret")
def rotate_webhook_secret(
    endpoint_id: str,
    body: RotateIn | None = None,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """A new secret (shown once); the old one keeps signing for ``grace_hours`` (24 h)."""
    endpoint = _owned(session, who, endpoint_id)
    grace = timedelta(hours=(body or RotateIn()).grace_hours)
    secret = rotate_secret(session, endpoint=endpoint, grace=grace)
    _audit(session, who, endpoint, "secret_rotated", {"grace_hours": grace / timedelta(hours=1)})
    return {"id": endpoint.id, "secret": secret,
            "previous_secrets_expire_at": iso(datetime.now(UTC) + grace)}  # fmt: skip


@router.post("/webhook-endpoints/{endpoint_id}/test", status_code=202)
def ping_webhook_endpoint(endpoint_id: str, who: Caller = Depends(writer),
              session: Session = Depends(get_session)) -> dict[str, Any]:  # fmt: skip
    """Queue an ``endpoint.test`` message to this endpoint, whatever its event types."""
    endpoint = _owned(session, who, endpoint_id)
    now = datetime.now(UTC)
    payload = {"event": "endpoint.test", "timestamp": iso(now),
               "data": {"endpoint_id": endpoint.id, "message": "test from Tickwork"}}  # fmt: skip
    enqueue_message(session, endpoint=endpoint, event_type="endpoint.test", payload=payload,
                    event_id=None, now=now)  # fmt: skip
    message = session.scalar(select(WebhookMessage).where(
        WebhookMessage.endpoint_id == endpoint.id, WebhookMessage.event_type == "endpoint.test"
    ).order_by(WebhookMessage.created_at.desc()).limit(1))  # fmt: skip
    return {"message_id": message.id if message else None, "status": "pending"}


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
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    starting_after: StartingAfter = None,
    *,
    request: Request,
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """Every delivery attempt, newest first: status code, latency, response excerpt, error."""
    endpoint = _owned(session, who, endpoint_id)
    where = [DeliveryAttempt.endpoint_id == endpoint.id,
             DeliveryAttempt.tenant_id == who.tenant_id]  # fmt: skip
    if status is not None:
        where.append(DeliveryAttempt.outcome == status)
    if event_type is not None:
        where.append(DeliveryAttempt.event_type == event_type)
    where += _range(DeliveryAttempt.attempted_at, start_date, end_date)
    query = select(DeliveryAttempt).where(*where).order_by(DeliveryAttempt.attempted_at.desc(),
                                                           DeliveryAttempt.id.desc())  # fmt: skip
    keys = [SortKey(DeliveryAttempt.attempted_at, descending=True),
            SortKey(DeliveryAttempt.id, descending=True)]  # fmt: skip

    def locate(cursor: str) -> list[Any] | None:
        number = cursor.removeprefix("att_")
        if not (cursor.startswith("att_") and number.isdigit() and len(number) <= 18):
            return None
        return [DeliveryAttempt.id == int(number), DeliveryAttempt.endpoint_id == endpoint.id,
                DeliveryAttempt.tenant_id == who.tenant_id]  # fmt: skip

    rows, paging = listing_page(
        request, session, query=query, keys=keys, limit=limit, page=page,
        starting_after=starting_after, locate=locate, item_id=lambda row: f"att_{row[0].id}",
    )  # fmt: skip
    return {"data": [attempt_view(a) for (a,) in rows], **paging}


@router.post("/webhook-messages/{message_id}/resend", status_code=202)
def resend_webhook_message(message_id: str, who: Caller = Depends(writer),
           session: Session = Depends(get_session)) -> dict[str, Any]:  # fmt: skip
    """Send a message again now, under the same ``webhook-id``."""
    message = session.scalar(select(WebhookMessage).where(
        WebhookMessage.id == message_id, WebhookMessage.tenant_id == who.tenant_id))  # fmt: skip
    if message is None:
        raise not_found("webhook message", message_id)
    message.status, message.next_attempt_at = "pending", datetime.now(UTC)
    message.locked_until = None
    return {"message_id": message.id, "status": "pending"}


@router.post("/webhook-endpoints/{endpoint_id}/recover", status_code=202)
def recover_webhook_messages(
    endpoint_id: str,
    since: str = Query(..., description="ISO 8601, at most 14 days ago", examples=DATE_EXAMPLES),
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Send again every message to this endpoint that failed since ``since``."""
    endpoint = _owned(session, who, endpoint_id)
    start = parse_bound(since, "since", end=False)
    now = datetime.now(UTC)
    if start < now - RECOVER_MAX:
        raise ApiError(400, "invalid_parameter", "since may be at most 14 days ago",
                       field="since")  # fmt: skip
    result = session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint.id, WebhookMessage.status == "failed",
               WebhookMessage.created_at >= start)
        .values(status="pending", next_attempt_at=now, locked_until=None)
    )  # fmt: skip
    return {"endpoint_id": endpoint.id, "messages": int(result.rowcount or 0)}
