"""Usage statistics of the calling tenant for a calendar month."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import Caller, caller, read_session
from api.errors import ApiError
from worker.storage.events import iso
from worker.storage.stats import load_usage, month_bounds

router = APIRouter(tags=["stats"])

PERIOD = re.compile(r"(\d{4})-(\d{2})")


class Deliveries(BaseModel):
    succeeded: int
    failed: int


class UsageOut(BaseModel):
    points_ingested: int
    ingest_jobs: int
    reports_built: int
    documents_processed: int
    webhook_deliveries: Deliveries


class FacilityUsageOut(UsageOut):
    name: str | None


class PeriodOut(BaseModel):
    start: str
    end: str


class StatsOut(BaseModel):
    tenant_id: str
    period: PeriodOut
    totals: UsageOut
    by_facility: dict[str, FacilityUsageOut]
    unattributed: UsageOut


@router.get("/stats", response_model=StatsOut)
def read_stats(
    period: Annotated[
        str | None,
        Query(description="Calendar month, UTC, as YYYY-MM (default: the current month)"),
    ] = None,
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """The tenant's usage in one calendar month (UTC): points ingested, ingest jobs, reports
    built, documents processed and webhook deliveries, in total and per facility.

    Work counts in the month it was submitted. Points ingested are the points stored (new or
    changed) by succeeded ingest jobs; what names no single facility is under ``unattributed``,
    so ``totals`` is the sum of ``by_facility`` and ``unattributed``. ``period.end`` is the last
    second of the month.
    """
    year, month = _month(period)
    start, end = month_bounds(year, month)
    usage = load_usage(session, tenant_id=who.tenant_id, start=start, end=end)
    return {
        "tenant_id": who.tenant_id,
        "period": {"start": iso(start), "end": iso(end - timedelta(seconds=1))},
        "totals": usage.totals.view(),
        "by_facility": {
            facility_id: {"name": usage.names.get(facility_id), **counts.view()}
            for facility_id, counts in usage.by_facility.items()
        },
        "unattributed": usage.unattributed.view(),
    }


def _month(period: str | None) -> tuple[int, int]:
    if period is None:
        now = datetime.now(UTC)
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
