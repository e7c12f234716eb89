"""Storage for analyses: loading points and rules, keeping gaps, scores and alerts current."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipelines.gaps import STORED_GAP_COLUMNS, diff_gaps
from pipelines.quality import AlertThresholds, quality_alerts
from pipelines.timeseries import SENTINELS
from worker.storage.db import new_id
from worker.storage.events import iso, publish
from worker.storage.models import (
    Alert,
    DataPoint,
    Facility,
    Gap,
    QualityScore,
    Tag,
    to_epoch_us,
)
from worker.storage.points import PG_EPOCH_US, PG_POINT_ROW

RULE_COLUMNS = {
    "interval_s": Tag.expected_interval_s,
    "min_value": Tag.min_value,
    "max_value": Tag.max_value,
    "flatline_tolerance": Tag.flatline_tolerance,
    "flatline_min_s": Tag.flatline_min_s,
    "spike_threshold": Tag.spike_threshold,
    "max_rate": Tag.max_rate,
}


def load_points(
    session: Session, *, tag_ids: list[int], start: datetime, end: datetime
) -> pd.DataFrame:
    """Points of these tags with ``start <= ts <= end``.

    Columns: tag (int64 tag id), ts (datetime64[us, UTC]), value (float64), quality (int8).
    PostgreSQL streams them with binary COPY and decodes them with numpy; no object per point.
    """
    if not tag_ids:
        return _points_frame(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))
    lo, hi = to_epoch_us(start), to_epoch_us(end)
    if session.bind.dialect.name == "postgresql":
        return _load_points_postgres(session, tag_ids, lo, hi)
    rows = (
        session.connection()
        .exec_driver_sql(
            f"SELECT tag_id, ts, value, quality FROM data_point WHERE tag_id IN "
            f"({','.join('?' * len(tag_ids))}) AND ts >= ? AND ts <= ? ORDER BY tag_id, ts",
            (*tag_ids, lo, hi),
        )
        .fetchall()
    )
    if not rows:
        return load_points(session, tag_ids=[], start=start, end=end)
    tag, ts, value, quality = (np.asarray(c) for c in zip(*rows, strict=True))
    return _points_frame(tag, ts, value, quality)


def _load_points_postgres(session: Session, tag_ids: list[int], lo: int, hi: int) -> pd.DataFrame:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    ids = ",".join(str(int(t)) for t in tag_ids)
    query = (
        "COPY (SELECT tag_id, ts, value, quality FROM data_point"
        f" WHERE tag_id IN ({ids})"
        f" AND ts >= to_timestamp({lo} / 1e6) AND ts <= to_timestamp({hi} / 1e6)"
        " ORDER BY tag_id, ts) TO STDOUT (FORMAT BINARY)"
    )
    chunks: list[bytes] = []
    with raw.cursor() as cur, cur.copy(query) as copy:
        chunks.extend(bytes(block) for block in copy)
    buf = b"".join(chunks)
    body = buf[19:-2] if len(buf) >= 21 else b""  # header (19 bytes) and trailer (2)
    rows = np.frombuffer(body, dtype=PG_POINT_ROW)
    return _points_frame(
        rows["tag"].astype(np.int64),
        rows["ts"].astype(np.int64) + PG_EPOCH_US,
        rows["value"].astype(np.float64),
        rows["quality"].astype(np.int8),
    )


def _points_frame(
    tag: np.ndarray, ts_us: np.ndarray, value: np.ndarray, quality: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tag": tag.astype(np.int64),
            "ts": pd.to_datetime(ts_us.astype(np.int64), unit="us", utc=True).as_unit("us"),
            "value": value.astype(np.float64),
            "quality": quality.astype(np.int8),
        }
    )


def load_rules(session: Session, *, tags: list[Tag]) -> pd.DataFrame:
    """The rules frame of pipelines.timeseries, indexed by tag id (NULL → NaN → default)."""
    frame = pd.DataFrame(
        {name: [getattr(t, col.key) for t in tags] for name, col in RULE_COLUMNS.items()},
        index=pd.Index([t.id for t in tags], name="tag"),
        dtype="float64",
    )
    return frame


def usable_neighbours(
    session: Session, *, tag: Tag, start: datetime, end: datetime
) -> tuple[datetime | None, datetime | None]:
    """The last usable point before ``start`` and the first usable point after ``end``."""

    def usable() -> list[Any]:
        cond = [
            DataPoint.tag_id == tag.id,
            DataPoint.quality < 2,
            DataPoint.value.not_in(SENTINELS),
        ]
        if tag.min_value is not None:
            cond.append(DataPoint.value >= tag.min_value)
        if tag.max_value is not None:
            cond.append(DataPoint.value <= tag.max_value)
        return cond

    before = session.scalar(select(func.max(DataPoint.ts)).where(*usable(), DataPoint.ts < start))
    after = session.scalar(select(func.min(DataPoint.ts)).where(*usable(), DataPoint.ts > end))
    return _aware(before), _aware(after)


def last_usable(session: Session, *, tag: Tag) -> datetime | None:
    far = datetime(9999, 1, 1, tzinfo=UTC)
    before, _ = usable_neighbours(session, tag=tag, start=far, end=far)
    return before


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    from worker.storage.models import from_epoch_us

    return from_epoch_us(int(value))


# --- gaps ----------------------------------------------------------------------------------


def gap_view(gap: Gap, *, tag_name: str) -> dict[str, Any]:
    return {
        "id": f"gap_{gap.id}",
        "facility_id": gap.facility_id,
        "tag": tag_name,
        "gap_start": iso(gap.gap_start),
        "gap_end": iso(gap.gap_end),
        "duration_minutes": gap.duration_minutes,
        "missing_points": gap.missing_points,
        "status": gap.status,
        "detected_at": iso(gap.detected_at),
        "resolved_at": iso(gap.resolved_at) if gap.resolved_at else None,
    }


def reconcile_gaps(
    session: Session,
    *,
    tag: Tag,
    computed: pd.DataFrame,
    span: tuple[datetime, datetime],
    thresholds: AlertThresholds,
) -> dict[str, int]:
    """Make the stored active gaps of ``tag`` starting within ``span`` equal ``computed``.

    ``computed`` has pipelines.gaps columns for this tag only; ``pipelines.gaps.diff_gaps``
    says what changes. New gaps are inserted with a ``data_gap.detected`` event; stored gaps
    that are no longer there (late data filled them) are marked resolved with a
    ``data_gap.resolved`` event; gaps with the same start are updated in place (an open gap
    grows or closes) without an event. Running it twice changes nothing.
    """
    lo, hi = span
    now = datetime.now(UTC)
    stored = {
        g.gap_start: g
        for g in session.scalars(
            select(Gap).where(
                Gap.tag_id == tag.id,
                Gap.status != "resolved",
                Gap.gap_start >= lo,
                Gap.gap_start <= hi,
            )
        )
    }
    limit = thresholds.overridden(gap_minutes=tag.alert_gap_minutes).gap_minutes
    diff = diff_gaps(_stored_gaps(list(stored.values())), computed, alert_minutes=limit)
    for row in diff.gaps.itertuples(index=False):
        start = row.gap_start.to_pydatetime()
        if row.action == "insert":
            gap = _insert_gap(session, tag=tag, row=row, now=now)
        else:
            gap = stored[start]
        if row.action == "update":
            gap.gap_end, gap.status = row.gap_end.to_pydatetime(), "open" if row.open else "closed"
            gap.duration_minutes = float(row.duration_minutes)
            gap.missing_points = int(row.missing_points)
            gap.updated_at = now
        if row.alert:
            raise_alert(
                session,
                tag=tag,
                rule="gap_too_long",
                key=iso(gap.gap_start),
                message=f"{tag.name}: no usable data for {gap.duration_minutes:.0f} min "
                f"from {iso(gap.gap_start)} (limit {limit:.0f} min)",
                details={
                    "gap_id": f"gap_{gap.id}",
                    "gap_start": iso(gap.gap_start),
                    "duration_minutes": gap.duration_minutes,
                },
            )
    for resolved in diff.resolved["gap_start"]:
        gap = stored[resolved.to_pydatetime()]
        gap.status, gap.resolved_at, gap.updated_at = "resolved", now, now
        publish(
            session,
            tenant_id=tag.tenant_id,
            type="data_gap.resolved",
            data=_gap_event(gap, tag),
            key=f"gap_{gap.id}",
        )
    return diff.counts


def _insert_gap(session: Session, *, tag: Tag, row: Any, now: datetime) -> Gap:
    """A new gap (a row of ``GapDiff.gaps``), announced by ``data_gap.detected``."""
    gap = Gap(
        tenant_id=tag.tenant_id,
        facility_id=tag.facility_id,
        tag_id=tag.id,
        gap_start=row.gap_start.to_pydatetime(),
        gap_end=row.gap_end.to_pydatetime(),
        duration_minutes=float(row.duration_minutes),
        missing_points=int(row.missing_points),
        status="open" if row.open else "closed",
        detected_at=now,
        updated_at=now,
    )
    session.add(gap)
    session.flush()
    publish(
        session,
        tenant_id=tag.tenant_id,
        type="data_gap.detected",
        data=_gap_event(gap, tag),
        key=f"gap_{gap.id}",
    )
    return gap


def _stored_gaps(gaps: list[Gap]) -> pd.DataFrame:
    """Stored gaps in the columns of ``pipelines.gaps.diff_gaps``."""
    return pd.DataFrame(
        {
            "gap_start": pd.to_datetime([g.gap_start for g in gaps], utc=True).as_unit("us"),
            "gap_end": pd.to_datetime([g.gap_end for g in gaps], utc=True).as_unit("us"),
            "duration_minutes": np.array([g.duration_minutes for g in gaps], dtype=np.float64),
            "missing_points": np.array([g.missing_points for g in gaps], dtype=np.int64),
            "open": np.array([g.status == "open" for g in gaps], dtype=bool),
        },
        columns=list(STORED_GAP_COLUMNS),
    )


def _gap_event(gap: Gap, tag: Tag) -> dict[str, Any]:
    return {
        "gap_id": f"gap_{gap.id}",
        "facility_id": gap.facility_id,
        "tag": tag.name,
        "gap_start": iso(gap.gap_start),
        "gap_end": iso(gap.gap_end),
        "duration_minutes": gap.duration_minutes,
        "missing_points": gap.missing_points,
        "open": gap.status == "open",
    }


# --- quality and alerts ----------------------------------------------------------------------


def save_quality(
    session: Session, *, tag: Tag, rows: pd.DataFrame, tz: str, thresholds: AlertThresholds
) -> int:
    """Upsert one tag's daily scores (pipelines.quality rows) and raise their alerts."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    now = datetime.now(UTC)
    limits = thresholds.overridden(
        completeness=tag.alert_completeness, flatline_hours=tag.alert_flatline_hours
    )
    alerts = quality_alerts(rows, limits)
    written = 0
    for row, alert in zip(rows.to_dict("records"), alerts.itertuples(index=False), strict=True):
        start = row["period_start"].to_pydatetime()
        day = row["period_start"].tz_convert(tz).date().isoformat()
        metrics = {
            k: _plain(v)
            for k, v in row.items()
            if k not in ("tag", "period_start", "period_end", "score")
        }
        values = {
            "tenant_id": tag.tenant_id,
            "facility_id": tag.facility_id,
            "tag_id": tag.id,
            "day": day,
            "period_start": start,
            "period_end": row["period_end"].to_pydatetime(),
            "metrics": metrics,
            "score": float(row["score"]),
            "computed_at": now,
        }
        stmt = insert(QualityScore).values(**values)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tag_id", "period_start"],
                set_={
                    k: stmt.excluded[k] for k in ("period_end", "metrics", "score", "computed_at")
                },
            )
        )
        written += 1
        if alert.low_completeness:
            raise_alert(
                session,
                tag=tag,
                rule="low_completeness",
                key=day,
                message=f"{tag.name}: {metrics['completeness']:.1%} complete on {day} "
                f"(threshold {limits.completeness:.0%})",
                details={"day": day, "completeness": metrics["completeness"]},
            )
        if alert.flatline:
            raise_alert(
                session,
                tag=tag,
                rule="flatline",
                key=day,
                message=f"{tag.name}: flat for {metrics['flatline_minutes']:.0f} min on "
                f"{day} (threshold {limits.flatline_hours:g} h)",
                details={"day": day, "flatline_minutes": metrics["flatline_minutes"]},
            )
    return written


