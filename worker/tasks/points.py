"""Scheduled upkeep of the data points: partitions ahead of time, and retention by archival."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from worker import kinds
from worker.celery_app import app
from worker.locks import once_per_period
from worker.settings import get_settings
from worker.storage import archives, partitions
from worker.storage.db import session_scope

log = logging.getLogger(__name__)

DAILY_SECONDS = 86400


@app.task(name=kinds.CREATE_PARTITIONS, ignore_result=True)
def create_partitions(now_iso: str | None = None) -> list[str]:
    """Create the partitions of this month and the next ``TICKWORK_POINTS_PARTITIONS_AHEAD``
    (PostgreSQL; nothing on SQLite); returns the names created."""
    with once_per_period(kinds.CREATE_PARTITIONS, seconds=DAILY_SECONDS) as go:
        if not go:
            return []
        now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
        with session_scope() as s:
            created = partitions.create_ahead(
                s, now=now, months=get_settings().points_partitions_ahead
            )
        if created:
            log.info("created data_point partitions %s", ", ".join(created))
        return created


@app.task(name=kinds.ARCHIVE_POINTS, ignore_result=True)
def archive_old(now_iso: str | None = None) -> list[str]:
    """Archive every whole month older than ``TICKWORK_POINTS_ARCHIVE_AFTER_MONTHS`` (unset:
    nothing), one month per transaction, oldest first; returns the months archived (an empty
    month's partition is dropped and not listed)."""
    settings = get_settings()
    if settings.points_archive_after_months is None:
        return []
    with once_per_period(kinds.ARCHIVE_POINTS, seconds=DAILY_SECONDS) as go:
        if not go:
            return []
        now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
        with session_scope() as s:
            due = archives.months_to_archive(
                s, now=now, after_months=settings.points_archive_after_months
            )
        done = []
        for month in due:
            with session_scope() as s:
                record = archives.archive_month(s, month=month, data_dir=settings.data_dir)
            if record is not None:
                log.info(
                    "archived %s: %d points in %s",
                    partitions.label(month),
                    record.rows,
                    record.path,
                )
                done.append(partitions.label(month))
        return done
