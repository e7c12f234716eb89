"""Read-only views of the analyses: gaps, daily quality scores, alerts and the event log."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.deps import Caller, caller, read_session
from api.pages import StartingAfter, listing_page
from api.params import DATE_EXAMPLES, parse_bound
from api.routes.facilities import owned_facility
from api.schemas import MAX_PAGE
from worker.storage.analysis import gap_view
from worker.storage.events import iso
from worker.storage.models import Alert, Event, Gap, QualityScore, Tag
from worker.storage.pages import SortKey

router = APIRouter(tags=["analysis"])


def _page(session: Session, query: Select[Any], *, limit: int, page: int) -> tuple[list[Any], dict]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.execute(query.limit(limit).offset((page - 1) * limit)).all()
    return rows, {"total": int(total or 0), "page": page, "per_page": limit}


def _filters(
    session: Session, who: Caller, model: Any, *, facility_id: str | None, tag: str | None
) -> list[Any]:
    where = [model.tenant_id == who.tenant_id]
    if facility_id is not None:
        where.append(model.facility_id == owned_facility(session, who, facility_id).id)
    if tag is not None:
        where.append(Tag.name == tag)
    return where


def _range(column: Any, start_date: str | None, end_date: str | None) -> list[Any]:
    where = []
    if start_date:
        where.append(column >= parse_bound(start_date, "start_date", end=False))
    if end_date:
        where.append(column <= parse_bound(end_date, "end_date", end=True))
    return where


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
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """Gaps per tag (pipelines.gaps semantics), newest first."""
    where = _filters(session, who, Gap, facility_id=facility_id, tag=tag)
    where += _range(Gap.gap_start, start_date, end_date)
    if status is not None:
        where.append(Gap.status == status)
    query = (
        select(Gap, Tag.name)
        .join(Tag, Tag.id == Gap.tag_id)
        .where(*where)
        .order_by(Gap.gap_start.desc(), Gap.id)
    )
    rows, pagination = _page(session, query, limit=limit, page=page)
    return {"data": [gap_view(g, tag_name=name) for g, name in rows], "pagination": pagination}


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
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """Daily quality per tag (local days of the facility): each dimension and the 0-100 score."""
    where = _filters(session, who, QualityScore, facility_id=facility_id, tag=tag)
    where += _range(QualityScore.period_start, start_date, end_date)
    query = (
        select(QualityScore, Tag.name)
        .join(Tag, Tag.id == QualityScore.tag_id)
        .where(*where)
        .order_by(QualityScore.period_start, Tag.name)
    )
    rows, pagination = _page(session, query, limit=limit, page=page)
    data = [
        {
            "facility_id": q.facility_id,
            "tag": name,
            "day": q.day,
            "period_start": iso(q.period_start),
            "period_end": iso(q.period_end),
            "score": q.score,
            **q.metrics,
        }
        for q, name in rows
    ]
    return {"data": data, "pagination": pagination}


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
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """Alerts, newest first. Each fires once per tag, rule and occasion."""
    where = _filters(session, who, Alert, facility_id=facility_id, tag=tag)
    where += _range(Alert.triggered_at, start_date, end_date)
    if rule is not None:
        where.append(Alert.rule == rule)
    query = (
        select(Alert, Tag.name)
        .join(Tag, Tag.id == Alert.tag_id)
        .where(*where)
        .order_by(Alert.triggered_at.desc(), Alert.id)
    )
    rows, pagination = _page(session, query, limit=limit, page=page)
    data = [
        {
            "id": a.id,
            "facility_id": a.facility_id,
            "tag": name,
            "rule": a.rule,
            "message": a.message,
            "details": a.details,
            "triggered_at": iso(a.triggered_at),
        }
        for a, name in rows
    ]
    return {"data": data, "pagination": pagination}


@router.get("/events")
def list_events(
    type: str | None = Query(None, description="e.g. data_gap.detected"),
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    starting_after: StartingAfter = None,
    *,
    request: Request,
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """The tenant's events (the payloads webhooks deliver), oldest first."""
    where = [Event.tenant_id == who.tenant_id]
    if type is not None:
        where.append(Event.type == type)
    keys = [SortKey(Event.created_at), SortKey(Event.id)]
    query = select(Event).where(*where).order_by(Event.created_at, Event.id)
    rows, paging = listing_page(
        request, session, query=query, keys=keys, limit=limit, page=page,
        starting_after=starting_after, item_id=lambda row: row[0].id,
        locate=lambda cursor: [Event.id == cursor, Event.tenant_id == who.tenant_id],
    )  # fmt: skip
    return {"data": [{"id": e.id, **e.payload} for (e,) in rows], **paging}
