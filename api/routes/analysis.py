"""Views of the analyses: gaps, daily quality scores, alerts (which can be acknowledged) and
the event log."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from api.deps import Caller, CallerDep, ReadSession, WriterDep, WriteSession, owned_facility
from api.errors import found
from api.pages import CursorPage, Page, listing_page, numbered
from api.params import DATE_EXAMPLES, bounds
from api.schemas.analysis import (
    AlertOut,
    AlertPage,
    EventOut,
    EventPage,
    GapOut,
    GapPage,
    QualityOut,
    QualityPage,
)
from worker.storage import audit, events, findings

router = APIRouter(tags=["analysis"])


def _facility(session: Session, who: Caller, facility_id: str | None) -> str | None:
    """The facility a listing is narrowed to (404 unless the caller's), or None for all."""
    return owned_facility(session, who, facility_id).id if facility_id is not None else None


@router.get("/gaps")
def list_gaps(
    facility_id: str | None = None,
    tag: str | None = None,
    status: Literal["open", "closed", "resolved"] | None = None,
    start_date: str | None = Query(
        None, description="gaps starting at or after (ISO 8601)", examples=DATE_EXAMPLES
    ),
    end_date: str | None = Query(
        None, description="gaps starting at or before (ISO 8601)", examples=DATE_EXAMPLES
    ),
    *,
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> GapPage:
    """Gaps per tag (pipelines.gaps semantics), newest first."""
    facility = _facility(session, who, facility_id)
    start, end = bounds(start_date, end_date)
    query = findings.gap_listing(
        tenant_id=who.tenant_id, facility_id=facility, tag=tag, status=status, start=start, end=end
    )
    rows, pagination = numbered(session, query, paging)
    return GapPage(data=[GapOut.of(g, tag=name) for g, name in rows], pagination=pagination)


@router.get("/quality")
def list_quality(
    facility_id: str | None = None,
    tag: str | None = None,
    start_date: str | None = Query(
        None, description="days starting at or after (ISO 8601)", examples=DATE_EXAMPLES
    ),
    end_date: str | None = Query(
        None, description="days starting at or before (ISO 8601)", examples=DATE_EXAMPLES
    ),
    *,
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> QualityPage:
    """Daily quality per tag (local days of the facility): each dimension and the 0-100 score."""
    facility = _facility(session, who, facility_id)
    start, end = bounds(start_date, end_date)
    query = findings.quality_listing(
        tenant_id=who.tenant_id, facility_id=facility, tag=tag, start=start, end=end
    )
    rows, pagination = numbered(session, query, paging)
    return QualityPage(data=[QualityOut.of(q, tag=name) for q, name in rows], pagination=pagination)


@router.get("/alerts")
def list_alerts(
    facility_id: str | None = None,
    tag: str | None = None,
    rule: Literal["gap_too_long", "low_completeness", "flatline"] | None = None,
    start_date: str | None = Query(
        None, description="triggered at or after (ISO 8601)", examples=DATE_EXAMPLES
    ),
    end_date: str | None = Query(
        None, description="triggered at or before (ISO 8601)", examples=DATE_EXAMPLES
    ),
    *,
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> AlertPage:
    """Alerts, newest first. Each fires once per tag, rule and occasion."""
    facility = _facility(session, who, facility_id)
    start, end = bounds(start_date, end_date)
    query = findings.alert_listing(
        tenant_id=who.tenant_id, facility_id=facility, tag=tag, rule=rule, start=start, end=end
    )
    rows, pagination = numbered(session, query, paging)
    return AlertPage(data=[AlertOut.of(a, tag=name) for a, name in rows], pagination=pagination)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(alert_id: str, who: WriterDep, session: WriteSession) -> AlertOut:
    """Mark an alert as seen, as the dashboard's Acknowledge does (audit-logged once; again
    changes nothing)."""
    alert = findings.acknowledge_alert(
        session, tenant_id=who.tenant_id, alert_id=alert_id, actor=audit.actor_of_key(who.key_id)
    )
    alert = found(alert, "alert", alert_id)
    return AlertOut.of(alert, tag=findings.tag_name(session, tag_id=alert.tag_id))


@router.get("/events")
def list_events(
    type: str | None = Query(None, description="e.g. data_gap.detected"),
    *,
    paging: CursorPage,
    who: CallerDep,
    session: ReadSession,
) -> EventPage:
    """The tenant's events (the payloads webhooks deliver), oldest first."""
    listing = events.event_listing(tenant_id=who.tenant_id, type=type)
    rows, page_fields = listing_page(session, listing, paging)
    return EventPage(data=[EventOut.of(e) for (e,) in rows], **page_fields)
