"""Facilities and their tags."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from api.deps import Caller, CallerDep, ReadSession, WriterDep, WriteSession, owned_facility
from api.errors import ApiError, found, responses
from api.pages import Page, numbered
from api.schemas import (
    FacilityIn,
    FacilityOut,
    FacilityPage,
    FacilityPatch,
    TagIn,
    TagList,
    TagOut,
    TagPatch,
)
from api.schemas.facilities import check_limits
from worker.storage import facilities
from worker.storage.models import Tag

router = APIRouter(tags=["facilities"])


def _owned_tag(session: Session, who: Caller, facility_id: str, name: str) -> Tag:
    facility = owned_facility(session, who, facility_id)
    return found(facilities.get_tag(session, facility_id=facility.id, name=name), "tag", name)


@router.post("/facilities", status_code=201)
def create_facility(body: FacilityIn, who: WriterDep, session: WriteSession) -> FacilityOut:
    facility = facilities.create_facility(
        session,
        tenant_id=who.tenant_id,
        name=body.name,
        timezone=body.timezone,
        strict_tags=body.strict_tags,
        carb_facility_id=body.carb_facility_id,
    )
    return FacilityOut.of(facility)


@router.get("/facilities")
def list_facilities(
    paging: Page,
    who: CallerDep,
    session: ReadSession,
) -> FacilityPage:
    query = facilities.facility_listing(tenant_id=who.tenant_id)
    rows, pagination = numbered(session, query, paging)
    return FacilityPage(data=[FacilityOut.of(f) for (f,) in rows], pagination=pagination)


@router.get("/facilities/{facility_id}")
def get_facility(facility_id: str, who: CallerDep, session: ReadSession) -> FacilityOut:
    return FacilityOut.of(owned_facility(session, who, facility_id))


@router.patch("/facilities/{facility_id}")
def update_facility(
    facility_id: str,
    body: FacilityPatch,
    who: WriterDep,
    session: WriteSession,
) -> FacilityOut:
    facility = owned_facility(session, who, facility_id)
    facility = facilities.update_facility(session, facility=facility, changes=body.changes())
    return FacilityOut.of(facility)


@router.delete("/facilities/{facility_id}", status_code=204, response_class=Response)
def delete_facility(facility_id: str, who: WriterDep, session: WriteSession) -> Response:
    """Delete a facility with its tags and data points."""
    facilities.delete_facility(session, facility=owned_facility(session, who, facility_id))
    return Response(status_code=204)


@router.post("/facilities/{facility_id}/tags", status_code=201, responses=responses(409))
def create_tag(
    facility_id: str,
    body: TagIn,
    who: WriterDep,
    session: WriteSession,
) -> TagOut:
    facility = owned_facility(session, who, facility_id)
    check_limits(body.min_value, body.max_value)
    tag = facilities.create_tag(session, facility=facility, name=body.name, **body.columns())
    if tag is None:
        raise ApiError(409, "already_exists", f"tag '{body.name}' already exists", field="name")
    return TagOut.of(tag)


@router.get("/facilities/{facility_id}/tags")
def list_tags(facility_id: str, who: CallerDep, session: ReadSession) -> TagList:
    facility = owned_facility(session, who, facility_id)
    tags = facilities.list_tags(session, facility_id=facility.id)
    return TagList(data=[TagOut.of(t) for t in tags])


@router.get("/facilities/{facility_id}/tags/{name}")
def get_tag(
    facility_id: str,
    name: str,
    who: CallerDep,
    session: ReadSession,
) -> TagOut:
    return TagOut.of(_owned_tag(session, who, facility_id, name))


@router.patch("/facilities/{facility_id}/tags/{name}")
def update_tag(
    facility_id: str,
    name: str,
    body: TagPatch,
    who: WriterDep,
    session: WriteSession,
) -> TagOut:
    tag = _owned_tag(session, who, facility_id, name)
    changes = body.changes()
    check_limits(changes.get("min_value", tag.min_value), changes.get("max_value", tag.max_value))
    return TagOut.of(facilities.update_tag(session, tag=tag, changes=changes))


@router.delete("/facilities/{facility_id}/tags/{name}", status_code=204, response_class=Response)
def delete_tag(
    facility_id: str,
    name: str,
    who: WriterDep,
    session: WriteSession,
) -> Response:
    """Delete a tag and its data points."""
    facilities.delete_tag(session, tag=_owned_tag(session, who, facility_id, name))
    return Response(status_code=204)
