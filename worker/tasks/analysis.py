"""Analysis: gaps, daily quality and alerts, after each ingest and on schedules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from celery import Task
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipelines.gaps import find_gaps
from pipelines.quality import score_quality
from worker import kinds
from worker.celery_app import app
from worker.locks import once_per_period
from worker.settings import get_settings
from worker.storage import audit, idempotency
from worker.storage.analysis import (
    AlertThresholds,
    last_usable,
    load_points,
    load_rules,
    reconcile_gaps,
    save_quality,
    tags_with_points,
    usable_neighbours,
)
from worker.storage.db import session_scope
from worker.storage.models import Event, Facility, Job, QualityScore, RejectedRow, Tag
from worker.tasks.base import RETRY_OPTIONS, JobRun, finish_or_stop, job_attempt


def thresholds() -> AlertThresholds:
    s = get_settings()
    return AlertThresholds(s.alert_gap_minutes, s.alert_completeness, s.alert_flatline_hours)


@app.task(name=kinds.ANALYSE, bind=True, **RETRY_OPTIONS)
def analyse_ingest(self: Task, job_id: str) -> None:
    """Re-analyse the tags and time ranges an ingest touched (not the whole history)."""
    with job_attempt(self, job_id) as run:
        if run is None:
            return
        started = time.perf_counter()
        with session_scope() as s:
            job = s.get(Job, job_id)
            assert job is not None
            ranges = {int(t): (_parse(a), _parse(b)) for t, (a, b) in job.params["ranges"].items()}
            tags = list(
                s.scalars(
                    select(Tag).where(Tag.id.in_(list(ranges)), Tag.tenant_id == job.tenant_id)
                )
            )
            result = analyse(s, tags=tags, ranges=ranges, now=datetime.now(UTC), run=run)
            run.log(f"analysed {len(tags)} tag(s) in {time.perf_counter() - started:.2f} s")
            finish_or_stop(s, job_id=job_id, status="succeeded", result=result, logs=run.logs)
            audit.record(
                s, tenant_id=job.tenant_id, action="analysis.completed", subject_type="job",
                subject_id=job_id, details={**result, "tags": sorted(t.name for t in tags)},
            )  # fmt: skip


def analyse(
    session: Session,
    *,
    tags: list[Tag],
    ranges: dict[int, tuple[datetime, datetime]],
    now: datetime,
    run: JobRun | None = None,
) -> dict[str, Any]:
    """Gaps of each tag around its changed range, then quality of the complete local days.

    The tags' rows are locked first (in id order): two analyses of one tag at once would both
    see no gap and both insert it; the second now waits and then finds the first's gaps.
    """
    if tags:
        session.execute(select(Tag.id).where(Tag.id.in_(sorted(t.id for t in tags)))
                        .order_by(Tag.id).with_for_update())  # fmt: skip
    limits = thresholds()
    totals = {"detected": 0, "resolved": 0, "updated": 0, "days_scored": 0}
    facilities = {
        f.id: f
        for f in session.scalars(
            select(Facility).where(Facility.id.in_({t.facility_id for t in tags}))
        )
    }
    for tag in tags:
        start, end = ranges[tag.id]
        counts = analyse_gaps(session, tag=tag, start=start, end=end, now=now, limits=limits)
        for key, value in counts.items():
            totals[key] += value
        tz = facilities[tag.facility_id].timezone
        totals["days_scored"] += score_days(
            session, tag=tag, start=start, end=end, tz=tz, now=now, limits=limits
        )
    if run is not None:
        run.log(
            f"gaps: {totals['detected']} new, {totals['resolved']} resolved, "
            f"{totals['updated']} updated; {totals['days_scored']} tag-days scored"
        )
    return totals


def analyse_gaps(
    session: Session,
    *,
    tag: Tag,
    start: datetime,
    end: datetime,
    now: datetime,
    limits: AlertThresholds,
) -> dict[str, int]:
    """Recompute the gaps between the usable points around [start, end] and store them.

    The analysis spans from the last usable point before ``start`` to the first usable point
    after ``end``; with nothing after, it runs to ``now`` so a trailing open gap shows that data
    stopped arriving.
    """
    before, after = usable_neighbours(session, tag=tag, start=start, end=end)
    lo = before or start
    hi = after or end
    points = load_points(session, tag_ids=[tag.id], start=lo, end=hi)
    rules = load_rules(session, tags=[tag])
    if after is None:
        first = _first_usable(points, rules)
        if first is None:
            return {"detected": 0, "resolved": 0, "updated": 0}
        # Points stamped in the future (a clock ahead of ours) end the window themselves.
        latest = points["ts"].max().to_pydatetime() + timedelta(microseconds=1)
        until = max(now, latest)
        gaps = find_gaps(points, rules, start=pd.Timestamp(first), end=pd.Timestamp(until))
        span = (lo, until)
    else:
        gaps = find_gaps(points, rules)
        span = (lo, hi)
    return reconcile_gaps(
        session, tag=tag, computed=gaps[gaps["tag"] == tag.id], span=span, thresholds=limits
    )


def _first_usable(points: pd.DataFrame, rules: pd.DataFrame) -> datetime | None:
    from pipelines.timeseries import prepare, to_timestamps

    series = prepare(points, rules)
    usable = series.ts[series.usable]
    return to_timestamps(usable[:1])[0].to_pydatetime() if len(usable) else None


def score_days(
    session: Session,
    *,
    tag: Tag,
    start: datetime,
    end: datetime,
    tz: str,
    now: datetime,
    limits: AlertThresholds,
) -> int:
    """Score the facility-local days that [start, end] touches and that have ended."""
    zone = ZoneInfo(tz)
    first_day = start.astimezone(zone).date()
    before = pd.Timestamp(first_day - timedelta(days=1), tz=zone).tz_convert("UTC")
    scored_before = session.scalar(
        select(QualityScore.id).where(
            QualityScore.tag_id == tag.id, QualityScore.period_start == before.to_pydatetime()
        )
    )
    if scored_before is not None:  # new data can extend a run that ended that day: rescore it
        first_day -= timedelta(days=1)
    last_day = min(end.astimezone(zone).date(), (now.astimezone(zone) - timedelta(days=1)).date())
    if last_day < first_day:
        return 0
    day_start = pd.Timestamp(first_day, tz=zone).tz_convert("UTC")
    day_end = pd.Timestamp(last_day + timedelta(days=1), tz=zone).tz_convert("UTC")
    rules = load_rules(session, tags=[tag])
    # Neighbouring points give runs and spikes at a day's edge their real context (a flat run
    # from 22:00 to 01:00 is one run); only the days themselves are counted.
    context = timedelta(days=1, seconds=float(rules["flatline_min_s"].fillna(0).iloc[0]))
    points = load_points(
        session,
        tag_ids=[tag.id],
        start=day_start.to_pydatetime() - context,
        end=day_end.to_pydatetime() + context,
    )
    if points.empty and pd.isna(rules["interval_s"].iloc[0]):
        return 0  # nothing to measure against
    rows = score_quality(points, rules, start=day_start, end=day_end, freq="1D", tz=tz)
    rows = rows[rows["tag"] == tag.id]
    return save_quality(session, tag=tag, rows=rows, tz=tz, thresholds=limits)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- scheduled ---------------------------------------------------------------------------------

STALE_SCAN_SECONDS = 300
NIGHTLY_SECONDS = 3600
CLEANUP_SECONDS = 86400


@app.task(name=kinds.SCAN_STALE, ignore_result=True)
def scan_stale() -> int:
    """Grow or open the trailing gap of every tag whose data stopped arriving."""
    with once_per_period("analysis.scan_stale", seconds=STALE_SCAN_SECONDS) as go:
        if not go:
            return 0
        now = datetime.now(UTC)
        limits = thresholds()
        opened = 0
        with session_scope() as s:
            for tag in tags_with_points(s):
                last = last_usable(s, tag=tag)
                interval = tag.expected_interval_s
                if last is None or not interval:
                    continue
                if (now - last).total_seconds() <= 1.5 * interval:
                    continue
                minutes = (now - last).total_seconds() / 60
                gap = pd.DataFrame(
                    {
                        "tag": [tag.id],
                        "gap_start": [pd.Timestamp(last)],
                        "gap_end": [pd.Timestamp(now)],
                        "duration_minutes": [minutes],
                        "missing_points": [
                            max(0, round((now - last).total_seconds() / interval) - 1)
                        ],
                        "open": [True],
                    }
                )
                counts = reconcile_gaps(
                    s, tag=tag, computed=gap, span=(last, last), thresholds=limits
                )
                opened += counts["detected"]
        return opened


@app.task(name=kinds.NIGHTLY_QUALITY, ignore_result=True)
def nightly_quality() -> int:
    """Score the previous local day of every facility (idempotent; runs hourly)."""
    with once_per_period("analysis.nightly_quality", seconds=NIGHTLY_SECONDS) as go:
        if not go:
            return 0
        now = datetime.now(UTC)
        limits = thresholds()
        scored = 0
        with session_scope() as s:
            for facility in s.scalars(select(Facility)):
                zone = ZoneInfo(facility.timezone)
                yesterday = (now.astimezone(zone) - timedelta(days=1)).date()
                start = pd.Timestamp(yesterday, tz=zone).tz_convert("UTC").to_pydatetime()
                for tag in s.scalars(select(Tag).where(Tag.facility_id == facility.id)):
                    scored += score_days(
                        s,
                        tag=tag,
                        start=start,
                        end=start,
                        tz=facility.timezone,
                        now=now,
                        limits=limits,
                    )
        return scored


@app.task(name=kinds.CLEANUP, ignore_result=True)
def cleanup() -> dict[str, int]:
    """Delete rejected-row details and events older than the retention period, and expired
    idempotency keys (kept 24 h)."""
    with once_per_period("jobs.cleanup", seconds=CLEANUP_SECONDS) as go:
        if not go:
            return {}
        cutoff = datetime.now(UTC) - timedelta(days=get_settings().retention_days)
        with session_scope() as s:
            old_jobs = select(Job.id).where(Job.finished_at < cutoff)
            rows = s.execute(delete(RejectedRow).where(RejectedRow.job_id.in_(old_jobs)))
            events = s.execute(delete(Event).where(Event.created_at < cutoff))
            keys = idempotency.delete_expired(s)
            return {
                "rejected_rows": rows.rowcount or 0,
                "events": events.rowcount or 0,
                "idempotency_keys": keys,
            }
