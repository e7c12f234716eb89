"""Usage statistics of a tenant for a calendar month."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from worker.storage.events import iso
from worker.storage.stats import TenantUsage, Usage


class Deliveries(BaseModel):
    succeeded: int
    failed: int


class UsageOut(BaseModel):
    points_ingested: int
    ingest_jobs: int
    reports_built: int
    documents_processed: int
    webhook_deliveries: Deliveries

    @classmethod
    def of(cls, u: Usage) -> UsageOut:
        return cls.model_validate(_counts(u))


def _counts(u: Usage) -> dict[str, object]:
    return {"points_ingested": u.points_ingested, "ingest_jobs": u.ingest_jobs,
            "reports_built": u.reports_built, "documents_processed": u.documents_processed,
            "webhook_deliveries": Deliveries(succeeded=u.webhooks_succeeded,
                                             failed=u.webhooks_failed)}  # fmt: skip


class FacilityUsageOut(UsageOut):
    name: str | None


class PeriodOut(BaseModel):
    start: str
    end: str


class StatsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tenant_id": "ten_1b6n8m2k4x9q7c3v",
        "period": {"start": "2025-10-01T00:00:00Z", "end": "2025-10-31T23:59:59Z"},
        "totals": {"points_ingested": 2678400, "ingest_jobs": 31, "reports_built": 1,
                   "documents_processed": 4,
                   "webhook_deliveries": {"succeeded": 40, "failed": 0}},
        "by_facility": {"fac_3kz9q7m2x8c4v6b1": {
            "points_ingested": 2678400, "ingest_jobs": 31, "reports_built": 1,
            "documents_processed": 4, "webhook_deliveries": {"succeeded": 0, "failed": 0},
            "name": "Valley RNG"}},
        "unattributed": {"points_ingested": 0, "ingest_jobs": 0, "reports_built": 0,
                         "documents_processed": 0,
                         "webhook_deliveries": {"succeeded": 40, "failed": 0}},
    }]})  # fmt: skip

    tenant_id: str
    period: PeriodOut
    totals: UsageOut
    by_facility: dict[str, FacilityUsageOut]
    unattributed: UsageOut

    @classmethod
    def of(cls, usage: TenantUsage, *, tenant_id: str) -> StatsOut:
        """``period.end`` is the last second of the month."""
        return cls(
            tenant_id=tenant_id,
            period=PeriodOut(start=iso(usage.start), end=iso(usage.end - timedelta(seconds=1))),
            totals=UsageOut.of(usage.totals),
            by_facility={
                facility_id: FacilityUsageOut.model_validate(
                    {"name": usage.names.get(facility_id), **_counts(counts)}
                )
                for facility_id, counts in usage.by_facility.items()
            },
            unattributed=UsageOut.of(usage.unattributed),
        )
