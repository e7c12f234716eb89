"""Housekeeping for the job table."""

from __future__ import annotations

from datetime import timedelta

from worker.celery_app import app
from worker.dispatch import dispatch
from worker.locks import beat_lock
from worker.settings import get_settings
from worker.storage.db import session_scope
from worker.storage.jobs import stale_unsent


@app.task(name="jobs.requeue_stale", ignore_result=True)
def requeue_stale() -> int:
    """Publish jobs committed but never handed to the broker; returns how many were sent."""
    settings = get_settings()
    with beat_lock("jobs.requeue_stale", ttl_seconds=60) as held:
        if not held:
            return 0
        with session_scope() as s:
            jobs = [
                (j.id, j.kind)
                for j in stale_unsent(s, older_than=timedelta(seconds=settings.stale_job_seconds))
            ]
        return sum(dispatch(job_id, kind) for job_id, kind in jobs)
