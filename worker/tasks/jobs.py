"""Housekeeping for the job table: re-sending jobs whose message was lost or whose worker is
gone, the heartbeat by which a running job shows its worker is alive, and the retention sweep."""

from __future__ import annotations

import logging
import numbers
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun, task_received, task_retry, worker_ready
from celery.worker import state as worker_state
from sqlalchemy.orm import Session

from worker import kinds
from worker.broker import broker_url, unacked_task_ids
from worker.celery_app import app
from worker.dispatch import dispatch
from worker.locks import beat_lock, once_per_period
from worker.settings import Settings, get_settings
from worker.storage import idempotency
from worker.storage.db import session_scope
from worker.storage.events import delete_events
from worker.storage.jobs import (
    log_line,
    record_heartbeat,
    record_held,
    stale_held,
    stale_orphaned,
    stale_unsent,
)
from worker.storage.models import Job
from worker.storage.points import delete_rejected_rows

log = logging.getLogger(__name__)


@app.task(name=kinds.REQUEUE_STALE, ignore_result=True)
def requeue_stale() -> int:
    """Publish jobs committed but never handed to the broker, and re-send jobs whose message is
    gone or whose worker stopped answering; returns how many were sent."""
    settings = get_settings()
    with beat_lock(kinds.REQUEUE_STALE, ttl_seconds=60) as held:
        if not held:
            return 0
        with session_scope() as s:
            unsent = stale_unsent(s, older_than=timedelta(seconds=settings.stale_job_seconds))
            jobs = [(j.id, j.kind) for j in unsent]
            for j, why in _orphans(s, settings):
                log.warning("job %s is %s, but %s; sending it again", j.id, j.status, why)
                # Back in the queue: the copy sent now is the one expected to run it; the
                # first to finish records the result, any other copy finds the job finished.
                j.status = "queued"
                j.enqueued_at = None  # a fresh publish stamps it again
                j.started_at = None  # the next attempt's start: one re-send per time-out
                j.heartbeat_at = None
                j.logs = [*j.logs, log_line(f"sent again: {why}", "warning")]
                jobs.append((j.id, j.kind))
        return sum(dispatch(job_id, kind) for job_id, kind in jobs)


def _orphans(s: Session, settings: Settings) -> Iterator[tuple[Job, str]]:
    """Jobs no worker will finish unless sent again, each with the reason."""
    orphan_age = timedelta(seconds=settings.visibility_timeout + settings.stale_job_seconds)
    silent_for = timedelta(seconds=settings.job_silent_seconds)
    silent_since = datetime.now(UTC) - silent_for
    for j in stale_orphaned(s, older_than=orphan_age, silent_for=silent_for):
        if j.status == "queued" and j.heartbeat_at is not None:
            yield j, "the worker holding its message went silent before starting it"
        elif j.status == "queued":
            yield j, "its message is no longer in the broker"
        elif j.heartbeat_at is not None and j.heartbeat_at < silent_since:
            yield j, f"no sign of life from its worker for {settings.job_silent_seconds} s"
        else:
            yield j, "its message was acknowledged without a result"
    try:
        taken = unacked_task_ids(broker_url(settings))
    except redis.RedisError as exc:  # the broker briefly unreachable: look again next time
        log.debug("unacknowledged messages not read: %s", exc)
        taken = None
    for j in stale_held(s, held=taken or set(), older_than=silent_for):
        yield j, "a worker took its message and stopped before starting it"


# --- heartbeat ------------------------------------------------------------------------------
# While a job's task runs, a thread of its pool process records a heartbeat in the job row every
# TICKWORK_JOB_HEARTBEAT_SECONDS. Killed with its worker, the job falls silent, and
# `jobs.requeue_stale` sends it again after TICKWORK_JOB_SILENT_SECONDS instead of waiting for
# the broker's visibility timeout (an hour by default on Redis).

_beating: dict[str, threading.Event] = {}


def _is_job(task_id: str | None) -> bool:
    return bool(task_id) and str(task_id).startswith("job_")  # job ids are the task ids


