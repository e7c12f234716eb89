"""Monthly partitions of ``data_point`` on PostgreSQL (SQLite keeps one table).

``data_point`` is partitioned by range of ``ts``, one partition per UTC month, named
``data_point_YYYY_MM``. There is no DEFAULT partition (adding a partition next to one means
scanning it), so a month must have its partition before a point of it is written:
``ensure_partitions`` creates the missing ones for a time range, and every writer calls it first
(``storage.points.upsert_points``, the restore of an archived month, the benchmarks); the beat
task ``points.create_partitions`` creates the next months ahead, so ordinary ingests never do.

A partition is created as a plain table and then attached, which locks the parent only in
SHARE UPDATE EXCLUSIVE mode: reads and writes of the other months go on meanwhile (a
``CREATE TABLE ... PARTITION OF`` would lock the whole table against readers until the
creating transaction commits). Creators serialise on a transaction-scoped advisory lock and look
again once they hold it, so two ingests creating the same month both succeed.

Writers also take a shared advisory lock per month they write, and ``storage.archives`` takes it
exclusively before it moves a month to a file: a month is never archived under an ingest that is
writing into it, and an ingest never writes into a month that has been archived (it is refused
with ``ArchivedRangeError`` naming the month to restore instead).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pipelines.errors import ArchivedRangeError
from worker.storage.models import PointArchive, from_epoch_us

if TYPE_CHECKING:  # the callers pass pandas series; migrations and the CLI need no pandas here
    import pandas as pd

PARENT = "data_point"
_NAME = re.compile(r"data_point_(\d{4})_(\d{2})")
_LOCK_CLASS = 1_416_121_168  # advisory-lock namespace of these locks (any fixed int4)
_CREATE = -1  # the lock creators take; months use year * 12 + month - 1


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def month_start(when: datetime) -> datetime:
    """The first instant of ``when``'s UTC month."""
    utc = when.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def months_between(lo: datetime, hi: datetime) -> list[datetime]:
    """Every UTC month that ``[lo, hi]`` touches, in order."""
    months: list[datetime] = []
    month, last = month_start(lo), month_start(hi)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def label(month: datetime) -> str:
    """``YYYY-MM``: how users name a month (``tickwork points restore 2024-01``)."""
    return f"{month.year:04d}-{month.month:02d}"


def parse_month(value: str) -> datetime | None:
    """``YYYY-MM`` -> the month's first instant; None when it is not one."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1:
        return None
    return datetime(int(found.group(1)), int(found.group(2)), 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"{PARENT}_{month.year:04d}_{month.month:02d}"


def bound(month: datetime) -> str:
    """A month's first instant as a PostgreSQL literal, in UTC whatever the session's zone."""
    return f"'{month:%Y-%m-%d} 00:00:00+00'"


def is_partition(table_name: str) -> bool:
    """Is ``table_name`` a monthly partition (not a table of the model)? Schema comparisons
    leave partitions out: they come and go with the data."""
    return _NAME.fullmatch(table_name) is not None


def partitions(session: Session) -> dict[datetime, str]:
    """The partitions attached to ``data_point``, by month (PostgreSQL only)."""
    names = session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    )
    found: dict[datetime, str] = {}
    for name in names:
        match = _NAME.fullmatch(name)
        if match is not None:
            found[datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=UTC)] = name
    return found


def lock_months(session: Session, months: Iterable[datetime], *, exclusive: bool = False) -> None:
    """Hold the months' advisory locks until the transaction ends: shared for writing points,
    exclusive for moving a month to an archive (or back)."""
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    for month in sorted(set(months)):
        session.execute(
            text(f"SELECT {fn}(:cls, :key)"),
            {"cls": _LOCK_CLASS, "key": month.year * 12 + month.month - 1},
        )


def ensure_partitions(session: Session, lo: datetime, hi: datetime) -> list[str]:
    """Create the missing partitions of every month ``[lo, hi]`` touches, in the caller's
    transaction; returns the names created. Refuses (``ArchivedRangeError``) when one of the
    months is archived. Does nothing on SQLite."""
    if not is_postgres(session):
        return []
    return ensure_months(session, months_between(lo, hi))


def ensure_for_points(session: Session, ts: pd.Series) -> list[str]:
    """``ensure_partitions`` for the months these timestamps (an aware ``datetime64`` series)
    fall in, and only those: a batch spanning years makes no empty partitions between."""
    if ts.empty or not is_postgres(session):
        return []
    us = ts.dt.as_unit("us").astype("int64").to_numpy()
    lo, hi = from_epoch_us(int(us.min())), from_epoch_us(int(us.max()))
    months = months_between(lo, hi)
    if len(months) > 3:  # a wide span: only the months that hold points (a pass over them all)
        distinct = np.unique(us.astype("datetime64[us]").astype("datetime64[M]")).astype(str)
        months = [datetime(int(m[:4]), int(m[5:7]), 1, tzinfo=UTC) for m in distinct.tolist()]
    return ensure_months(session, months)


def in_archived_months(session: Session, ts: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Which of these timestamps (an aware ``datetime64`` series) fall in an archived month, and
    each one's month as ``YYYY-MM``; None when none does (always on SQLite)."""
    if ts.empty or not is_postgres(session):
        return None
    us = ts.dt.as_unit("us").astype("int64").to_numpy()
    lo, hi = from_epoch_us(int(us.min())), from_epoch_us(int(us.max()))
    archived = session.scalars(
        select(PointArchive.range_start).where(
            PointArchive.status == "archived",
            PointArchive.range_start >= month_start(lo),
            PointArchive.range_start <= hi,
        )
    ).all()
    if not archived:
        return None
    month = us.astype("datetime64[us]").astype("datetime64[M]")
    inside = np.isin(month, np.array([label(m) for m in archived], dtype="datetime64[M]"))
    return (inside, month.astype(str)) if inside.any() else None


