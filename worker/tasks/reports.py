"""LCFS reports: build one (load -> compute -> render -> store -> announce), and the schedule."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from celery import Task
from sqlalchemy import select

from pipelines import lcfs
from pipelines.errors import PipelineError
from worker import kinds
from worker.celery_app import app
from worker.dispatch import dispatch
from worker.locks import once_per_period
from worker.settings import get_settings
from worker.signing import render_signed
from worker.storage.db import session_scope
from worker.storage.models import Facility, FuelMapping, Job, Report
from worker.storage.reports import (
    create_report,
    fail_report,
    lcfs_tables,
    load_lcfs_inputs,
    save_report,
)
from worker.tasks.base import RETRY_OPTIONS, finish_or_stop, job_attempt


@app.task(name=kinds.BUILD_REPORT, bind=True, **RETRY_OPTIONS)
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
                        tables=lcfs_tables(),
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
                content = render_signed(report, fmt)
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


@app.task(name=kinds.SCHEDULE_REPORTS, ignore_result=True, acks_late=True)
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
