"""Which running jobs `jobs.requeue_stale` takes for orphaned, by their heartbeat, on both
databases: silent ones are, beating ones and ones waiting for a retry are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from celery.exceptions import Retry

from tests.conftest import make_tenant
from worker.storage.db import session_scope
from worker.storage.jobs import create_job, record_heartbeat, stale_orphaned, start_attempt
from worker.storage.models import Job
from worker.tasks.jobs import _retry_due

ORPHAN = timedelta(hours=1)  # the visibility-timeout rule, not under test here
SILENT = timedelta(seconds=45)


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def _running(db: str, *, beat_ago: timedelta | None) -> str:
    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        job_id = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload").id
    with session_scope(db) as s:
        start_attempt(s, job_id=job_id, worker="w")
    with session_scope(db) as s:
        job = s.get(Job, job_id)
        job.heartbeat_at = None if beat_ago is None else datetime.now(UTC) - beat_ago
    return job_id


def _orphaned(db: str) -> set[str]:
    with session_scope(db) as s:
        return {j.id for j in stale_orphaned(s, older_than=ORPHAN, silent_for=SILENT)}


def test_a_silent_running_job_is_orphaned_and_a_beating_one_is_not(db: str) -> None:
    silent = _running(db, beat_ago=timedelta(seconds=60))
    beating = _running(db, beat_ago=timedelta(seconds=5))
    assert _orphaned(db) == {silent} and beating not in _orphaned(db)
    with session_scope(db) as s:
        record_heartbeat(s, job_id=silent)  # its worker speaks again
    assert _orphaned(db) == set()


def test_start_attempt_counts_as_a_heartbeat(db: str) -> None:
    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        job_id = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload").id
    with session_scope(db) as s:
        start_attempt(s, job_id=job_id, worker="w")
    with session_scope(db) as s:
        assert s.get(Job, job_id).heartbeat_at is not None
    assert _orphaned(db) == set()


def test_a_job_waiting_for_its_retry_is_not_taken_for_dead_until_it_is_overdue(db: str) -> None:
    job_id = _running(db, beat_ago=timedelta(seconds=60))
    _retry_due(request=SimpleNamespace(id=job_id), reason=Retry(when=120))
    assert _orphaned(db) == set()  # due in 2 minutes
    with session_scope(db) as s:
        s.get(Job, job_id).heartbeat_at = datetime.now(UTC) - timedelta(seconds=60)
    assert _orphaned(db) == {job_id}  # the retry never came


def test_heartbeats_do_not_touch_a_finished_job(db: str) -> None:
    job_id = _running(db, beat_ago=timedelta(seconds=60))
    with session_scope(db) as s:
        s.get(Job, job_id).status = "succeeded"
    with session_scope(db) as s:
        record_heartbeat(s, job_id=job_id)
    with session_scope(db) as s:
        assert s.get(Job, job_id).heartbeat_at < datetime.now(UTC) - timedelta(seconds=30)