def raise_alert(
    session: Session, *, tag: Tag, rule: str, key: str, message: str, details: dict[str, Any]
) -> bool:
    """Record an alert once per (tag, rule, key), with its ``alert.triggered`` event."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    alert_id = new_id("alr")
    result = session.execute(
        insert(Alert)
        .values(
            id=alert_id,
            tenant_id=tag.tenant_id,
            facility_id=tag.facility_id,
            tag_id=tag.id,
            rule=rule,
            key=key,
            message=message,
            details=details,
            triggered_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["tag_id", "rule", "key"])
        .returning(Alert.id)
    ).scalar_one_or_none()
    if result is None:  # fired before
        return False
    publish(
        session,
        tenant_id=tag.tenant_id,
        type="alert.triggered",
        data={
            "alert_id": alert_id,
            "facility_id": tag.facility_id,
            "tag": tag.name,
            "rule": rule,
            "message": message,
            **details,
        },
        key=f"{tag.id}:{rule}:{key}",
    )
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return iso(value.to_pydatetime())
    return value


def tags_with_points(session: Session) -> list[Tag]:
    """Every tag that has at least one point (for the stale-data scan)."""
    has = select(DataPoint.tag_id).where(DataPoint.tag_id == Tag.id).exists()
    return list(session.scalars(select(Tag).where(has).order_by(Tag.id)))


def tags_of(session: Session, *, tenant_id: str, tag_ids: list[int]) -> list[Tag]:
    """The tenant's tags among ``tag_ids`` (another tenant's ids find nothing)."""
    return list(session.scalars(select(Tag).where(Tag.id.in_(tag_ids), Tag.tenant_id == tenant_id)))


def lock_tags(session: Session, *, tag_ids: list[int]) -> None:
    """Lock the tags' rows (in id order, so two lockers cannot deadlock) until the commit."""
    if tag_ids:
        session.execute(
            select(Tag.id).where(Tag.id.in_(sorted(tag_ids))).order_by(Tag.id).with_for_update()
        )


