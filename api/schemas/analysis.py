"""What the analyses found (gaps, daily quality, alerts) and the event log."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import HAS_MORE, NEXT, Pagination, example_of, page_example
from api.schemas.events import DataGapDetected
from worker.storage.events import iso
from worker.storage.models import Alert, Event, Gap, QualityScore


class GapOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "gap_41", "facility_id": "fac_3kz9q7m2x8c4v6b1", "tag": "biogas_flow",
        "gap_start": "2025-01-15T09:59:00Z", "gap_end": "2025-01-15T12:00:00Z",
        "duration_minutes": 121.0, "missing_points": 120, "status": "closed",
        "detected_at": "2025-01-15T12:05:00Z", "resolved_at": None,
    }]})  # fmt: skip

    id: str
    facility_id: str
    tag: str
    gap_start: str
    gap_end: str
    duration_minutes: float
    missing_points: int
    status: str = Field(description="open, closed or resolved")
    detected_at: str
    resolved_at: str | None

    @classmethod
    def of(cls, gap: Gap, *, tag: str) -> GapOut:
        return cls(id=f"gap_{gap.id}", facility_id=gap.facility_id, tag=tag,
                   gap_start=iso(gap.gap_start), gap_end=iso(gap.gap_end),
                   duration_minutes=gap.duration_minutes, missing_points=gap.missing_points,
                   status=gap.status, detected_at=iso(gap.detected_at),
                   resolved_at=iso(gap.resolved_at) if gap.resolved_at else None)  # fmt: skip


class GapPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(GapOut)]})

    data: list[GapOut]
    pagination: Pagination


class QualityOut(BaseModel):
    """One tag's quality on one local day of its facility: the 0-100 score, then each dimension
    measured (completeness, validity, flatline_minutes, spikes, expected_points, usable_points,
    ...) as the analysis stored it."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "facility_id": "fac_3kz9q7m2x8c4v6b1", "tag": "biogas_flow", "day": "2025-01-15",
        "period_start": "2025-01-15T08:00:00Z", "period_end": "2025-01-16T08:00:00Z",
        "score": 79.08, "completeness": 0.9167, "validity": 1.0, "spikes": 0,
        "flatline_minutes": 0.0, "expected_points": 1440, "usable_points": 1320,
    }]})  # fmt: skip

    facility_id: str
    tag: str
    day: str
    period_start: str
    period_end: str
    score: float

    @classmethod
    def of(cls, q: QualityScore, *, tag: str) -> QualityOut:
        return cls.model_validate({
            "facility_id": q.facility_id, "tag": tag, "day": q.day,
            "period_start": iso(q.period_start), "period_end": iso(q.period_end),
            "score": q.score, **q.metrics,
        })  # fmt: skip


class QualityPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(QualityOut)]})

    data: list[QualityOut]
    pagination: Pagination


class AlertOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "alr_5b1k3z9q7m2x8c4v", "facility_id": "fac_3kz9q7m2x8c4v6b1",
        "tag": "biogas_flow", "rule": "low_completeness",
        "message": "biogas_flow: 91.7% complete on 2025-01-15 (threshold 95%)",
        "details": {"day": "2025-01-15", "completeness": 0.9167},
        "triggered_at": "2025-01-16T08:10:00Z",
        "acknowledged_at": "2025-01-16T09:02:11Z", "acknowledged_by": "api_key:key_4x9q7c3v1b6n",
    }]})  # fmt: skip

    id: str
    facility_id: str
    tag: str
    rule: str = Field(description="gap_too_long, low_completeness or flatline")
    message: str
    details: dict[str, Any]
    triggered_at: str
    acknowledged_at: str | None = Field(
        default=None, description="When someone marked it seen (null: not yet)"
    )
    acknowledged_by: str = Field(default="", description="Who: api_key:<id of the key used>")

    @classmethod
    def of(cls, a: Alert, *, tag: str) -> AlertOut:
        return cls(id=a.id, facility_id=a.facility_id, tag=tag, rule=a.rule, message=a.message,
                   details=a.details, triggered_at=iso(a.triggered_at),
                   acknowledged_at=iso(a.acknowledged_at) if a.acknowledged_at else None,
                   acknowledged_by=a.acknowledged_by or "")  # fmt: skip


class AlertPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(AlertOut)]})

    data: list[AlertOut]
    pagination: Pagination


class EventOut(BaseModel):
    """An event, as webhooks deliver it (``event``, ``timestamp``, ``data``), with its id."""

    # The payload of the data_gap.detected webhook's example (api/schemas/events.py).
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "evt_9q7m2x8c4v6b1k3z", **example_of(DataGapDetected)},
    ]})  # fmt: skip

    # In the order PostgreSQL returns the stored payload's keys (jsonb: shorter keys first).
    id: str
    data: dict[str, Any]
    event: str
    timestamp: str

    @classmethod
    def of(cls, e: Event) -> EventOut:
        return cls.model_validate({"id": e.id, **e.payload})


class EventPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(
        EventOut, total=12, per_page=1, has_more=True,
        next="/v1/events?type=data_gap.detected&limit=1&starting_after=evt_9q7m2x8c4v6b1k3z",
    )]})  # fmt: skip

    data: list[EventOut]
    pagination: Pagination
    has_more: bool = Field(description=HAS_MORE)
    next: str | None = Field(description=NEXT)
