"""Facilities and their tags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import Caller, caller, get_session, read_session, writer
from api.errors import ApiError, not_found, responses
from api.schemas import (
    MAX_PAGE,
    FacilityIn,
    FacilityOut,
    FacilityPage,
    FacilityPatch,
    TagIn,
    TagList,
    TagOut,
    TagPatch,
)
from worker.storage.db import new_id
from worker.storage.models import Facility, Tag
from worker.storage.points import delete_points

router = APIRouter(tags=["facilities"])
RULE_FIELDS = (
    "flatline_tolerance",
    "flatline_min_s",
    "spike_threshold",
    "max_rate",
    "alert_gap_minutes",
    "alert_completeness",
    "alert_flatline_hours",
)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def facility_view(f: Facility) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "timezone": f.timezone,
        "strict_tags": f.strict_tags,
        "carb_facility_id": f.carb_facility_id,
        "created_at": _iso(f.created_at),
    }


def tag_view(t: Tag) -> dict[str, Any]:
    return {
        "name": t.name,
        "facility_id": t.facility_id,
        "unit": t.unit,
        "expected_interval_seconds": t.expected_interval_s,
        "interval_inferred": t.interval_inferred,
        "min_value": t.min_value,
        "max_value": t.max_value,
        "role": t.role,
        "description": t.description,
        **{name: getattr(t, name) for name in RULE_FIELDS},
        "created_at": _iso(t.created_at),
    }


def owned_facility(session: Session, who: Caller, facility_id: str) -> Facility:
    found = session.scalar(
        select(Facility).where(Facility.id == facility_id, Facility.tenant_id == who.tenant_id)
    )
    if found is None:
        raise not_found("facility", facility_id)
    return found


def _owned_tag(session: Session, who: Caller, facility_id: str, name: str) -> Tag:
    facility = owned_facility(session, who, facility_id)
    tag = session.scalar(select(Tag).where(Tag.facility_id == facility.id, Tag.name == name))
    if tag is None:
        raise not_found("tag", name)
    return tag


def _check_limits(min_value: float | None, max_value: float | None) -> None:
    if min_value is not None and max_value is not None and min_value > max_value:
        raise ApiError(
            400, "invalid_parameter", "min_value is greater than max_value", field="min_value"
        )


@router.post("/facilities", status_code=201, response_model=FacilityOut)
def create_facility(
    body: FacilityIn, who: Caller = Depends(writer), session: Session = Depends(get_session)
) -> dict[str, Any]:
    facility = Facility(
        id=new_id("fac"),
        tenant_id=who.tenant_id,
        name=body.name,
        timezone=body.timezone,
        strict_tags=body.strict_tags,
        carb_facility_id=body.carb_facility_id,
        created_at=datetime.now(UTC),
    )
    session.add(facility)
    session.flush()
    return facility_view(facility)


@router.get("/facilities", response_model=FacilityPage)
def list_facilities(
    limit: int = Query(100, ge=1, le=1000),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    where = Facility.tenant_id == who.tenant_id
    total = session.scalar(select(func.count()).select_from(Facility).where(where))
    rows = session.scalars(
        select(Facility)
        .where(where)
        .order_by(Facility.created_at, Facility.id)
        .limit(limit)
        .offset((page - 1) * limit)
    )
    return {
        "data": [facility_view(f) for f in rows],
        "pagination": {"total": int(total or 0), "page": page, "per_page": limit},
    }


@router.get("/facilities/{facility_id}", response_model=FacilityOut)
def get_facility(
    facility_id: str, who: Caller = Depends(caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    return facility_view(owned_facility(session, who, facility_id))


@router.patch("/facilities/{facility_id}", response_model=FacilityOut)
def update_facility(
    facility_id: str,
    body: FacilityPatch,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    facility = owned_facility(session, who, facility_id)
    for name, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(facility, name, value)
    session.flush()
    return facility_view(facility)


@router.delete("/facilities/{facility_id}", status_code=204, response_class=Response)
def delete_facility(
    facility_id: str, who: Caller = Depends(writer), session: Session = Depends(get_session)
) -> Response:
    """Delete a facility with its tags and data points."""
    facility = owned_facility(session, who, facility_id)
    tag_ids = list(session.scalars(select(Tag.id).where(Tag.facility_id == facility.id)))
    delete_points(session, tag_ids=tag_ids)
    session.delete(facility)
    return Response(status_code=204)


@router.post(
    "/facilities/{facility_id}/tags",
    status_code=201,
    response_model=TagOut,
    responses=responses(409),
)
def create_tag(
    facility_id: str,
    body: TagIn,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    facility = owned_facility(session, who, facility_id)
    _check_limits(body.min_value, body.max_value)
    tag = Tag(
        tenant_id=who.tenant_id,
        facility_id=facility.id,
        name=body.name,
        unit=body.unit,
        expected_interval_s=body.expected_interval_seconds,
        interval_inferred=False,
        min_value=body.min_value,
        max_value=body.max_value,
        role=body.role,
        description=body.description,
        **{name: getattr(body, name) for name in RULE_FIELDS},
        created_at=datetime.now(UTC),
    )
    session.add(tag)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ApiError(
            409, "already_exists", f"tag '{body.name}' already exists", field="name"
        ) from exc
    return tag_view(tag)


@router.get("/facilities/{facility_id}/tags", response_model=TagList)
def list_tags(
    facility_id: str, who: Caller = Depends(caller), session: Session = Depends(read_session)
) -> dict[str, Any]:
    facility = owned_facility(session, who, facility_id)
    tags = session.scalars(select(Tag).where(Tag.facility_id == facility.id).order_by(Tag.name))
    return {"data": [tag_view(t) for t in tags]}


@router.get("/facilities/{facility_id}/tags/{name}", response_model=TagOut)
def get_tag(
    facility_id: str,
    name: str,
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    return tag_view(_owned_tag(session, who, facility_id, name))


@router.patch("/facilities/{facility_id}/tags/{name}", response_model=TagOut)
def update_tag(
    facility_id: str,
    name: str,
    body: TagPatch,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    tag = _owned_tag(session, who, facility_id, name)
    changes = body.model_dump(exclude_unset=True)
    _check_limits(changes.get("min_value", tag.min_value), changes.get("max_value", tag.max_value))
    if "expected_interval_seconds" in changes:
        tag.expected_interval_s = changes.pop("expected_interval_seconds")
        tag.interval_inferred = False
    for key, value in changes.items():
        if value is not None or key in ("min_value", "max_value", *RULE_FIELDS):  # null clears
            setattr(tag, key, value)
    session.flush()
    return tag_view(tag)


@router.delete("/facilities/{facility_id}/tags/{name}", status_code=204, response_class=Response)
def delete_tag(
    facility_id: str,
    name: str,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> Response:
    """Delete a tag and its data points."""
    tag = _owned_tag(session, who, facility_id, name)
    delete_points(session, tag_ids=[tag.id])
    session.delete(tag)
    return Response(status_code=204)
