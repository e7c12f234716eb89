"""A tenant's usage in a period (``GET /v1/stats``): points ingested, ingest jobs, reports,
documents and webhook deliveries, in total and by facility.

Everything counts in the period its row was created (a job submitted, a report requested, a
document uploaded, a webhook message enqueued), which the ``(tenant_id, created_at)`` indexes
serve, and counts its outcome once it has one: a job submitted on the 31st at 23:59 and finished
after midnight counts in the month it was submitted.

- **points_ingested**: ``inserted + updated`` of the tenant's succeeded ingest jobs, from the
  job results. Exact: a job's result is written in the transaction that stores its points, and
  only once (a redelivered message finds the job finished), so nothing counts twice; a file sent
  again adds nothing, as it stores nothing. Counting upload rows would not be: the same bytes are
  one upload, an upload may be ingested by several jobs, and rejected or repeated rows are no
  points.
- **ingest_jobs**: ingest jobs submitted, whatever their status.
- **reports_built**: reports generated; **documents_processed**: documents processed.
- **webhook_deliveries**: messages delivered (``succeeded``) or given up on (``failed``); messages
  still being retried are neither yet.

**By facility**: reports carry their facility, documents theirs when uploaded with one, webhook
messages the ``facility_id`` of their event's data. An ingest job is attributed to the facility
named with the upload, else, when it stored points, to the one facility of the tags it wrote
(the tags of its follow-up analysis job); a file naming several facilities per row cannot be
split from its result. What names no single facility (such files, failed jobs and re-sent files
without a facility, events about no facility such as ``ingest.completed``) is ``unattributed``,
so ``totals`` = the sum of ``by_facility`` and ``unattributed``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker import kinds
from worker.storage.models import (
    Document,
    Event,
    Facility,
    Job,
    Report,
    Tag,
    WebhookMessage,
)


@dataclass
class Usage:
    points_ingested: int = 0
    ingest_jobs: int = 0
    reports_built: int = 0
    documents_processed: int = 0
    webhooks_succeeded: int = 0
    webhooks_failed: int = 0

    def add(self, other: Usage) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class TenantUsage:
    start: datetime
    end: datetime  # exclusive
    by_facility: dict[str, Usage] = field(default_factory=dict)
    unattributed: Usage = field(default_factory=Usage)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def totals(self) -> Usage:
        total = Usage()
        for usage in (*self.by_facility.values(), self.unattributed):
            total.add(usage)
        return total


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next) in UTC."""
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def load_usage(session: Session, *, tenant_id: str, start: datetime, end: datetime) -> TenantUsage:
    """``tenant_id``'s usage for rows created in [start, end)."""
    usage = TenantUsage(start=start, end=end)
    own = set(session.scalars(select(Facility.id).where(Facility.tenant_id == tenant_id)).all())
    buckets: dict[str | None, Usage] = defaultdict(Usage)

    def bucket(facility_id: Any) -> Usage:
        return buckets[facility_id if facility_id in own else None]

    for facility_id, points in _ingest_jobs(session, tenant_id=tenant_id, start=start, end=end):
        target = bucket(facility_id)
        target.ingest_jobs += 1
        target.points_ingested += points

    for facility_id, n in _by_facility(session, Report, "generated", tenant_id, start, end):
        bucket(facility_id).reports_built += n
    for facility_id, n in _by_facility(session, Document, "processed", tenant_id, start, end):
        bucket(facility_id).documents_processed += n

    # Grouped in an outer query: PostgreSQL does not match a JSON path expression with bound
    # parameters in GROUP BY to the same expression in the select list.
    messages = (
        select(
            Event.payload[("data", "facility_id")].as_string().label("facility_id"),
            WebhookMessage.status.label("status"),
        )
        .select_from(WebhookMessage)
        .outerjoin(Event, (Event.id == WebhookMessage.event_id) & (Event.tenant_id == tenant_id))
        .where(
            WebhookMessage.tenant_id == tenant_id,
            WebhookMessage.created_at >= start,
            WebhookMessage.created_at < end,
            WebhookMessage.status.in_(("succeeded", "failed")),
        )
        .subquery()
    )
    deliveries = session.execute(
        select(messages.c.facility_id, messages.c.status, func.count()).group_by(
            messages.c.facility_id, messages.c.status
        )
    )
    for facility_id, status, n in deliveries:
        target = bucket(facility_id)
        if status == "succeeded":
            target.webhooks_succeeded += int(n)
        else:
            target.webhooks_failed += int(n)

    usage.unattributed = buckets.pop(None, Usage())
    usage.by_facility = {str(k): v for k, v in sorted(buckets.items(), key=lambda kv: str(kv[0]))}
    if usage.by_facility:
        usage.names = dict(
            session.execute(
                select(Facility.id, Facility.name).where(
                    Facility.tenant_id == tenant_id, Facility.id.in_(list(usage.by_facility))
                )
            ).all()
        )
    return usage


