"""LCFS reports: build one (load -> compute -> render -> store -> announce), and the schedule."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from celery import Task
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines import lcfs
from pipelines.errors import PipelineError
from worker.celery_app import app
from worker.dispatch import dispatch
from worker.locks import once_per_period
from worker.settings import get_settings
from worker.storage import audit
from worker.storage.db import new_id, session_scope
from worker.storage.jobs import create_job
from worker.storage.models import Facility, FuelMapping, Job, Report
from worker.storage.reports import fail_report, load_lcfs_inputs, render, save_report
from worker.tasks.base import RETRY_OPTIONS, finish_or_stop, job_attempt

BUILD_TASK = "reports.build_lcfs"


@lru_cache(maxsize=1)
def tables() -> lcfs.LcfsTables:
    """The parameter tables: packaged, with TICKWORK_LCFS_TABLES_DIR's files replacing them."""
    settings = get_settings()
    return lcfs.load_tables(
        settings.lcfs_tables_dir, require_confirmed=settings.lcfs_require_confirmed
    )


@app.task(name=BUILD_TASK, bind=True, **RETRY_OPTIONS)
def build_lcfs(self: Task, job_id: str) -> None:
    """Build the job's report from stored data; a bad input fails the report, not the worker."""
    with job_attempt(self, job_id) as run:
        if run is None:
            return  # already finished: a redelivered or duplicated message
        started = time.perf_counter()
        with session_scope(readonly=True) as s:
            job = s.get(Job, job_id)
            row = s.get(Report, (job.params or {}).get("report_id")) if job else None
            if row is None or row.status == "generated":
                report_id = None
            else:
                report_id, fmt = row.id, row.format
                facility = s.get(Facility, row.facility_id)
                assert facility is not None
                try:
                    inputs = load_lcfs_inputs(
                        s, facility=facility, year=row.year, quarter=row.quarter,
                        tables=tables(),
                        substitution_method=get_settings().lcfs_substitution_method,
                        report=row,
                    )  # fmt: skip
                    error: PipelineError | None = None
                except PipelineError as exc:
                    error = exc
        if report_id is None:
            with session_scope() as s:
                finish_or_stop(s, job_id=job_id, status="succeeded", result={"skipped": True},
                               logs=[*run.logs])  # fmt: skip
            return
        run.log(f"loaded {0 if inputs.points is None else len(inputs.points):,} points, "
                f"{len(inputs.transactions)} transactions in "
                f"{time.perf_counter() - started:.2f} s")  # fmt: skip
        content = b""
        if error is None:
            try:
                report = lcfs.compute_quarter(inputs)
                content = render(report, fmt)
            except PipelineError as exc:
                error = exc
        # The job row is locked (finish) before the report and the audit chain head, the order
        # every task uses; a copy of this message that finished first rolls this one back.
        with session_scope() as s:
            row = s.get(Report, report_id)
            assert row is not None
            if error is not None:
                run.log(f"{error.code}: {error}", "error")
                finish_or_stop(s, job_id=job_id, status="failed",
                               error=f"{error.code}: {error}", logs=run.logs)  # fmt: skip
                fail_report(s, report_row=row, code=error.code, message=str(error))
                return
            run.log(f"{fmt} of {len(content):,} bytes in {time.perf_counter() - started:.2f} s")
            finish_or_stop(s, job_id=job_id, status="succeeded", logs=run.logs, result={
                "report_id": report_id, "has_data": report.has_data,
                "input_sha256": report.input_sha256,
                "file_sha256": hashlib.sha256(content).hexdigest(),
            })  # fmt: skip
            save_report(s, report_row=row, report=report, content=content)


def create_report(
    session: Session,
    *,
    facility: Facility,
    year: int,
    quarter: int,
    fmt: str,
    draft: bool = False,
    schedule_key: str | None = None,
    preparer: str = "",
    reviewer: str = "",
) -> tuple[Report, Job]:
    """A queued report and the job that builds it (dispatch the job after the commit). The
    tenant's audit-chain head at this moment is printed in the report."""
    _, head = audit.head_of(session, tenant_id=facility.tenant_id)
    report = Report(id=new_id("rpt"), tenant_id=facility.tenant_id, facility_id=facility.id,
                    report_type="lcfs_quarterly", year=year, quarter=quarter, format=fmt,
                    draft=draft, schedule_key=schedule_key, status="queued",
                    preparer=preparer, reviewer=reviewer, audit_head=head,
                    created_at=datetime.now(UTC).replace(microsecond=0))  # fmt: skip
    session.add(report)
    session.flush()
    job = create_job(session, tenant_id=facility.tenant_id, kind=BUILD_TASK,
                     params={"report_id": report.id})  # fmt: skip
    report.job_id = job.id
    return report, job


def periods_due(tz: str, now: datetime) -> list[tuple[int, int, bool, str]]:
    """(year, quarter, draft, key suffix) a facility in ``tz`` should have at ``now``: the
    quarter that just closed (final) and this week's draft of the current quarter."""
    local = now.astimezone(ZoneInfo(tz))
    quarter = (local.month - 1) // 3 + 1
    prev_year, prev_quarter = (local.year, quarter - 1) if quarter > 1 else (local.year - 1, 4)
    week = local.isocalendar()
    return [
        (prev_year, prev_quarter, False, f"{prev_year}Q{prev_quarter}"),
        (local.year, quarter, True, f"{local.year}Q{quarter}:draft:{week.year}W{week.week:02d}"),
    ]


@app.task(name="reports.schedule_quarterly", ignore_result=True, acks_late=True)
def schedule_quarterly(now_iso: str | None = None) -> int:
    """Queue every mapped facility's report for the quarter that just closed (once) and this
    week's draft of the current quarter (once a week), by each facility's local calendar."""
    now = datetime.fromisoformat(now_iso) if now_iso else datetime.now(UTC)
    with once_per_period("reports.schedule_quarterly", seconds=3000) as first:
        if not first and now_iso is None:
            return 0
        queued: list[Job] = []
        with session_scope() as s:
            facilities = s.scalars(
                select(Facility).where(Facility.id.in_(select(FuelMapping.facility_id)))
            ).all()
            for facility in facilities:
                for year, quarter, draft, suffix in periods_due(facility.timezone, now):
                    key = f"{facility.id}:{suffix}"
                    if s.scalar(select(Report.id).where(Report.schedule_key == key)):
                        continue
                    _, job = create_report(s, facility=facility, year=year, quarter=quarter,
                                           fmt="pdf", draft=draft, schedule_key=key)  # fmt: skip
                    queued.append(job)
        for job in queued:  # committed: safe to publish
            dispatch(job.id, job.kind)
        return len(queued)