def facility_timezones(session: Session, *, facility_ids: set[str]) -> dict[str, str]:
    """The time zone of each facility, by id."""
    query = select(Facility.id, Facility.timezone).where(Facility.id.in_(facility_ids))
    return {fid: tz for fid, tz in session.execute(query)}


def tags_by_facility(session: Session) -> list[tuple[str, list[Tag]]]:
    """Every facility's time zone with its tags (for the nightly scoring)."""
    return [
        (
            facility.timezone,
            list(session.scalars(select(Tag).where(Tag.facility_id == facility.id))),
        )
        for facility in session.scalars(select(Facility))
    ]


def is_scored(session: Session, *, tag_id: int, period_start: datetime) -> bool:
    """Has the tag a quality score for the period starting at ``period_start``?"""
    found = session.scalar(
        select(QualityScore.id).where(
            QualityScore.tag_id == tag_id, QualityScore.period_start == period_start
        )
    )
    return found is not None


def last_usable_times(session: Session, *, tags: list[Tag]) -> pd.DataFrame:
    """The input of ``pipelines.gaps.find_stale_gaps``: per tag, its id (tag, int64), its last
    usable point (last_ts, datetime64[us, UTC], NaT when none) and its expected interval
    (interval_s, float64 seconds, NaN when unknown)."""
    last = [last_usable(session, tag=tag) for tag in tags]
    return pd.DataFrame(
        {
            "tag": np.array([t.id for t in tags], dtype=np.int64),
            "last_ts": pd.to_datetime(last, utc=True).as_unit("us"),
            "interval_s": np.array(
                [np.nan if t.expected_interval_s is None else t.expected_interval_s for t in tags],
                dtype=np.float64,
            ),
        }
    )


def reconcile_stale_gaps(
    session: Session, *, tags: list[Tag], gaps: pd.DataFrame, thresholds: AlertThresholds
) -> int:
    """Store the open gaps of ``pipelines.gaps.find_stale_gaps`` (each grows the tag's open gap
    from the same point, or opens it); returns how many were new."""
    by_id = {t.id: t for t in tags}
    opened = 0
    for tag_id, gap in gaps.groupby("tag", sort=False):
        start = gap["gap_start"].iloc[0].to_pydatetime()
        counts = reconcile_gaps(
            session,
            tag=by_id[int(tag_id)],
            computed=gap,
            span=(start, start),
            thresholds=thresholds,
        )
        opened += counts["detected"]
    return opened
