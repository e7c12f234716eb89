"""Which jobs `jobs.requeue_stale` takes for orphaned, by their heartbeat, on both databases:
silent running ones are, beating ones and ones waiting for a retry are not; a queued job whose
message a worker took is, once that worker falls silent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from celery.exceptions import Retry
from kombu import Connection

from tests.factories import make_tenant
from worker.broker import unacked_task_ids
from worker.storage.db import session_scope
from worker.storage.jobs import (
    create_job,
    record_heartbeat,
    record_held,
    stale_held,
    stale_orphaned,
    start_attempt,
)
from worker.storage.models import Job
from worker.tasks.jobs import _held_job_ids, _note_received, _retry_due

ORPHAN = timedelta(hours=1)  # the visibility-timeout rule, not under test here
SILENT = timedelta(seconds=45)


@pytest.fixture
def db(any_db: str, configure) -> str:
    configure(TICKWORK_DATABASE_URL=any_db)
    return any_db


def _started(db: str) -> str:
    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        job_id = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload").id
    with session_scope(db) as s:
        start_attempt(s, job_id=job_id, worker="w")
    return job_id


def _running(db: str, *, beat_ago: timedelta | None) -> str:
    job_id = _started(db)
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
    job_id = _started(db)
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


def _queued(db: str) -> str:
    tenant = make_tenant(db, "T")
    with session_scope(db) as s:
        job = create_job(s, tenant_id=tenant.id, kind="ingest.process_upload")
        job.enqueued_at = datetime.now(UTC)
        return job.id


def test_a_queued_job_held_by_a_silent_worker_is_orphaned(db: str) -> None:
    never_taken, held, held_long_ago = _queued(db), _queued(db), _queued(db)
    with session_scope(db) as s:
        record_held(s, job_ids=[held, held_long_ago])
    assert _orphaned(db) == set()  # a message waiting in the broker is not touched, nor a held one
    with session_scope(db) as s:
        s.get(Job, held_long_ago).heartbeat_at = datetime.now(UTC) - timedelta(seconds=60)
    assert _orphaned(db) == {held_long_ago}
    assert never_taken not in _orphaned(db)


def test_record_held_leaves_running_and_finished_jobs_alone(db: str) -> None:
    running = _running(db, beat_ago=timedelta(seconds=60))
    with session_scope(db) as s:
        record_held(s, job_ids=[running])
    assert _orphaned(db) == {running}  # only its own heartbeat speaks for a running job


def test_received_jobs_are_vouched_for_but_not_retries_waiting_for_their_countdown() -> None:
    _held_job_ids()  # drain what earlier tests may have left
    _note_received(request=SimpleNamespace(id="job_now", eta=None))
    _note_received(request=SimpleNamespace(id="job_later", eta=datetime.now(UTC)))
    _note_received(request=SimpleNamespace(id="celery-task-id", eta=None))  # not a job
    assert _held_job_ids() == {"job_now"}
    assert _held_job_ids() == set()  # each received id is recorded once


def test_the_broker_names_the_messages_workers_hold_unacknowledged(redis_url: str) -> None:
    """kombu keeps a taken, unacknowledged message in Redis until it is acknowledged: a worker
    killed after taking a job's message leaves it there, and ``unacked_task_ids`` finds it."""
    from worker.celery_app import app

    with app.connection_for_write(redis_url) as conn:
        app.send_task(
            "ingest.process_upload",
            args=["job_taken"],
            task_id="job_taken",
            queue="ingest",
            connection=conn,
        )
    assert unacked_task_ids(redis_url) == set()  # waiting in its queue, taken by no one
    with Connection(redis_url) as conn:
        queue = conn.SimpleQueue("ingest")
        message = queue.get(timeout=5)  # taken, as a worker's consumer takes it, and not acked
        assert message.headers["id"] == "job_taken"
        assert unacked_task_ids(redis_url) == {"job_taken"}
        message.ack()
        assert unacked_task_ids(redis_url) == set()
        queue.close()
    assert unacked_task_ids("amqp://guest:guest@127.0.0.1:5672//") is None  # RabbitMQ requeues


def test_a_queued_job_taken_by_a_worker_that_never_vouched_is_orphaned(db: str) -> None:
    taken, taken_recently, vouched, waiting = (_queued(db) for _ in range(4))
    with session_scope(db) as s:
        for job_id in (taken, vouched, waiting):
            s.get(Job, job_id).enqueued_at = datetime.now(UTC) - timedelta(seconds=60)
    with session_scope(db) as s:
        record_held(s, job_ids=[vouched])  # a live worker holds it
    held = {taken, taken_recently, vouched}  # `waiting` is still in its queue
    with session_scope(db) as s:
        found = {j.id for j in stale_held(s, held=held, older_than=SILENT)}
    assert found == {taken}
    with session_scope(db) as s:
        assert stale_held(s, held=set(), older_than=SILENT) == []
