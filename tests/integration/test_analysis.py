"""Analysis persistence on both backends: gaps, events, alerts, quality, the stale-data scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from pipelines.ingest import parse_csv
from tests.factories import SEED_GAP, ingest_rows, minute_rows, setup_facility, wait_for
from worker.storage.db import get_engine, session_scope
from worker.storage.jobs import create_job
from worker.storage.models import Alert, Event, Gap, QualityScore, Tag
from worker.storage.points import store_parsed
from worker.tasks.analysis import analyse

T0 = datetime(2025, 1, 15, tzinfo=UTC)
NOW = datetime(2025, 2, 1, tzinfo=UTC)


def _events(db: str, kind: str | None = None) -> list[dict]:
    with session_scope(db) as s:
        query = select(Event).order_by(Event.created_at, Event.id)
        if kind:
            query = query.where(Event.type == kind)
        return [e.payload for e in s.scalars(query)]


def _gaps(db: str) -> list[tuple[str, str, str, float, int]]:
    with session_scope(db) as s:
        rows = s.scalars(select(Gap).order_by(Gap.gap_start))
        return [
            (
                g.status,
                g.gap_start.isoformat(),
                g.gap_end.isoformat(),
                g.duration_minutes,
                g.missing_points,
            )
            for g in rows
        ]


def test_seed_gap_is_detected_once(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    noon = T0 + timedelta(hours=12)
    rows = minute_rows(noon - timedelta(minutes=10), 11) + minute_rows(
        noon + timedelta(minutes=150), 11
    )
    counts = ingest_rows(any_db, tenant_id, fac, rows, now=noon + timedelta(minutes=161))
    assert counts["detected"] == 1
    assert _gaps(any_db) == [
        ("closed", "2025-01-15T12:00:00+00:00", "2025-01-15T14:30:00+00:00", 150.0, 149)
    ]
    detected = _events(any_db, "data_gap.detected")
    assert [e["data"] | {"gap_id": None} for e in detected] == [
        {"gap_id": None, "facility_id": fac, **SEED_GAP}
    ]
    # The same analysis again changes nothing and emits nothing.
    before = _events(any_db)
    again = ingest_rows(any_db, tenant_id, fac, rows, now=noon + timedelta(minutes=161))
    assert again["detected"] == again["resolved"] == 0
    assert _events(any_db) == before


def test_late_data_resolves_the_gap(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    first = minute_rows(T0, 60) + minute_rows(T0 + timedelta(hours=3), 60)
    ingest_rows(any_db, tenant_id, fac, first, now=T0 + timedelta(hours=4))
    assert [g[0] for g in _gaps(any_db)] == ["closed"]
    late = minute_rows(T0 + timedelta(minutes=60), 120)  # fills 01:00-02:59
    counts = ingest_rows(any_db, tenant_id, fac, late, now=T0 + timedelta(hours=4))
    assert counts["resolved"] == 1 and counts["detected"] == 0
    assert [g[0] for g in _gaps(any_db)] == ["resolved"]
    resolved = _events(any_db, "data_gap.resolved")
    assert len(resolved) == 1 and resolved[0]["data"]["gap_start"] == "2025-01-15T00:59:00Z"
    before = _events(any_db)
    ingest_rows(any_db, tenant_id, fac, late, now=T0 + timedelta(hours=4))
    assert _events(any_db) == before


def test_partly_filled_gap_leaves_the_rest(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    ingest_rows(
        any_db,
        tenant_id,
        fac,
        minute_rows(T0, 10) + minute_rows(T0 + timedelta(minutes=100), 10),
        now=T0 + timedelta(minutes=110),
    )
    ingest_rows(
        any_db,
        tenant_id,
        fac,
        minute_rows(T0 + timedelta(minutes=50), 5),
        now=T0 + timedelta(minutes=110),
    )
    assert _gaps(any_db) == [  # the first keeps its identity (same start) and shrinks
        ("closed", "2025-01-15T00:09:00+00:00", "2025-01-15T00:50:00+00:00", 41.0, 40),
        ("closed", "2025-01-15T00:54:00+00:00", "2025-01-15T01:40:00+00:00", 46.0, 45),
    ]
    assert len(_events(any_db, "data_gap.detected")) == 2
    assert _events(any_db, "data_gap.resolved") == []


def test_data_that_stopped_opens_a_trailing_gap(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    ingest_rows(any_db, tenant_id, fac, minute_rows(T0, 30), now=T0 + timedelta(hours=2))
    gaps = _gaps(any_db)
    assert gaps == [("open", "2025-01-15T00:29:00+00:00", "2025-01-15T02:00:00+00:00", 91.0, 90)]
    # Data resumes: the open gap closes in place, no new detection.
    ingest_rows(
        any_db,
        tenant_id,
        fac,
        minute_rows(T0 + timedelta(hours=3), 10),
        now=T0 + timedelta(hours=3, minutes=10),
    )
    assert _gaps(any_db)[0][:3] == (
        "closed",
        "2025-01-15T00:29:00+00:00",
        "2025-01-15T03:00:00+00:00",
    )
    assert len(_events(any_db, "data_gap.detected")) == 1


def test_alerts_fire_once(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    day = T0
    rows = minute_rows(day, 600) + minute_rows(day + timedelta(hours=12), 720)  # 2 h missing
    ingest_rows(any_db, tenant_id, fac, rows, now=NOW)
    with session_scope(any_db) as s:
        alerts = sorted((a.rule, a.key) for a in s.scalars(select(Alert)))
    assert ("gap_too_long", "2025-01-15T09:59:00Z") in alerts
    assert ("low_completeness", "2025-01-15") in alerts
    triggered = _events(any_db, "alert.triggered")
    assert len(triggered) == len(alerts)
    ingest_rows(any_db, tenant_id, fac, rows, now=NOW)
    assert len(_events(any_db, "alert.triggered")) == len(alerts)


def test_quality_scores_complete_local_days(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db, tz="America/Los_Angeles")
    start = datetime(2025, 3, 8, 8, tzinfo=UTC)  # local midnight, the day before DST starts
    rows = minute_rows(start, 47 * 60)  # two local days: 24 h + 23 h
    ingest_rows(any_db, tenant_id, fac, rows, now=datetime(2025, 3, 10, 8, tzinfo=UTC))
    with session_scope(any_db) as s:
        scores = list(s.scalars(select(QualityScore).order_by(QualityScore.period_start)))
        got = [(q.day, q.metrics["expected_points"], q.metrics["completeness"]) for q in scores]
    assert got == [("2025-03-08", 1440, 1.0), ("2025-03-09", 1380, 1.0)]


def test_unfinished_day_is_not_scored(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    ingest_rows(any_db, tenant_id, fac, minute_rows(T0, 60), now=T0 + timedelta(hours=2))
    with session_scope(any_db) as s:
        assert s.scalar(select(func.count()).select_from(QualityScore)) == 0


@pytest.mark.redis
def test_stale_scan_opens_and_grows_one_gap(pg_db: str, redis_url: str, configure) -> None:
    configure(
        TICKWORK_DATABASE_URL=pg_db, TICKWORK_REDIS_URL=redis_url, TICKWORK_BROKER_URL=redis_url
    )
    from worker.tasks.analysis import scan_stale

    tenant_id, fac = setup_facility(pg_db)
    recent = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    ingest_rows(pg_db, tenant_id, fac, minute_rows(recent, 30), now=recent + timedelta(minutes=30))
    assert _gaps(pg_db) == []
    assert scan_stale() == 1
    assert scan_stale() == 0  # same period: the second beat does nothing
    [(status, start, _end, minutes, _)] = _gaps(pg_db)
    assert (status, start) == ("open", (recent + timedelta(minutes=29)).isoformat())
    assert minutes > 150
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # next period
    assert scan_stale() == 0  # grows the same gap, no second detection
    assert len(_events(pg_db, "data_gap.detected")) == 1


def test_points_from_the_future_do_not_break_the_analysis(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    counts = ingest_rows(any_db, tenant_id, fac, minute_rows(NOW + timedelta(days=1), 10), now=NOW)
    assert counts["detected"] == 0
    assert _gaps(any_db) == []


def test_flat_run_across_midnight_counts_on_both_days(any_db: str) -> None:
    tenant_id, fac = setup_facility(any_db)
    day = datetime(2025, 1, 15, tzinfo=UTC)
    rows = [(t, 1.0 + i * 0.01) for i, (t, _) in enumerate(minute_rows(day, 2 * 1440))]
    flat = {day + timedelta(hours=23, minutes=30) + timedelta(minutes=m) for m in range(90)}
    rows = [(t, 5.0 if t in flat else v) for t, v in rows]  # 23:30 to 00:59, one run of 89 min
    first, second = rows[:1440], rows[1440:]
    ingest_rows(any_db, tenant_id, fac, first, now=day + timedelta(days=1, minutes=1))
    ingest_rows(any_db, tenant_id, fac, second, now=NOW)  # the second day arrives later
    with session_scope(any_db) as s:
        scores = {q.day: q.metrics["flatline_minutes"] for q in s.scalars(select(QualityScore))}
    assert scores == {"2025-01-15": 30.0, "2025-01-16": 59.0}


@pytest.mark.postgres
def test_two_analyses_of_one_tag_at_once_record_each_gap_once(pg_db: str, configure) -> None:
    """Two analysis jobs for the same tag running at the same moment (two ingests in a row):
    the second waits for the first's commit instead of inserting the same gap again."""
    import threading

    configure(TICKWORK_DATABASE_URL=pg_db)
    tenant, fac = setup_facility(pg_db)
    rows = minute_rows(T0, 60) + minute_rows(T0 + timedelta(hours=3), 60)
    body = "".join(f"{fac},flow_rate,{t.isoformat()},{v}\n" for t, v in rows)
    parsed = parse_csv(("facility_id,tag,timestamp,value\n" + body).encode())
    with session_scope(pg_db) as s:
        job = create_job(s, tenant_id=tenant, kind="ingest.process_upload")
    with session_scope(pg_db) as s:
        store_parsed(s, job_id=job.id, tenant_id=tenant, upload_id=None, parsed=parsed)
        tag = s.scalars(select(Tag)).one()
        tag.expected_interval_s = 60.0
        tag_id = tag.id
    start, errors = threading.Barrier(2), []
    done = [threading.Event(), threading.Event()]

    def other_blocked_or_done(me: int) -> bool:
        """The other analysis has finished, or is waiting for a lock this one holds."""
        if done[1 - me].is_set():
            return True
        with get_engine(pg_db).connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        return waiting > 0

    def one(me: int) -> None:
        try:
            with session_scope(pg_db) as s:
                tags = list(s.scalars(select(Tag).where(Tag.id == tag_id)))
                start.wait()
                analyse(s, tags=tags, ranges={tag_id: (T0, rows[-1][0])}, now=NOW)
                # Hold the transaction open until the other one has run into it (or is done).
                wait_for(
                    lambda: other_blocked_or_done(me),
                    timeout=30,
                    what="the other analysis to wait for this one",
                    every=0.02,
                )
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            done[me].set()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    gaps = _gaps(pg_db)
    starts = [g[1] for g in gaps]
    assert starts and len(starts) == len(set(starts)), gaps
    assert len(_events(pg_db, "data_gap.detected")) == len(gaps)
