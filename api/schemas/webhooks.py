"""Webhook endpoints, their delivery attempts and messages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.schemas.common import HAS_MORE, NEXT, Pagination, page_example
from pipelines import webhooks as signing
from worker.storage.events import EVENT_TYPES, iso
from worker.storage.models import DeliveryAttempt, WebhookEndpoint
from worker.storage.webhooks import endpoint_view


def check_event_types(types: list[str]) -> None:
    """400 on ``event_types`` naming the types no event has."""
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"unknown event type(s): {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}",
            field="event_types",
        )


class EndpointIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/tickwork",
                    "event_types": ["data_gap.detected", "report.generated"],
                    "description": "Compliance team's receiver",
                    "legacy_signature": False,
                    "rate_limit": 20,
                }
            ]
        },
    )
    url: str = Field(min_length=1, max_length=2000)
    event_types: list[str] = Field(default_factory=list, description="Empty: every event")
    description: str = Field(default="", max_length=500)
    legacy_signature: bool = Field(
        default=False, description="Also send X-Signature: sha256=<hex> for older receivers"
    )
    rate_limit: int | None = Field(
        default=None, ge=1, le=10_000, description="Most requests per second (none: no limit)"
    )

    def check(self, *, allow_http: bool) -> None:
        """The URL (a ``PipelineError`` says why it may not be used), then the event types."""
        signing.check_url(self.url, allow_http=allow_http)
        check_event_types(self.event_types)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "enabled": True,
                    "event_types": [],
                    "rate_limit": 0,
                }
            ]
        },
    )
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    legacy_signature: bool | None = None
    rate_limit: int | None = Field(
        default=None, ge=0, le=10_000, description="Requests per second; 0 removes the limit"
    )

    def check(self, *, allow_http: bool) -> None:
        """What ``EndpointIn.check`` checks, of the fields sent."""
        if self.url is not None:
            signing.check_url(self.url, allow_http=allow_http)
        if self.event_types is not None:
            check_event_types(self.event_types)

    def changes(self) -> dict[str, Any]:
        """The columns to set: those sent (null ones left alone), event types each once and
        sorted, no limit for a rate limit of 0."""
        changes = self.model_dump(exclude_unset=True, exclude_none=True)
        if "event_types" in changes:
            changes["event_types"] = sorted(set(changes["event_types"]))
        if changes.get("rate_limit") == 0:
            changes["rate_limit"] = None
        return changes


class RotateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"grace_hours": 48.0}]}
    )
    grace_hours: float = Field(default=24.0, ge=0, le=24 * 7)


class EndpointOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "whe_9q7c3v1b6n8m2k4x",
                    "url": "https://hooks.example.com/tickwork",
                    "description": "",
                    "event_types": ["data_gap.detected"],
                    "enabled": True,
                    "disabled_reason": None,
                    "legacy_signature": False,
                    "rate_limit": None,
                    "failing_since": None,
                    "created_at": "2025-10-01T12:00:00Z",
                }
            ]
        }
    )

    id: str
    url: str
    description: str
    event_types: list[str] = Field(description="Empty: every event")
    enabled: bool
    disabled_reason: str | None
    legacy_signature: bool
    rate_limit: int | None
    failing_since: str | None
    created_at: str

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        # endpoint_view is also what the audit log records of a new endpoint.
        return cls.model_validate(endpoint_view(endpoint))


class EndpointCreated(EndpointOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "whe_9q7c3v1b6n8m2k4x",
                    "url": "https://hooks.example.com/tickwork",
                    "description": "Compliance team's receiver",
                    "event_types": ["data_gap.detected", "report.generated"],
                    "enabled": True,
                    "disabled_reason": None,
                    "legacy_signature": False,
                    "rate_limit": 20,
                    "failing_since": None,
                    "created_at": "2025-10-01T12:00:00Z",
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                }
            ]
        }
    )

    secret: str = Field(description="The signing secret: shown in this response only")

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint, secret: str) -> EndpointCreated:
        return cls.model_validate({**endpoint_view(endpoint), "secret": secret})


class EndpointPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(EndpointOut)]})

    data: list[EndpointOut]
    pagination: Pagination


class RotatedSecret(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "whe_9q7c3v1b6n8m2k4x",
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    "previous_secrets_expire_at": "2025-10-02T12:00:00Z",
                }
            ]
        }
    )

    id: str
    secret: str = Field(description="The new signing secret: shown in this response only")
    previous_secrets_expire_at: str


class MessageQueued(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": "msg_3v1b6n8m2k4x9q7c",
                    "status": "pending",
                }
            ]
        }
    )

    message_id: str | None
    status: str


class Recovered(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "endpoint_id": "whe_9q7c3v1b6n8m2k4x",
                    "messages": 3,
                }
            ]
        }
    )

    endpoint_id: str
    messages: int = Field(description="Failed messages sent again")


class AttemptOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "att_1042",
                    "message_id": "msg_3v1b6n8m2k4x9q7c",
                    "event_type": "data_gap.detected",
                    "attempted_at": "2025-10-01T12:00:05Z",
                    "outcome": "failure",
                    "status_code": 503,
                    "latency_ms": 182,
                    "response_excerpt": "Service Unavailable",
                    "error": "HTTP 503",
                }
            ]
        }
    )

    id: str
    message_id: str
    event_type: str
    attempted_at: str
    outcome: str = Field(description="success or failure")
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str | None

    @classmethod
    def of(cls, a: DeliveryAttempt) -> AttemptOut:
        return cls(
            id=f"att_{a.id}",
            message_id=a.message_id,
            event_type=a.event_type,
            attempted_at=iso(a.attempted_at),
            outcome=a.outcome,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            response_excerpt=a.response_excerpt,
            error=a.error,
        )


class AttemptPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                page_example(
                    AttemptOut,
                    total=4,
                    per_page=1,
                    has_more=True,
                    next="/v1/webhook-endpoints/whe_9q7c3v1b6n8m2k4x/attempts?status=failure&limit=1"
                    "&starting_after=att_1042",
                )
            ]
        }
    )

    data: list[AttemptOut]
    pagination: Pagination
    has_more: bool = Field(description=HAS_MORE)
    next: str | None = Field(description=NEXT)
