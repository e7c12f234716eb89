"""Every task by name, and the queue each runs on: the one place a task name is spelled.

A job's ``kind`` is its task's name, so the API enqueues work by these names without importing
the task modules (``worker.dispatch``), and beat's schedule (``schedules/beat.py``) names them
too. A task's queue is the domain before the dot when that names a queue, else ``analysis``:
workers can be split by queue (docs/operations.md, "Scaling out").
"""

from __future__ import annotations

QUEUES = ("ingest", "analysis", "reports", "documents", "webhooks")

# Jobs: work a request or another task hands over, tracked in the job table.
INGEST = "ingest.process_upload"
ANALYSE = "analysis.analyse_ingest"
BUILD_REPORT = "reports.build_lcfs"
PROCESS_DOCUMENT = "documents.process"

# Scheduled by beat (schedules/beat.py).
REQUEUE_STALE = "jobs.requeue_stale"
CLEANUP = "jobs.cleanup"
SCAN_STALE = "analysis.scan_stale"
NIGHTLY_QUALITY = "analysis.nightly_quality"
DELIVER_WEBHOOKS = "webhooks.deliver"
SCHEDULE_REPORTS = "reports.schedule_quarterly"
CREATE_PARTITIONS = "points.create_partitions"
ARCHIVE_POINTS = "points.archive_old"


def route_for(task_name: str) -> str:
    """Queue of a task: the domain before the dot when it names a queue, else ``analysis``."""
    domain = task_name.split(".", 1)[0]
    return domain if domain in QUEUES else "analysis"
