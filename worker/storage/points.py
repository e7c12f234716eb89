"""Bulk storage of data points: tag resolution and idempotent upserts, no ORM object per point.

PostgreSQL: binary COPY into a temporary staging table, then one ``INSERT ... ON CONFLICT``.
SQLite: ``executemany`` into a temporary staging table, then the same upsert.
An existing point is only rewritten when its value or quality differs, so re-ingesting a file
changes nothing and reports every row as unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.storage.models import DataPoint, Facility, Tag

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds: binary COPY's zero


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
    session: Session, *, tenant_id: str, points: pd.DataFrame, intervals: pd.Series
) -> ResolvedPoints:
    """Map each point's (facility_id, tag) to a tag id, creating unknown tags where allowed.

    ``points`` has the columns of ``pipelines.ingest.ParsedPoints.points``; ``intervals`` is the
    inferred spacing in seconds per (facility_id, tag), used for tags created here.
    Refuses rows of facilities the tenant does not own, unknown tags of strict facilities and
    units that contradict the tag's unit.
    """
    n = len(points)
    fac = pd.Categorical(points["facility_id"])
    tag = pd.Categorical(points["tag"])
    unit = pd.Categorical(points["unit"])
    # One code per distinct (facility, tag) and per distinct (facility, tag, unit): every check
    # below runs once per distinct value and is broadcast back to the rows.
    pair_codes, _pair_uniques = pd.factorize(
        fac.codes.astype(np.int64) * len(tag.categories) + tag.codes
    )
    first_row = np.unique(pair_codes, return_index=True)[1]
    wanted = [
        (str(fac.categories[fac.codes[i]]), str(tag.categories[tag.codes[i]])) for i in first_row
    ]
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
        units = _first_units(points)
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
        insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        session.execute(insert(Tag).on_conflict_do_nothing(), rows)  # a racing worker may win
        tags = _load_tags(session, tenant_id=tenant_id, pairs=wanted)
        created = [f"{f}/{t}" for f, t in missing]

    tag_of_pair = np.array([tags[p].id if p in tags else -1 for p in wanted], dtype=np.int64)
    fac_known = np.array([p[0] in facilities for p in wanted], dtype=bool)

    # Units: compare each distinct (pair, unit) once.
    combo_codes, _ = pd.factorize(
        pair_codes.astype(np.int64) * (len(unit.categories) + 1) + unit.codes
    )
    combo_first = np.unique(combo_codes, return_index=True)[1]
    combo_wrong = np.zeros(len(combo_first), dtype=bool)
    combo_reason = np.full(len(combo_first), None, dtype=object)
    for k, i in enumerate(combo_first):
        given = str(unit.categories[unit.codes[i]]) if unit.codes[i] >= 0 else ""
        pair = wanted[pair_codes[i]]
        expected = tags[pair].unit if pair in tags else ""
        if given and expected and _norm_unit(given) != _norm_unit(expected):
            combo_wrong[k] = True
            combo_reason[k] = f"unit '{given}' does not match the tag's unit '{expected}'"

    reason = np.full(n, None, dtype=object)
    wrong_unit = combo_wrong[combo_codes]
    reason[wrong_unit] = combo_reason[combo_codes[wrong_unit]]
    unknown_tag = tag_of_pair[pair_codes] < 0
    if unknown_tag.any():
        names = np.array([t for _, t in wanted], dtype=object)
        reason[unknown_tag] = [
            f"unknown tag '{t}': the facility is strict, create the tag first"
            for t in names[pair_codes[unknown_tag]]
        ]
    unknown_fac = ~fac_known[pair_codes]
    if unknown_fac.any():
        fids = np.array([f for f, _ in wanted], dtype=object)
        reason[unknown_fac] = [f"unknown facility_id '{f}'" for f in fids[pair_codes[unknown_fac]]]
    bad = np.not_equal(reason, None)
    return ResolvedPoints(
        tag_id=tag_of_pair[pair_codes][~bad],
        keep=~bad,
        rejected=pd.DataFrame({"row": points["row"].to_numpy()[bad], "reason": reason[bad]}),
        tags_created=created,
    )


def upsert_points(
    session: Session,
    *,
    tag_id: np.ndarray,
    ts: pd.Series,
    value: np.ndarray,
    quality: np.ndarray,
) -> UpsertCounts:
    """Insert new points, rewrite changed ones, leave identical ones alone. No duplicate keys."""
    if len(tag_id) == 0:
        return UpsertCounts(0, 0, 0)
    ts_us = ts.dt.as_unit("us").astype("int64").to_numpy()
    if session.bind.dialect.name == "postgresql":
        inserted, updated = _upsert_postgres(session, tag_id, ts_us, value, quality)
    else:
        inserted, updated = _upsert_sqlite(session, tag_id, ts_us, value, quality)
    return UpsertCounts(inserted, updated, len(tag_id) - inserted - updated)


def pg_binary_copy(
    tag_id: np.ndarray, ts_us: np.ndarray, value: np.ndarray, quality: np.ndarray
) -> bytes:
    """Rows (bigint, timestamptz, float8, smallint) in PostgreSQL's binary COPY format."""
    row = np.dtype(
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
    rows = np.empty(len(tag_id), dtype=row)
    rows["n"], rows["l1"], rows["l2"], rows["l3"], rows["l4"] = 4, 8, 8, 8, 2
    rows["tag"] = tag_id
    rows["ts"] = ts_us - PG_EPOCH_US
    rows["value"] = value
    rows["quality"] = quality
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    return header + rows.tobytes() + b"\xff\xff"


_CHANGED = (
    "data_point.value IS DISTINCT FROM excluded.value "
    "OR data_point.quality IS DISTINCT FROM excluded.quality"
)


def _upsert_postgres(
    session: Session, tag_id: np.ndarray, ts_us: np.ndarray, value: np.ndarray, quality: np.ndarray
) -> tuple[int, int]:
    session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS stage_point "
            "(tag_id bigint, ts timestamptz, value float8, quality smallint) ON COMMIT DELETE ROWS"
        )
    )
    session.execute(text("TRUNCATE stage_point"))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy("COPY stage_point FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(pg_binary_copy(tag_id, ts_us, value, quality))
    inserted, updated = session.execute(
        text(
            "WITH written AS ("
            " INSERT INTO data_point (tag_id, ts, value, quality)"
            " SELECT tag_id, ts, value, quality FROM stage_point"
            " ON CONFLICT (tag_id, ts) DO UPDATE SET value = excluded.value,"
            f" quality = excluded.quality WHERE {_CHANGED}"
            " RETURNING (xmax = 0) AS fresh)"
            " SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM written"
        )
    ).one()
    session.execute(text("TRUNCATE stage_point"))
    return int(inserted), int(updated)


def _upsert_sqlite(
    session: Session, tag_id: np.ndarray, ts_us: np.ndarray, value: np.ndarray, quality: np.ndarray
) -> tuple[int, int]:
    conn = session.connection()
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS stage_point "
        "(tag_id INTEGER, ts INTEGER, value REAL, quality INTEGER, PRIMARY KEY (tag_id, ts))"
    )
    conn.exec_driver_sql("DELETE FROM stage_point")
    rows = list(zip(tag_id.tolist(), ts_us.tolist(), value.tolist(), quality.tolist(), strict=True))
    conn.exec_driver_sql("INSERT INTO stage_point VALUES (?, ?, ?, ?)", rows)
    inserted, updated = conn.exec_driver_sql(
        "SELECT count(*) FILTER (WHERE d.tag_id IS NULL),"
        " count(*) FILTER (WHERE d.tag_id IS NOT NULL"
        "  AND (d.value IS NOT s.value OR d.quality IS NOT s.quality))"
        " FROM stage_point s LEFT JOIN data_point d ON d.tag_id = s.tag_id AND d.ts = s.ts"
    ).one()
    conn.exec_driver_sql(
        "INSERT INTO data_point (tag_id, ts, value, quality)"
        " SELECT tag_id, ts, value, quality FROM stage_point WHERE true"
        " ON CONFLICT (tag_id, ts) DO UPDATE SET value = excluded.value,"
        f" quality = excluded.quality WHERE {_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')}"
    )
    conn.exec_driver_sql("DELETE FROM stage_point")
    return int(inserted), int(updated)


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


def _first_units(points: pd.DataFrame) -> dict[tuple[str, str], str]:
    given = points[points["unit"].astype(object) != ""]
    first = given.drop_duplicates(["facility_id", "tag"])
    return {
        (f, t): u
        for f, t, u in zip(
            first["facility_id"].astype(object),
            first["tag"].astype(object),
            first["unit"].astype(object),
            strict=True,
        )
    }


def _norm_unit(unit: str) -> str:
    return unit.strip().lower().replace(" ", "")


def _finite_or_none(value: object) -> float | None:
    if value is None:
        return None
    f = float(value)  # type: ignore[arg-type]
    return f if np.isfinite(f) else None


__all__ = [
    "ResolvedPoints",
    "UpsertCounts",
    "count_points",
    "pg_binary_copy",
    "resolve_tags",
    "upsert_points",
]