def _beat(job_id: str, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        try:
            with session_scope() as s:
                record_heartbeat(s, job_id=job_id)
        except Exception as exc:  # e.g. the database briefly unreachable: beat again later
            log.debug("job %s: heartbeat not recorded: %s", job_id, exc)


@task_prerun.connect
def _start_heartbeat(task_id: str | None = None, **_: Any) -> None:
    if not _is_job(task_id):
        return
    assert task_id is not None
    stop = threading.Event()
    previous = _beating.pop(task_id, None)
    if previous is not None:
        previous.set()
    _beating[task_id] = stop
    every = float(get_settings().job_heartbeat_seconds)
    threading.Thread(
        target=_beat, args=(task_id, stop, every), name=f"heartbeat-{task_id}", daemon=True
    ).start()


@task_postrun.connect
def _stop_heartbeat(task_id: str | None = None, **_: Any) -> None:
    stop = _beating.pop(task_id or "", None)
    if stop is not None:
        stop.set()


@task_retry.connect
def _retry_due(request: Any = None, reason: Any = None, **_: Any) -> None:
    """A job waiting for its retry runs nowhere: its heartbeat becomes the time the retry is due,
    so it is not taken for dead meanwhile (and is, if the retry never comes)."""
    job_id = getattr(request, "id", None)
    when = getattr(reason, "when", None)
    if not _is_job(job_id):
        return
    if isinstance(when, numbers.Real):
        due = datetime.now(UTC) + timedelta(seconds=float(when))
    elif isinstance(when, datetime):
        due = when if when.tzinfo else when.replace(tzinfo=UTC)
    else:
        return
    try:
        with session_scope() as s:
            record_heartbeat(s, job_id=job_id, at=due)
    except Exception as exc:  # the database may be the reason for the retry
        log.debug("job %s: retry time not recorded: %s", job_id, exc)


# --- messages held but not started ---------------------------------------------------------
# A worker takes messages from the broker a little before a pool process starts them. Killed in
# that moment, it leaves a job "queued" whose message only the visibility timeout would bring
# back. So the worker's main process also vouches for the jobs whose messages it holds: each
# one as it is received, and all of them every heartbeat interval (one UPDATE, from a thread, so
# the consumer never waits on the database). Messages held for a retry countdown are left out:
# their heartbeat is the time the retry is due (above).

_received: queue.SimpleQueue[str] = queue.SimpleQueue()
_wake = threading.Event()


@task_received.connect
def _note_received(request: Any = None, **_: Any) -> None:
    job_id = getattr(request, "id", None)
    if _is_job(job_id) and getattr(request, "eta", None) is None:
        _received.put(job_id)
        _wake.set()


def _held_job_ids() -> set[str]:
    ids: set[str] = set()
    while True:
        try:
            ids.add(_received.get_nowait())
        except queue.Empty:
            break
    try:
        reserved = list(worker_state.reserved_requests)
    except RuntimeError:  # changed by the consumer while copied: the next round has it
        reserved = []
    ids.update(r.id for r in reserved if _is_job(r.id))
    return ids


def _vouch_for_held(every: float) -> None:
    while True:
        _wake.wait(every)
        _wake.clear()
        ids = _held_job_ids()
        if not ids:
            continue
        try:
            with session_scope() as s:
                record_held(s, job_ids=sorted(ids))
        except Exception as exc:  # the database briefly unreachable: vouch again later
            log.debug("held jobs not recorded: %s", exc)


@worker_ready.connect
def _start_vouching(**_: Any) -> None:
    every = float(get_settings().job_heartbeat_seconds)
    threading.Thread(
        target=_vouch_for_held, args=(every,), name="heartbeat-held", daemon=True
    ).start()


# --- retention -------------------------------------------------------------------------------

CLEANUP_SECONDS = 86400


@app.task(name=kinds.CLEANUP, ignore_result=True)
def cleanup() -> dict[str, int]:
    """Delete rejected-row details and events older than the retention period, and expired
    idempotency keys (kept 24 h)."""
    with once_per_period("jobs.cleanup", seconds=CLEANUP_SECONDS) as go:
        if not go:
            return {}
        cutoff = datetime.now(UTC) - timedelta(days=get_settings().retention_days)
        with session_scope() as s:
            return {
                "rejected_rows": delete_rejected_rows(s, finished_before=cutoff),
                "events": delete_events(s, before=cutoff),
                "idempotency_keys": idempotency.delete_expired(s),
            }
