"""Bulk storage of data points: tag resolution, idempotent upserts and an ingest's rejected rows,
no ORM object per point.

PostgreSQL: new data goes by binary COPY straight into ``data_point``; otherwise binary COPY into
a temporary staging table, then an ``INSERT ... ON CONFLICT`` of the points that differ from
what is stored. SQLite: ``executemany`` into a temporary staging table, then ``INSERT ... SELECT``
(new data) or the same upsert.
An existing point is only rewritten when its value or quality differs, so re-ingesting a file
changes nothing and reports every row as unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pipelines import ingest
from worker.storage import partitions
from worker.storage.events import iso
from worker.storage.models import DataPoint, Facility, Job, RejectedRow, Tag, from_epoch_us

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds: binary COPY's zero
# One data_point row (bigint, timestamptz, float8, smallint) in binary COPY: a field count, then
# each field's length and big-endian value. Fixed width, so numpy reads and writes it whole.
PG_POINT_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("l1", ">i4"),
        ("tag", ">i8"),
        ("l2", ">i4"),
        ("ts", ">i8"),
        ("l3", ">i4"),
        ("value", ">f8"),
        ("l4", ">i4"),
        ("quality", ">i2"),
    ]
)


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class ResolvedPoints:
    """Points mapped to tag ids, and the rows refused while mapping them."""

    tag_id: np.ndarray  # int64 per kept point
    keep: np.ndarray  # bool per input point
    rejected: pd.DataFrame  # row, reason
    tags_created: list[str]


def resolve_tags(
    session: Session,
    *,
    tenant_id: str,
    points: pd.DataFrame,
    intervals: pd.Series | None = None,
) -> ResolvedPoints:
    """Map each point's (facility_id, tag) to a tag id, creating unknown tags where allowed.

    ``points`` has the columns of ``pipelines.ingest.ParsedPoints.points``; ``intervals`` is the
    inferred spacing in seconds per (facility_id, tag), used for tags created here (by default
    ``pipelines.ingest.infer_intervals`` of the points of those tags, worked out only when a
    tag is created).
    Refuses rows as ``pipelines.ingest.check_tags`` says: facilities the tenant does not own,
    unknown tags of strict facilities, units that contradict the tag's unit.
    """
    pairs = ingest.tag_pairs(points)
    wanted = pairs.pairs
    facility_ids = sorted({f for f, _ in wanted})
    facilities = {
        f.id: f
        for f in session.scalars(
            select(Facility).where(Facility.tenant_id == tenant_id, Facility.id.in_(facility_ids))
        )
    }
    tags = _load_tags(session, tenant_id=tenant_id, pairs=wanted)
    created: list[str] = []
    missing = [
        (f, t)
        for f, t in wanted
        if f in facilities and (f, t) not in tags and not facilities[f].strict_tags
    ]
    if missing:
        if intervals is None:
            intervals = ingest.infer_intervals(_points_of(points, pairs, missing))
        units = ingest.first_units(points)
        now = datetime.now().astimezone()
        rows = [
            {
                "tenant_id": tenant_id,
                "facility_id": f,
                "name": t,
                "unit": units.get((f, t), ""),
                "expected_interval_s": _finite_or_none(intervals.get((f, t))),
                "interval_inferred": True,
                "min_value": None,
                "max_value": None,
                "role": "rate",
                "description": "",
                "created_at": now,
            }
            for f, t in missing
        ]
        upsert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        session.execute(upsert(Tag).on_conflict_do_nothing(), rows)  # a racing worker may win
        tags = _load_tags(session, tenant_id=tenant_id, pairs=wanted)
        created = [f"{f}/{t}" for f, t in missing]
    checked = ingest.check_tags(
        points,
        pairs,
        tag_id=np.array([tags[p].id if p in tags else -1 for p in wanted], dtype=np.int64),
        tag_unit=[tags[p].unit if p in tags else "" for p in wanted],
        facility_known=np.array([f in facilities for f, _ in wanted], dtype=bool),
    )
    return ResolvedPoints(
        tag_id=checked.tag_id, keep=checked.keep, rejected=checked.rejected, tags_created=created
    )


def _points_of(
    points: pd.DataFrame, pairs: ingest.TagPairs, wanted: list[tuple[str, str]]
) -> pd.DataFrame:
    """The points of these (facility_id, tag) pairs."""
    if len(wanted) == len(pairs.pairs):
        return points
    index = {p: i for i, p in enumerate(pairs.pairs)}
    return points[np.isin(pairs.code, [index[p] for p in wanted])]


def store_parsed(
    session: Session,
    *,
    job_id: str,
    tenant_id: str,
    upload_id: str | None,
    parsed: ingest.ParsedPoints,
) -> dict[str, Any]:
    """Resolve tags, upsert points and record rejected rows; return the job's counts.

    ``ranges`` (first and last timestamp per tag id, ISO 8601 UTC) is what the follow-up
    analysis looks at; ``tags_created`` names the tags this ingest created.
    """
    points = parsed.points
    resolved = resolve_tags(session, tenant_id=tenant_id, points=points)
    kept = points if resolved.keep.all() else points[resolved.keep]
    tag_id, refused = resolved.tag_id, resolved.rejected
    archived = partitions.in_archived_months(session, kept["ts"])
    if archived is not None:  # rows of an archived month: refused one by one, the rest stored
        inside, month = archived
        reasons = [
            f"{m} is archived: restore it (tickwork points restore {m}) and send the row again"
            for m in month[inside]
        ]
        late = pd.DataFrame({"row": kept["row"].to_numpy()[inside], "reason": reasons})
        refused = pd.concat([refused, late], ignore_index=True)
        kept, tag_id = kept[~inside], tag_id[~inside]
    counts = upsert_points(
        session,
        tag_id=tag_id,
        ts=kept["ts"],
        value=kept["value"].to_numpy(),
        quality=kept["quality"].to_numpy(),
    )
    rejected = pd.concat(
        [parsed.rejected, ingest.with_raw(refused, points)], ignore_index=True
    ).sort_values("row", kind="stable")
    # A redelivered job replaces, never adds to, its rejected rows.
    session.execute(delete(RejectedRow).where(RejectedRow.job_id == job_id))
    if not rejected.empty:
        session.execute(
            insert(RejectedRow),
            [
                {
                    "tenant_id": tenant_id,
                    "job_id": job_id,
                    "upload_id": upload_id,
                    "row_number": int(r),
                    "reason": str(why)[:300],
                    "raw": str(raw),
                }
                for r, why, raw in rejected[["row", "reason", "raw"]].itertuples(index=False)
            ],
        )
    return {
        "ranges": _ranges(tag_id, kept["ts"]),
        "rows": parsed.rows,
        "accepted": parsed.rows - len(rejected),
        "inserted": counts.inserted,
        "updated": counts.updated,
        "duplicates": counts.unchanged + parsed.duplicates,
        "rejected": len(rejected),
        "tags_created": resolved.tags_created,
    }


def _ranges(tag_id: np.ndarray, ts: pd.Series) -> dict[str, list[str]]:
    """First and last timestamp per tag id (ISO 8601 UTC), for the follow-up analysis."""
    if len(tag_id) == 0:
        return {}
    ts_us = ts.dt.as_unit("us").astype("int64").to_numpy()  # not Timestamp objects: 2M of them
    bounds = pd.Series(ts_us).groupby(tag_id).agg(["min", "max"])
    return {
        str(tag): [iso(from_epoch_us(int(lo))), iso(from_epoch_us(int(hi)))]
        for tag, lo, hi in bounds.itertuples()
    }


def delete_rejected_rows(session: Session, *, finished_before: datetime) -> int:
    """Delete the rejected rows of jobs finished before ``finished_before`` (the retention
    sweep); returns how many."""
    old_jobs = select(Job.id).where(Job.finished_at < finished_before)
    result = session.execute(delete(RejectedRow).where(RejectedRow.job_id.in_(old_jobs)))
    return int(result.rowcount or 0)


def upsert_points(
    session: Session,
    *,
    tag_id: np.ndarray,
    ts: pd.Series,
    value: np.ndarray,
    quality: np.ndarray,
) -> UpsertCounts:
    """Insert new points, rewrite changed ones, leave identical ones alone.

    The (tag_id, ts) keys must be distinct (``pipelines.ingest`` guarantees it). Writers of the
    same tags take turns: on PostgreSQL each holds an advisory lock per tag until its commit
    (SQLite has one writer at a time anyway), so two overlapping uploads end as if one ran after
    the other and each counts what it did itself. When no stored point of these tags falls in
    the upload's time range of its tag (the usual case: new data), the points go straight in:
    by binary ``COPY`` into ``data_point`` on PostgreSQL, through a staging table and one
    ``INSERT ... SELECT`` on SQLite. Otherwise they are staged, points identical to stored ones
    are dropped from the stage (so a re-ingest writes nothing) and the rest is upserted.
    """
    partitions.ensure_for_points(session, ts)  # PostgreSQL: each month's partition exists
    n = len(tag_id)
    if n == 0:
        return UpsertCounts(0, 0, 0)
    ts_us = ts.dt.as_unit("us").astype("int64").to_numpy()
    postgres = session.bind.dialect.name == "postgresql"
    if postgres:
        _lock_tags(session, tag_id)
    if not _overlaps_stored(session, tag_id, ts_us):
        if postgres:
            _copy_points(session, "data_point", tag_id, ts_us, value, quality)
        else:
            _stage_sqlite(session, tag_id, ts_us, value, quality)
            session.execute(
                text(
                    "INSERT INTO data_point (tag_id, ts, value, quality)"
                    " SELECT tag_id, ts, value, quality FROM stage_point"
                )
            )
        return UpsertCounts(n, 0, 0)
    if postgres:
        _stage_postgres(session, tag_id, ts_us, value, quality)
    else:
        _stage_sqlite(session, tag_id, ts_us, value, quality)
    unchanged = _drop_unchanged(session, postgres=postgres)
    if postgres:
        inserted, updated = _upsert_postgres(session)
    else:
        inserted, updated = _upsert_sqlite(session, n - unchanged)
    return UpsertCounts(inserted, updated, unchanged)


def delete_points(session: Session, *, tag_ids: list[int]) -> int:
    """Delete every point of these tags (data_point has no cascading foreign key)."""
    if not tag_ids:
        return 0
    result = session.execute(delete(DataPoint).where(DataPoint.tag_id.in_(tag_ids)))
    return int(result.rowcount or 0)


def pg_binary_copy(
    tag_id: np.ndarray, ts_us: np.ndarray, value: np.ndarray, quality: np.ndarray
) -> bytes:
    """Rows (bigint, timestamptz, float8, smallint) in PostgreSQL's binary COPY format."""
    rows = np.empty(len(tag_id), dtype=PG_POINT_ROW)
    rows["n"], rows["l1"], rows["l2"], rows["l3"], rows["l4"] = 4, 8, 8, 8, 2
    rows["tag"] = tag_id
    rows["ts"] = ts_us - PG_EPOCH_US
    rows["value"] = value
    rows["quality"] = quality
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    return header + rows.tobytes() + b"\xff\xff"


