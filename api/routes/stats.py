"""Usage statistics of the calling tenant for a calendar month."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import CallerDep, ReadSession
from api.errors import ApiError
from api.schemas.stats import StatsOut
from worker.storage.stats import load_usage, month_bounds

router = APIRouter(tags=["stats"])

PERIOD = re.compile(r"(\d{4})-(\d{2})")


def utc_now() -> datetime:
    """The current time, as a dependency: what "the current month" means can be fixed in a test
    (``app.dependency_overrides``) instead of depending on the calendar."""
    return datetime.now(UTC)


@router.get("/stats")
def read_stats(
    period: Annotated[
        str | None,
        Query(description="Calendar month, UTC, as YYYY-MM (default: the current month)"),
    ] = None,
    *,
    who: CallerDep,
    session: ReadSession,
    now: datetime = Depends(utc_now),
) -> StatsOut:
    """The tenant's usage in one calendar month (UTC): points ingested, ingest jobs, reports
    built, documents processed and webhook deliveries, in total and per facility.

    Work counts in the month it was submitted. Points ingested are the points stored (new or
    changed) by succeeded ingest jobs; what names no single facility is under ``unattributed``,
    so ``totals`` is the sum of ``by_facility`` and ``unattributed``. ``period.end`` is the last
    second of the month.
    """
    start, end = month_bounds(*_month(period, now))
    usage = load_usage(session, tenant_id=who.tenant_id, start=start, end=end)
    return StatsOut.of(usage, tenant_id=who.tenant_id)


def _month(period: str | None, now: datetime) -> tuple[int, int]:
    if period is None:
        return now.year, now.month
    match = PERIOD.fullmatch(period.strip())
    year, month = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not (1970 <= year <= 9998 and 1 <= month <= 12):
        raise ApiError(
            400,
            "invalid_parameter",
            "period must be a calendar month as YYYY-MM, e.g. 2026-11",
            field="period",
        )
    return year, month
