"""Analysis: gaps, daily quality and alerts, after each ingest and on schedules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from celery import Task
from sqlalchemy.orm import Session

from pipelines.gaps import find_gaps, find_stale_gaps, trailing_window
from pipelines.quality import (
    AlertThresholds,
    days_to_score,
    last_ended_day,
    local_midnight,
    score_quality,
)
from worker import kinds
from worker.celery_app import app
from worker.locks import once_per_period
from worker.settings import get_settings
from worker.storage import audit
from worker.storage.analysis import (
    facility_timezones,
    is_scored,
    last_usable_times,
    load_points,
    load_rules,
    lock_tags,
    reconcile_gaps,
    reconcile_stale_gaps,
    save_quality,
    tags_by_facility,
    tags_of,
    tags_with_points,
    usable_neighbours,
)
from worker.storage.archives import require_live
from worker.storage.db import session_scope
from worker.storage.models import Tag
from worker.tasks.base import RETRY_OPTIONS, JobRun, finish_or_stop, job_attempt

EARLIEST = datetime(1, 1, 1, tzinfo=UTC)


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
        tenant_id, params = run.job.tenant_id, run.job.params
        ranges = {int(t): (_parse(a), _parse(b)) for t, (a, b) in params["ranges"].items()}
        with session_scope() as s:
            tags = tags_of(s, tenant_id=tenant_id, tag_ids=list(ranges))
            result = analyse(s, tags=tags, ranges=ranges, now=datetime.now(UTC), run=run)
            run.log(f"analysed {len(tags)} tag(s) in {time.perf_counter() - started:.2f} s")
            finish_or_stop(s, run, status="succeeded", result=result)
            audit.record(
                s,
                tenant_id=tenant_id,
                action="analysis.completed",
                subject_type="job",
                subject_id=job_id,
                details={**result, "tags": sorted(t.name for t in tags)},
            )


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
    lock_tags(session, tag_ids=[t.id for t in tags])
    limits = thresholds()
    totals = {"detected": 0, "resolved": 0, "updated": 0, "days_scored": 0}
    zones = facility_timezones(session, facility_ids={t.facility_id for t in tags})
    for tag in tags:
        start, end = ranges[tag.id]
        counts = analyse_gaps(session, tag=tag, start=start, end=end, now=now, limits=limits)
        for key, value in counts.items():
            totals[key] += value
        totals["days_scored"] += score_days(
            session,
            tag=tag,
            start=start,
            end=end,
            tz=zones[tag.facility_id],
            now=now,
            limits=limits,
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
    # A month between the neighbours moved to an archive file would look like one long gap;
    # with no point before, the last one may be in an archive.
    require_live(
        session,
        tag_ids=[tag.id],
        start=before or EARLIEST,
        end=hi,
        what=f"the gap analysis of tag {tag.name!r}",
    )
    points = load_points(session, tag_ids=[tag.id], start=lo, end=hi)
    rules = load_rules(session, tags=[tag])
    if after is None:
        window = trailing_window(points, rules, now=pd.Timestamp(now))
        if window is None:
            return {"detected": 0, "resolved": 0, "updated": 0}
        gaps = find_gaps(points, rules, start=window[0], end=window[1])
        span = (lo, window[1].to_pydatetime())
    else:
        gaps = find_gaps(points, rules)
        span = (lo, hi)
    return reconcile_gaps(
        session, tag=tag, computed=gaps[gaps["tag"] == tag.id], span=span, thresholds=limits
    )


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
    first_day, last_day = days_to_score(start, end, tz=tz, now=now)
    before = local_midnight(first_day - timedelta(days=1), tz)
    if is_scored(session, tag_id=tag.id, period_start=before.to_pydatetime()):
        first_day -= timedelta(days=1)  # new data can extend a run that ended that day: rescore it
    if last_day < first_day:
        return 0
    day_start = local_midnight(first_day, tz)
    day_end = local_midnight(last_day + timedelta(days=1), tz)
    rules = load_rules(session, tags=[tag])
    # Neighbouring points give runs and spikes at a day's edge their real context (a flat run
    # from 22:00 to 01:00 is one run); only the days themselves are counted.
    context = timedelta(days=1, seconds=float(rules["flatline_min_s"].fillna(0).iloc[0]))
    require_live(
        session,
        tag_ids=[tag.id],
        start=day_start.to_pydatetime(),
        end=day_end.to_pydatetime(),
        what=f"the daily quality of tag {tag.name!r}",
    )
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


@app.task(name=kinds.SCAN_STALE, ignore_result=True)
def scan_stale() -> int:
    """Grow or open the trailing gap of every tag whose data stopped arriving."""
    with once_per_period("analysis.scan_stale", seconds=STALE_SCAN_SECONDS) as go:
        if not go:
            return 0
        now = datetime.now(UTC)
        with session_scope() as s:
            tags = tags_with_points(s)
            gaps = find_stale_gaps(last_usable_times(s, tags=tags), now=pd.Timestamp(now))
            return reconcile_stale_gaps(s, tags=tags, gaps=gaps, thresholds=thresholds())


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
            for tz, tags in tags_by_facility(s):
                start = local_midnight(last_ended_day(now, tz), tz).to_pydatetime()
                for tag in tags:
                    scored += score_days(
                        s, tag=tag, start=start, end=start, tz=tz, now=now, limits=limits
                    )
        return scored
