"""The beat schedule names real tasks, and each scheduled job runs once per period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import func, select, update

from schedules.beat import BEAT_SCHEDULE
from tests.factories import ingest_rows, make_tenant, minute_rows, setup_facility
from worker.storage.db import session_scope
from worker.storage.idempotency import claim
from worker.storage.jobs import create_job, finish_job
from worker.storage.models import Event, IdempotencyKey, Job, QualityScore, RejectedRow


def test_every_scheduled_task_is_registered() -> None:
    from worker.celery_app import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert names == {
        "jobs.requeue_stale",
        "analysis.scan_stale",
        "analysis.nightly_quality",
        "jobs.cleanup",
        "webhooks.deliver",
        "reports.schedule_quarterly",
        "points.create_partitions",
        "points.archive_old",
    }
    assert names <= set(app.tasks)


@pytest.fixture
def scheduled(pg_db: str, redis_url: str, configure) -> str:
    configure(
        TICKWORK_DATABASE_URL=pg_db, TICKWORK_REDIS_URL=redis_url, TICKWORK_BROKER_URL=redis_url
    )
    return pg_db


def test_nightly_quality_scores_yesterday_once_per_period(scheduled: str, redis_url: str) -> None:
    from worker.tasks.analysis import nightly_quality

    tenant_id, fac = setup_facility(scheduled)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ingest_rows(
        scheduled,
        tenant_id,
        fac,
        minute_rows(today - timedelta(days=1), 1440),
        now=today + timedelta(minutes=1),
    )  # ingest already scored it; rescoring is harmless
    with session_scope(scheduled) as s:
        s.execute(QualityScore.__table__.delete())
    assert nightly_quality() == 1
    assert nightly_quality() == 0  # a second beat in the same hour
    with session_scope(scheduled) as s:
        [score] = s.scalars(select(QualityScore))
        assert (score.day, score.metrics["completeness"]) == (
            (today - timedelta(days=1)).date().isoformat(),
            1.0,
        )
    redis.Redis.from_url(redis_url).flushdb()  # the next hour: same day, same row
    assert nightly_quality() == 1
    with session_scope(scheduled) as s:
        assert s.scalar(select(func.count()).select_from(QualityScore)) == 1


def test_cleanup_deletes_only_old_details(scheduled: str) -> None:
    from worker.tasks.jobs import cleanup

    tenant = make_tenant(scheduled, "T")
    with session_scope(scheduled) as s:
        old = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload")
        new = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload")
        for job in (old, new):
            finish_job(s, job_id=job.id, status="succeeded", result={})
            s.add(RejectedRow(tenant_id=tenant.id, job_id=job.id, row_number=2, reason="x"))
        s.flush()
        s.get(Job, old.id).finished_at = datetime.now(UTC) - timedelta(days=400)
    with session_scope(scheduled) as s:
        claim(s, tenant_id=tenant.id, key="old-key", request_hash="f" * 64)
        s.flush()
        s.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert cleanup() == {"rejected_rows": 1, "events": 0, "idempotency_keys": 1}
    assert cleanup() == {}  # once per day
    with session_scope(scheduled) as s:
        assert [r.job_id for r in s.scalars(select(RejectedRow))] == [new.id]
        assert s.scalar(select(func.count()).select_from(Event)) == 0