def _stage_postgres(
    session: Session, tag_id: np.ndarray, ts_us: np.ndarray, value: np.ndarray, quality: np.ndarray
) -> None:
    session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS stage_point "
            "(tag_id bigint, ts timestamptz, value float8, quality smallint) ON COMMIT DELETE ROWS"
        )
    )
    session.execute(text("TRUNCATE stage_point"))
    _copy_points(session, "stage_point", tag_id, ts_us, value, quality)
    session.execute(text("ANALYZE stage_point"))  # row count for the planner's join choice


def _copy_points(
    session: Session,
    table: str,
    tag_id: np.ndarray,
    ts_us: np.ndarray,
    value: np.ndarray,
    quality: np.ndarray,
) -> None:
    """Binary ``COPY`` of the points into ``table`` (``data_point`` or ``stage_point``) through
    the session's connection. Its errors are raised as SQLAlchemy's, as a statement's would be
    (a duplicate key as ``IntegrityError``, a lost connection as ``OperationalError``)."""
    statement = f"COPY {table} (tag_id, ts, value, quality) FROM STDIN (FORMAT BINARY)"
    raw = session.connection().connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            copy.write(pg_binary_copy(tag_id, ts_us, value, quality))
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _stage_sqlite(
    session: Session, tag_id: np.ndarray, ts_us: np.ndarray, value: np.ndarray, quality: np.ndarray
) -> None:
    conn = session.connection()
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS stage_point "
        "(tag_id INTEGER, ts INTEGER, value REAL, quality INTEGER)"
    )
    conn.exec_driver_sql("DELETE FROM stage_point")  # temp tables outlive a transaction here
    rows = zip(tag_id.tolist(), ts_us.tolist(), value.tolist(), quality.tolist(), strict=True)
    conn.exec_driver_sql("INSERT INTO stage_point VALUES (?, ?, ?, ?)", list(rows))


