"""Celery beat schedule as data: task names and when they run, nothing else.

Every scheduled task also takes a Redis key per period (worker.locks.once_per_period), so a
second beat started by mistake makes no difference; webhook delivery instead leases its
messages in the database, so any number of sweeps may run at once.
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Re-send jobs whose enqueue after commit never reached the broker (broker down at the time).
    "requeue-stale-jobs": {"task": "jobs.requeue_stale", "schedule": 30.0},
    # Open or grow the trailing gap of tags whose data stopped arriving.
    "scan-stale-tags": {"task": "analysis.scan_stale", "schedule": 300.0},
    # Score the previous local day of every facility; hourly, so each time zone's midnight is
    # covered within the hour.
    "nightly-quality": {"task": "analysis.nightly_quality", "schedule": crontab(minute=15)},
    # Send due webhook messages (new events, and retries whose next_attempt_at has come).
    "deliver-webhooks": {"task": "webhooks.deliver", "schedule": 5.0},
    # LCFS reports: the quarter that just closed (once) and a weekly draft of the current one,
    # by each facility's local calendar; hourly so every time zone is covered.
    "lcfs-reports": {"task": "reports.schedule_quarterly", "schedule": crontab(minute=45)},
    # PostgreSQL: the monthly partitions of data_point for this month and the next ones, so
    # ingests never have to create them.
    "create-partitions": {
        "task": "points.create_partitions",
        "schedule": crontab(hour=2, minute=10),
    },
    # Retention by archival (TICKWORK_POINTS_ARCHIVE_AFTER_MONTHS): old months to Parquet files.
    "archive-points": {"task": "points.archive_old", "schedule": crontab(hour=2, minute=40)},
    # Retention: old rejected-row details and events.
    "cleanup": {"task": "jobs.cleanup", "schedule": crontab(hour=3, minute=30)},
}