def _by_facility(
    session: Session, model: Any, status: str, tenant_id: str, start: datetime, end: datetime
) -> list[tuple[str | None, int]]:
    """(facility id or None, count) of the tenant's ``model`` rows created in [start, end) that
    have ``status`` (reports generated, documents processed)."""
    rows = session.execute(
        select(model.facility_id, func.count())
        .where(
            model.tenant_id == tenant_id,
            model.created_at >= start,
            model.created_at < end,
            model.status == status,
        )
        .group_by(model.facility_id)
    )
    return [(facility_id, int(n)) for facility_id, n in rows]


def _ingest_jobs(
    session: Session, *, tenant_id: str, start: datetime, end: datetime
) -> list[tuple[str | None, int]]:
    """(facility id or None, points stored) per ingest job submitted in [start, end)."""
    jobs = session.execute(
        select(Job.status, Job.params, Job.result).where(
            Job.tenant_id == tenant_id,
            Job.created_at >= start,
            Job.created_at < end,
            Job.kind == kinds.INGEST,
        )
    ).all()
    out: list[tuple[str | None, int]] = []
    follow_ups: dict[int, str] = {}  # index in out -> analysis job id
    for status, params, result in jobs:
        result = result if status == "succeeded" and isinstance(result, dict) else {}
        points = int(result.get("inserted", 0) or 0) + int(result.get("updated", 0) or 0)
        facility = (params or {}).get("facility_id")
        if facility is None and points and isinstance(result.get("analysis_job_id"), str):
            follow_ups[len(out)] = result["analysis_job_id"]
        out.append((facility, points))
    if follow_ups:
        facilities = _facilities_written(
            session, tenant_id=tenant_id, analysis_job_ids=set(follow_ups.values())
        )
        for i, analysis_id in follow_ups.items():
            written = facilities.get(analysis_id, set())
            if len(written) == 1:
                out[i] = (next(iter(written)), out[i][1])
    return out


def _facilities_written(
    session: Session, *, tenant_id: str, analysis_job_ids: set[str]
) -> dict[str, set[str]]:
    """The facilities of the tags each follow-up analysis job covers (its ``ranges`` keys)."""
    tags_of: dict[str, set[int]] = {}
    ids = sorted(analysis_job_ids)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        rows = session.execute(
            select(Job.id, Job.params).where(Job.tenant_id == tenant_id, Job.id.in_(chunk))
        )
        for job_id, params in rows:
            ranges = (params or {}).get("ranges") or {}
            tags_of[job_id] = {int(t) for t in ranges if str(t).isdigit()}
    all_tags = sorted(set().union(*tags_of.values())) if tags_of else []
    facility_of: dict[int, str] = {}
    for chunk_tags in (all_tags[i : i + 500] for i in range(0, len(all_tags), 500)):
        facility_of.update(
            session.execute(
                select(Tag.id, Tag.facility_id).where(
                    Tag.tenant_id == tenant_id, Tag.id.in_(chunk_tags)
                )
            ).all()
        )
    # A tag gone since (deleted with its facility) leaves the job's facilities unknown: none.
    return {
        job_id: {facility_of[t] for t in tags} if tags <= facility_of.keys() else set()
        for job_id, tags in tags_of.items()
    }