def _lock_tags(session: Session, tag_id: np.ndarray) -> None:
    """Hold an advisory lock per tag until the transaction ends (PostgreSQL), taken in tag order
    in one statement, so two writers never wait on each other in a circle.

    Without it, two ingests of the same tags could overlap: a point one found identical could be
    rewritten by the other meanwhile (ending with a mix of the two uploads), a ``COPY`` of new
    points could collide with the other's uncommitted keys, and the count of updates (a join in
    the upsert's own statement, whose snapshot predates keys it then waited for) could come out
    wrong, even negative. The keys are the tag ids in PostgreSQL's single-bigint key space, apart
    from the two-int keys ``storage.partitions`` locks months with.
    """
    session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(t))"
            " FROM (SELECT DISTINCT t FROM unnest(CAST(:tags AS bigint[])) AS t ORDER BY t) AS s"
        ),
        {"tags": np.unique(tag_id).tolist()},
    )


def _overlaps_stored(session: Session, tag_id: np.ndarray, ts_us: np.ndarray) -> bool:
    """Does any stored point of these tags lie within the staged time range of its tag?"""
    frame = pd.DataFrame({"tag": tag_id, "ts": ts_us}).groupby("tag")["ts"].agg(["min", "max"])
    probe = (
        select(DataPoint.tag_id)
        .where(
            DataPoint.tag_id == bindparam("tag"),
            DataPoint.ts >= bindparam("lo", type_=DataPoint.ts.type),
            DataPoint.ts <= bindparam("hi", type_=DataPoint.ts.type),
        )
        .limit(1)
    )
    for tag, lo, hi in frame.itertuples():
        found = session.execute(
            probe, {"tag": int(tag), "lo": from_epoch_us(int(lo)), "hi": from_epoch_us(int(hi))}
        ).first()
        if found is not None:
            return True
    return False