def ensure_months(session: Session, months: Iterable[datetime]) -> list[str]:
    """Create the missing partitions of ``months`` (month starts); see ``ensure_partitions``."""
    if not is_postgres(session):
        return []
    wanted = sorted({month_start(m) for m in months})
    if not wanted:
        return []
    lock_months(session, wanted)
    archived = session.scalars(
        select(PointArchive.range_start)
        .where(PointArchive.status == "archived", PointArchive.range_start.in_(wanted))
        .order_by(PointArchive.range_start)
    ).all()
    if archived:
        raise ArchivedRangeError(tuple(label(m) for m in archived), what="points", writing=True)
    missing = [m for m in wanted if m not in partitions(session)]
    if not missing:
        return []
    session.execute(
        text("SELECT pg_advisory_xact_lock(:cls, :key)"), {"cls": _LOCK_CLASS, "key": _CREATE}
    )
    existing = partitions(session)  # again: another creator may have committed meanwhile
    created = []
    for month in missing:
        if month not in existing:
            create_partition(session, month)
            created.append(partition_name(month))
    return created


def create_partition(
    session: Session, month: datetime, *, fill: Callable[[str], None] | None = None
) -> None:
    """Create the partition of ``month`` as a plain table and attach it (the caller holds the
    creators' lock, or the month's exclusive lock). ``fill(table_name)`` loads rows into the
    table before its primary key is built and it is attached (a restore), with a CHECK
    constraint that lets the attach skip its scan of the rows."""
    name = partition_name(month)
    lo, hi = bound(month), bound(next_month(month))
    if fill is None:
        session.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING ALL)"))
    else:
        session.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)"))
        fill(name)
        session.execute(text(f"ALTER TABLE {name} ADD PRIMARY KEY (tag_id, ts)"))
        session.execute(
            text(f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (ts >= {lo} AND ts < {hi})")
        )
    session.execute(
        text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")
    )
    if fill is not None:
        session.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range"))


def create_ahead(session: Session, *, now: datetime, months: int) -> list[str]:
    """Create the partitions of this month and the ``months`` after it; returns the new ones."""
    first = month_start(now)
    return ensure_months(session, [add_months(first, i) for i in range(months + 1)])


__all__ = [
    "PARENT",
    "add_months",
    "create_ahead",
    "create_partition",
    "ensure_for_points",
    "ensure_months",
    "ensure_partitions",
    "is_partition",
    "label",
    "lock_months",
    "month_start",
    "months_between",
    "next_month",
    "parse_month",
    "partition_name",
    "partitions",
]
