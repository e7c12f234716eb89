"""Reading data points back, in the API's order: timestamp, then tag name.

One ordered, limited scan of the ``(tag_id, ts)`` primary key per tag, merged: the first ``n``
rows of the listing are among the first ``n`` of each tag. A cursor (the last row's timestamp
and tag name) bounds every scan, so a page deep into millions of points reads what the first
page does; an OFFSET page still reads ``offset + limit`` rows per tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from worker.storage.models import DataPoint, Tag


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


def count_readings(session: Session, *, tags: Sequence[TagRef], start: datetime,
                   end: datetime) -> int:  # fmt: skip
    if not tags:
        return 0
    return int(session.scalar(
        select(func.count()).select_from(DataPoint).where(
            DataPoint.tag_id.in_([t.id for t in tags]), DataPoint.ts >= start, DataPoint.ts <= end)
    ) or 0)  # fmt: skip


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
            .where(*where).order_by(DataPoint.ts).limit(per_tag).subquery()
        )  # fmt: skip
        scans.append(select(scan, literal(tag.name).label("name")))
    merged = union_all(*scans).subquery()
    rows = session.execute(
        select(merged).order_by(merged.c.ts, merged.c.name).limit(limit).offset(offset)
    )
    units = {t.id: t.unit for t in tags}
    return [Reading(tag_id=r.tag_id, tag=r.name, unit=units[r.tag_id], ts=r.ts, value=r.value,
                    quality=r.quality) for r in rows]  # fmt: skip