def _drop_unchanged(session: Session, *, postgres: bool) -> int:
    """Remove staged points identical to stored ones; returns how many."""
    if postgres:
        sql = (
            "DELETE FROM stage_point s USING data_point d"
            " WHERE d.tag_id = s.tag_id AND d.ts = s.ts"
            " AND d.value = s.value AND d.quality = s.quality"
        )
    else:
        sql = (
            "DELETE FROM stage_point WHERE EXISTS (SELECT 1 FROM data_point d"
            " WHERE d.tag_id = stage_point.tag_id AND d.ts = stage_point.ts"
            " AND d.value = stage_point.value AND d.quality = stage_point.quality)"
        )
    return int(session.execute(text(sql)).rowcount or 0)


_CHANGED = (
    "data_point.value IS DISTINCT FROM excluded.value "
    "OR data_point.quality IS DISTINCT FROM excluded.quality"
)


def _upsert_postgres(session: Session) -> tuple[int, int]:
    # The stage holds only new or changed points now (_drop_unchanged), and no other writer of
    # these tags runs (_lock_tags): those already stored are the updates. (A partitioned table
    # cannot return ``xmax`` to tell them apart.)
    written, updated = session.execute(
        text(
            "WITH stored AS (SELECT count(*) AS n FROM stage_point s JOIN data_point d"
            " ON d.tag_id = s.tag_id AND d.ts = s.ts),"
            " written AS ("
            " INSERT INTO data_point (tag_id, ts, value, quality)"
            " SELECT tag_id, ts, value, quality FROM stage_point"
            " ON CONFLICT (tag_id, ts) DO UPDATE SET value = excluded.value,"
            f" quality = excluded.quality WHERE {_CHANGED}"
            " RETURNING 1)"
            " SELECT (SELECT count(*) FROM written), (SELECT n FROM stored)"
        )
    ).one()
    return int(written) - int(updated), int(updated)


def _upsert_sqlite(session: Session, staged: int) -> tuple[int, int]:
    conn = session.connection()
    # This transaction holds SQLite's write lock (see storage.db), so the count stays true.
    updated = conn.exec_driver_sql(
        "SELECT count(*) FROM stage_point s WHERE EXISTS (SELECT 1 FROM data_point d"
        " WHERE d.tag_id = s.tag_id AND d.ts = s.ts)"
    ).scalar_one()
    conn.exec_driver_sql(
        "INSERT INTO data_point (tag_id, ts, value, quality)"
        " SELECT tag_id, ts, value, quality FROM stage_point WHERE true"
        " ON CONFLICT (tag_id, ts) DO UPDATE SET value = excluded.value,"
        f" quality = excluded.quality WHERE {_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')}"
    )
    return staged - int(updated), int(updated)


def count_points(session: Session, *, tenant_id: str, facility_id: str | None = None) -> int:
    query = select(func.count()).select_from(DataPoint).join(Tag, Tag.id == DataPoint.tag_id)
    query = query.where(Tag.tenant_id == tenant_id)
    if facility_id is not None:
        query = query.where(Tag.facility_id == facility_id)
    return int(session.scalar(query) or 0)


def _load_tags(
    session: Session, *, tenant_id: str, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], Tag]:
    found: dict[tuple[str, str], Tag] = {}
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        by_facility: dict[str, list[str]] = {}
        for f, t in chunk:
            by_facility.setdefault(f, []).append(t)
        cond = or_(*(and_(Tag.facility_id == f, Tag.name.in_(ts)) for f, ts in by_facility.items()))
        for tag in session.scalars(select(Tag).where(Tag.tenant_id == tenant_id, cond)):
            found[(tag.facility_id, tag.name)] = tag
    return found


def _finite_or_none(value: object) -> float | None:
    if value is None:
        return None
    f = float(value)  # type: ignore[arg-type]
    return f if np.isfinite(f) else None


__all__ = [
    "ResolvedPoints",
    "UpsertCounts",
    "count_points",
    "delete_points",
    "delete_rejected_rows",
    "pg_binary_copy",
    "resolve_tags",
    "store_parsed",
    "upsert_points",
]
