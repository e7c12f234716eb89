"""Reading data points back, in the API's order: timestamp, then tag name.

One ordered, limited scan of the ``(tag_id, ts)`` primary key per tag, merged: the first ``n``
rows of the listing are among the first ``n`` of each tag. A cursor (the last row's timestamp
and tag name) bounds every scan, so a page deep into millions of points reads what the first
page does; an OFFSET page still reads ``offset + limit`` rows per tag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from worker.storage.archives import archived_overlapping, archived_points_of
from worker.storage.models import DataPoint, Tag, from_epoch_us, to_epoch_us

_POINT_ID = re.compile(r"dp_(\d{1,18})_(-?\d{1,19})")


@dataclass(frozen=True)
class TagRef:
    id: int
    name: str
    unit: str


@dataclass(frozen=True)
class Reading:
    tag_id: int
    tag: str
    unit: str
    ts: datetime
    value: float
    quality: int

    @property
    def id(self) -> str:
        """The point's public id, ``dp_<tag id>_<epoch µs>``: the cursor to continue after it."""
        return f"dp_{self.tag_id}_{to_epoch_us(self.ts)}"


@dataclass(frozen=True)
class ArchivedRange:
    """A month whose points were moved to an archive file: not in ``readings``."""

    start: datetime
    end: datetime  # exclusive
    points: int  # of the requested tags


@dataclass(frozen=True)
class ReadingPage:
    readings: list[Reading]
    has_more: bool
    total: int | None  # None on a cursor page: it is not counted
    archived: list[ArchivedRange] = field(default_factory=list)  # overlapping the request


def read_points(
    session: Session,
    *,
    tenant_id: str,
    facility_id: str,
    names: Sequence[str],
    start: datetime,
    end: datetime,
    limit: int,
    page: int = 1,
    after: str | None = None,
) -> ReadingPage | None:
    """One page of a facility's readings in ``[start, end]`` (of the tags ``names``; every tag
    when empty): page number ``page``, counted, or the readings after the point whose id is
    ``after``. None when ``after`` is not the id of a point of these tags."""
    tags = facility_tags(session, tenant_id=tenant_id, facility_id=facility_id, names=names)
    if after is None:
        rows = list_readings(
            session, tags=tags, start=start, end=end, limit=limit + 1, offset=(page - 1) * limit
        )
        total: int | None = count_readings(session, tags=tags, start=start, end=end)
    else:
        cursor = _point_cursor(after, tags)
        if cursor is None:
            return None
        rows = list_readings(
            session, tags=tags, start=start, end=end, limit=limit + 1, after=cursor
        )
        total = None
    archived = archived_ranges(session, tags=tags, start=start, end=end)
    return ReadingPage(
        readings=rows[:limit], has_more=len(rows) > limit, total=total, archived=archived
    )


def archived_ranges(
    session: Session, *, tags: Sequence[TagRef], start: datetime, end: datetime
) -> list[ArchivedRange]:
    """The archived months holding points of ``tags`` that overlap ``[start, end]``."""
    ids = sorted({t.id for t in tags})
    found = archived_overlapping(session, tag_ids=ids, start=start, end=end)
    points = archived_points_of(session, archive_ids=[a.id for a in found], tag_ids=ids)
    return [
        ArchivedRange(start=a.range_start, end=a.range_end, points=points.get(a.id, 0))
        for a in found
    ]


def _point_cursor(cursor: str, tags: Sequence[TagRef]) -> tuple[datetime, str] | None:
    """A data point id of one of ``tags`` -> (timestamp, tag name); else None."""
    found = _POINT_ID.fullmatch(cursor)
    names = {t.id: t.name for t in tags}
    if found is None or int(found.group(1)) not in names:
        return None
    try:
        ts = from_epoch_us(int(found.group(2)))
    except (OverflowError, ValueError):
        return None
    return ts, names[int(found.group(1))]


def facility_tags(
    session: Session, *, tenant_id: str, facility_id: str, names: Sequence[str] = ()
) -> list[TagRef]:
    """The facility's tags (only ``names`` when given), by name."""
    query = select(Tag.id, Tag.name, Tag.unit).where(
        Tag.tenant_id == tenant_id, Tag.facility_id == facility_id
    )
    if names:
        query = query.where(Tag.name.in_(list(names)))
    return [TagRef(*row) for row in session.execute(query.order_by(Tag.name))]


def count_readings(
    session: Session, *, tags: Sequence[TagRef], start: datetime, end: datetime
) -> int:
    if not tags:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(DataPoint)
            .where(
                DataPoint.tag_id.in_([t.id for t in tags]),
                DataPoint.ts >= start,
                DataPoint.ts <= end,
            )
        )
        or 0
    )


def list_readings(
    session: Session,
    *,
    tags: Sequence[TagRef],
    start: datetime,
    end: datetime,
    limit: int,
    offset: int = 0,
    after: tuple[datetime, str] | None = None,
) -> list[Reading]:
    """Up to ``limit`` readings of ``tags`` in ``[start, end]`` ordered by (ts, tag name),
    skipping ``offset`` of them, or those up to and including the cursor ``after``."""
    if not tags:
        return []
    per_tag = offset + limit
    scans = []
    for tag in tags:
        where = [DataPoint.tag_id == tag.id, DataPoint.ts >= start, DataPoint.ts <= end]
        if after is not None:
            # Same timestamp as the cursor: only tags named after it come next.
            ts, name = after
            where.append(DataPoint.ts >= ts if tag.name > name else DataPoint.ts > ts)
        scan = (
            select(DataPoint.tag_id, DataPoint.ts, DataPoint.value, DataPoint.quality)
            .where(*where)
            .order_by(DataPoint.ts)
            .limit(per_tag)
            .subquery()
        )
        scans.append(select(scan, literal(tag.name).label("name")))
    merged = union_all(*scans).subquery()
    rows = session.execute(
        select(merged).order_by(merged.c.ts, merged.c.name).limit(limit).offset(offset)
    )
    units = {t.id: t.unit for t in tags}
    return [
        Reading(
            tag_id=r.tag_id,
            tag=r.name,
            unit=units[r.tag_id],
            ts=r.ts,
            value=r.value,
            quality=r.quality,
        )
        for r in rows
    ]
