"""Housekeeping for the job table."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from worker.celery_app import app
from worker.dispatch import dispatch
from worker.locks import beat_lock
from worker.settings import get_settings
from worker.storage.db import session_scope
from worker.storage.jobs import stale_orphaned, stale_unsent

log = logging.getLogger(__name__)


@app.task(name="jobs.requeue_stale", ignore_result=True)
def requeue_stale() -> int:
    """Publish jobs committed but never handed to the broker; returns how many were sent."""
    settings = get_settings()
    with beat_lock("jobs.requeue_stale", ttl_seconds=60) as held:
        if not held:
            return 0
        orphan_age = timedelta(seconds=settings.visibility_timeout + settings.stale_job_seconds)
        with session_scope() as s:
            jobs = [
                (j.id, j.kind)
                for j in stale_unsent(s, older_than=timedelta(seconds=settings.stale_job_seconds))
            ]
            for j in stale_orphaned(s, older_than=orphan_age):
                log.warning("job %s is %s with no live message; sending it again", j.id, j.status)
                j.enqueued_at = None  # a fresh publish stamps it again
                if j.status == "running":
                    j.started_at = datetime.now(UTC)  # one re-send per visibility timeout
                jobs.append((j.id, j.kind))
        return sum(dispatch(job_id, kind) for job_id, kind in jobs)
