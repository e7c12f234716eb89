"""Celery beat schedule as data: task names and when they run, nothing else."""

BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Re-send jobs whose enqueue after commit never reached the broker (broker down at the time).
    "requeue-stale-jobs": {"task": "jobs.requeue_stale", "schedule": 30.0},
}
