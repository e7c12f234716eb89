"""Ingest: load an upload -> parse and validate -> upsert points -> finish the job."""

from __future__ import annotations

import time
from typing import Any

from celery import Task
from sqlalchemy.orm import Session, undefer

from pipelines import ingest
from pipelines.errors import MalformedInputError
from worker import kinds
from worker.celery_app import app
from worker.dispatch import dispatch
from worker.storage import audit
from worker.storage.db import session_scope
from worker.storage.events import publish
from worker.storage.jobs import create_job
from worker.storage.models import Job, Upload
from worker.storage.points import store_parsed
from worker.tasks.base import RETRY_OPTIONS, JobRun, finish_or_stop, job_attempt


@app.task(name=kinds.INGEST, bind=True, **RETRY_OPTIONS)
def process_upload(self: Task, job_id: str) -> None:
    """Parse the job's upload (CSV or a JSON batch) and store its points idempotently."""
    with job_attempt(self, job_id) as run:
        if run is None:
            return  # already finished: a redelivered or duplicated message
        upload = _upload_of(run.job)
        started = time.perf_counter()
        parsed = _parse(upload, facility_id=run.job.params.get("facility_id"))
        run.log(
            f"parsed {parsed.rows} rows in {time.perf_counter() - started:.2f} s: "
            f"{len(parsed.points)} valid, {len(parsed.rejected)} rejected, "
            f"{parsed.duplicates} repeated in the upload"
        )
        with session_scope() as s:
            result = store_parsed(
                s, job_id=job_id, tenant_id=run.job.tenant_id, upload_id=upload.id, parsed=parsed
            )
            if result["tags_created"]:
                created = result["tags_created"]
                run.log(f"created {len(created)} tag(s): {', '.join(created)}")
            run.log(f"stored in {time.perf_counter() - started:.2f} s total")
            follow_up = _analysis_job(s, tenant_id=run.job.tenant_id, result=result, run=run)
            finish_or_stop(s, run, status="succeeded", result=result)
            _announce(s, job=run.job, upload=upload, result=result)
        if follow_up is not None:  # committed with the ingest: safe to publish now
            dispatch(follow_up.id, follow_up.kind)


def _upload_of(job: Job) -> Upload:
    """The job's upload, its bytes loaded (a deferred column)."""
    with session_scope() as s:
        upload = (
            s.get(Upload, job.upload_id, options=[undefer(Upload.content)])
            if job.upload_id
            else None
        )
    if upload is None:
        raise MalformedInputError(f"job {job.id} has no upload to ingest")
    return upload


def _parse(upload: Upload, *, facility_id: str | None) -> ingest.ParsedPoints:
    if upload.content_type.startswith("application/json"):
        return ingest.parse_batch(upload.content, facility_id=facility_id)
    return ingest.parse_csv(upload.content, facility_id=facility_id)


def _analysis_job(session: Session, *, tenant_id: str, result: dict, run: JobRun) -> Job | None:
    """The analysis of what this ingest changed, as a job in the same transaction."""
    ranges = result.pop("ranges")
    if not (result["inserted"] or result["updated"]) or not ranges:
        return None
    job = create_job(session, tenant_id=tenant_id, kind=kinds.ANALYSE, params={"ranges": ranges})
    run.log(f"analysis queued as {job.id}")
    result["analysis_job_id"] = job.id
    return job


def _announce(session: Session, *, job: Job, upload: Upload, result: dict[str, Any]) -> None:
    """The ``ingest.completed`` event and audit record, in the ingest's transaction."""
    summary = {k: v for k, v in result.items() if k != "tags_created"}
    publish(
        session,
        tenant_id=job.tenant_id,
        type="ingest.completed",
        key=job.id,
        data={"job_id": job.id, **summary},
    )
    audit.record(
        session,
        tenant_id=job.tenant_id,
        action="ingest.completed",
        subject_type="job",
        subject_id=job.id,
        facility_id=job.params.get("facility_id"),
        details={
            "upload_id": upload.id,
            "upload_sha256": upload.sha256,
            "content_type": upload.content_type,
            "bytes": len(upload.content),
            **summary,
        },
    )
