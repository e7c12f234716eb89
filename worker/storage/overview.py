"""What the dashboard summarises: per facility its latest data, open gaps, yesterday's
completeness and recent alerts; per facility the daily quality of every tag (the heatmap).

Every figure is one indexed query over the tenant's rows: the latest point of a tag is the last
entry of the ``(tag_id, ts)`` primary key, so the overview never scans a tag's points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.storage.models import Alert, DataPoint, Facility, Gap, QualityScore, Tag

ALERT_DAYS = 7  # the overview counts the alerts of the last week


@dataclass(frozen=True)
class FacilitySummary:
    id: str
    name: str
    timezone: str
    tags: int
    latest: datetime | None  # newest point of any of its tags
    open_gaps: int
    yesterday: str  # the facility's last ended local day, YYYY-MM-DD
    completeness: float | None  # mean completeness of its tags on that day; None if unscored
    recent_alerts: int  # alerts of the last ALERT_DAYS days not acknowledged


@dataclass(frozen=True)
class TagSummary:
    id: int
    name: str
    unit: str
    interval_s: float | None
    latest: datetime | None
    open_gap_since: datetime | None


@dataclass(frozen=True)
class DayScore:
    tag: str
    day: str
    score: float
    completeness: float
    metrics: dict[str, object]


def _latest_per_tag(tenant_id: str, facility_id: str | None = None):  # type: ignore[no-untyped-def]
    latest = (
        select(func.max(DataPoint.ts)).where(DataPoint.tag_id == Tag.id).scalar_subquery()
    )  # one backward index probe per tag
    query = select(Tag.id, Tag.facility_id, latest.label("latest")).where(
        Tag.tenant_id == tenant_id
    )
    if facility_id is not None:
        query = query.where(Tag.facility_id == facility_id)
    return query


def last_ended_day(now: datetime, tz: str) -> date:
    return (now.astimezone(ZoneInfo(tz)) - timedelta(days=1)).date()


def facility_summaries(
    session: Session, *, tenant_id: str, now: datetime | None = None
) -> list[FacilitySummary]:
    """Every facility of the tenant, by name."""
    now = now or datetime.now(UTC)
    facilities = list(
        session.scalars(
            select(Facility).where(Facility.tenant_id == tenant_id).order_by(Facility.name)
        )
    )
    latest: dict[str, datetime] = {}
    tag_count: dict[str, int] = {}
    for _, facility_id, ts in session.execute(_latest_per_tag(tenant_id)):
        tag_count[facility_id] = tag_count.get(facility_id, 0) + 1
        if ts is not None:
            ts = _aware(ts)
            latest[facility_id] = max(latest.get(facility_id, ts), ts)
    gaps = dict(
        session.execute(
            select(Gap.facility_id, func.count())
            .where(Gap.tenant_id == tenant_id, Gap.status == "open")
            .group_by(Gap.facility_id)
        ).all()
    )
    alerts = dict(
        session.execute(
            select(Alert.facility_id, func.count())
            .where(
                Alert.tenant_id == tenant_id,
                Alert.triggered_at >= now - timedelta(days=ALERT_DAYS),
                Alert.acknowledged_at.is_(None),
            )
            .group_by(Alert.facility_id)
        ).all()
    )
    days = {f.id: last_ended_day(now, f.timezone).isoformat() for f in facilities}
    completeness: dict[str, list[float]] = {}
    if facilities:
        rows = session.execute(
            select(QualityScore.facility_id, QualityScore.day, QualityScore.metrics).where(
                QualityScore.tenant_id == tenant_id,
                QualityScore.day.in_(sorted(set(days.values()))),
            )
        )
        for facility_id, day, metrics in rows:
            if days.get(facility_id) == day:
                value = (metrics or {}).get("completeness")
                if value is not None:
                    completeness.setdefault(facility_id, []).append(float(value))
    return [
        FacilitySummary(
            id=f.id,
            name=f.name,
            timezone=f.timezone,
            tags=tag_count.get(f.id, 0),
            latest=latest.get(f.id),
            open_gaps=int(gaps.get(f.id, 0)),
            yesterday=days[f.id],
            completeness=(
                sum(completeness[f.id]) / len(completeness[f.id]) if f.id in completeness else None
            ),
            recent_alerts=int(alerts.get(f.id, 0)),
        )
        for f in facilities
    ]


def tag_summaries(session: Session, *, tenant_id: str, facility_id: str) -> list[TagSummary]:
    """The facility's tags by name, each with its newest point and the start of its open gap."""
    latest = {
        tag_id: _aware(ts) if ts is not None else None
        for tag_id, _, ts in session.execute(_latest_per_tag(tenant_id, facility_id))
    }
    open_since = dict(
        session.execute(
            select(Gap.tag_id, func.min(Gap.gap_start))
            .where(Gap.tenant_id == tenant_id, Gap.facility_id == facility_id, Gap.status == "open")
            .group_by(Gap.tag_id)
        ).all()
    )
    tags = session.scalars(
        select(Tag)
        .where(Tag.tenant_id == tenant_id, Tag.facility_id == facility_id)
        .order_by(Tag.name)
    )
    return [
        TagSummary(
            id=t.id,
            name=t.name,
            unit=t.unit,
            interval_s=t.expected_interval_s,
            latest=latest.get(t.id),
            open_gap_since=_aware(open_since[t.id]) if t.id in open_since else None,
        )
        for t in tags
    ]


def day_scores(
    session: Session, *, tenant_id: str, facility_id: str, first_day: str, last_day: str
) -> list[DayScore]:
    """Each scored (tag, local day) of the facility with ``first_day <= day <= last_day``."""
    rows = session.execute(
        select(Tag.name, QualityScore.day, QualityScore.score, QualityScore.metrics)
        .join(Tag, Tag.id == QualityScore.tag_id)
        .where(
            QualityScore.tenant_id == tenant_id,
            QualityScore.facility_id == facility_id,
            QualityScore.day >= first_day,
            QualityScore.day <= last_day,
        )
        .order_by(Tag.name, QualityScore.day)
    )
    return [
        DayScore(
            tag=name,
            day=day,
            score=float(score),
            completeness=float((metrics or {}).get("completeness", 0.0)),
            metrics=dict(metrics or {}),
        )
        for name, day, score, metrics in rows
    ]


def latest_scored_day(session: Session, *, tenant_id: str, facility_id: str) -> str | None:
    return session.scalar(
        select(func.max(QualityScore.day)).where(
            QualityScore.tenant_id == tenant_id, QualityScore.facility_id == facility_id
        )
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
