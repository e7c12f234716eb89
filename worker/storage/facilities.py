"""Facilities and their tags: the tenant-scoped lookups, listings and changes the API makes.

Keyword-only; committing is the caller's ``session_scope()``. A lookup scoped by tenant finds
nothing for another tenant's id, so the API answers 404 for it as for an unknown one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.storage.db import new_id
from worker.storage.models import Facility, Tag
from worker.storage.points import delete_points


def get_facility(session: Session, *, tenant_id: str, facility_id: str) -> Facility | None:
    return session.scalar(
        select(Facility).where(Facility.id == facility_id, Facility.tenant_id == tenant_id)
    )


def facility_listing(*, tenant_id: str) -> Select[Facility]:
    """The tenant's facilities, oldest first."""
    return (
        select(Facility)
        .where(Facility.tenant_id == tenant_id)
        .order_by(Facility.created_at, Facility.id)
    )


def create_facility(
    session: Session,
    *,
    tenant_id: str,
    name: str,
    timezone: str,
    strict_tags: bool,
    carb_facility_id: str,
) -> Facility:
    facility = Facility(
        id=new_id("fac"),
        tenant_id=tenant_id,
        name=name,
        timezone=timezone,
        strict_tags=strict_tags,
        carb_facility_id=carb_facility_id,
        created_at=datetime.now(UTC),
    )
    session.add(facility)
    session.flush()
    return facility


def update_facility(session: Session, *, facility: Facility, changes: dict[str, Any]) -> Facility:
    """Set the facility's columns named in ``changes``."""
    for name, value in changes.items():
        setattr(facility, name, value)
    session.flush()
    return facility


def delete_facility(session: Session, *, facility: Facility) -> None:
    """Delete a facility with its tags and their data points."""
    tag_ids = list(session.scalars(select(Tag.id).where(Tag.facility_id == facility.id)))
    delete_points(session, tag_ids=tag_ids)
    session.delete(facility)


def get_tag(session: Session, *, facility_id: str, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.facility_id == facility_id, Tag.name == name))


def list_tags(session: Session, *, facility_id: str) -> list[Tag]:
    """The facility's tags by name."""
    query = select(Tag).where(Tag.facility_id == facility_id).order_by(Tag.name)
    return list(session.scalars(query))


def create_tag(session: Session, *, facility: Facility, name: str, **columns: Any) -> Tag | None:
    """A tag with the given columns (unit, expected_interval_s, limits, role, rules, ...); None
    when the facility has a tag of that name already."""
    tag = Tag(
        tenant_id=facility.tenant_id,
        facility_id=facility.id,
        name=name,
        interval_inferred=False,
        created_at=datetime.now(UTC),
        **columns,
    )
    try:
        with session.begin_nested():  # a duplicate rolls back to here; the session stays usable
            session.add(tag)
            session.flush()
    except IntegrityError:
        return None
    return tag


def update_tag(session: Session, *, tag: Tag, changes: dict[str, Any]) -> Tag:
    """Set the tag's columns named in ``changes``; an interval set here is no longer inferred."""
    if "expected_interval_s" in changes:
        tag.interval_inferred = False
    for name, value in changes.items():
        setattr(tag, name, value)
    session.flush()
    return tag


def delete_tag(session: Session, *, tag: Tag) -> None:
    """Delete a tag and its data points."""
    delete_points(session, tag_ids=[tag.id])
    session.delete(tag)
