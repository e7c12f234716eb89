"""Documents: load the upload -> extract -> check against the meters -> store -> announce."""

from __future__ import annotations

import logging
import time

from billiard.exceptions import SoftTimeLimitExceeded
from celery import Task

from pipelines import documents as docs
from pipelines.errors import MalformedInputError, PipelineError
from worker import kinds
from worker.celery_app import app
from worker.settings import get_settings
from worker.storage import documents as storage
from worker.storage.db import session_scope
from worker.storage.models import Document, Facility, Job, Upload
from worker.storage.reports import lcfs_tables
from worker.tasks.base import (
    RETRY_OPTIONS,
    TRANSIENT,
    AlreadyFinished,
    JobRun,
    finish_or_stop,
    job_attempt,
)

log = logging.getLogger(__name__)


@app.task(name=kinds.PROCESS_DOCUMENT, bind=True, **RETRY_OPTIONS)
def process(self: Task, job_id: str) -> None:
    """Extract one uploaded document. A file that cannot be read is a verdict, not a retry:
    the document and its job fail with the error's code in one transaction."""
    with job_attempt(self, job_id) as run:
        if run is None:
            return  # already finished: a redelivered or duplicated message
        document_id = None
        try:
            document_id = _document_of(job_id)
            process_document(job_id=job_id, document_id=document_id, run=run)
        except TRANSIENT:
            if self.request.retries >= (self.max_retries or 0):
                _mark_failed(
                    document_id,
                    "internal",
                    "gave up after retries: a service it "
                    "needs stayed unavailable (the job's error names the error id)",
                )
            raise
        except SoftTimeLimitExceeded:
            limit = get_settings().task_soft_time_limit
            _mark_failed(document_id, "timeout", f"processing took longer than {limit} s")
            raise
        except (PipelineError, AlreadyFinished):
            raise  # no document to speak of, or another copy finished: job_attempt handles it
        except Exception:
            _mark_failed(
                document_id,
                "internal",
                "internal error (the job's error names the error id to report)",
            )
            raise


def _document_of(job_id: str) -> str:
    with session_scope() as s:
        job = s.get(Job, job_id)
        document_id = (job.params or {}).get("document_id") if job else None
        document = s.get(Document, document_id) if document_id else None
        if job is None or document is None or document.tenant_id != job.tenant_id:
            raise MalformedInputError(f"job {job_id} has no document to process")
        return document.id


def process_document(*, job_id: str, document_id: str, run: JobRun) -> None:
    """The body of the task, callable in-process (tests): never raises for a bad file."""
    with session_scope() as s:
        document = s.get(Document, document_id)
        assert document is not None
        content = s.get(Upload, document.upload_id).content  # type: ignore[union-attr]
        declared = document.declared_type
    settings = get_settings()
    limits = docs.Limits(
        max_bytes=settings.document_max_bytes, timeout_s=settings.document_timeout_s
    )
    started = time.perf_counter()
    try:
        extraction = docs.extract_document(content, document_type=declared, limits=limits)
    except docs.DocumentError as exc:
        run.log(f"{exc.code}: {exc}", "error")
        with session_scope() as s:
            document = s.get(Document, document_id)
            finish_or_stop(
                s,
                job_id=job_id,
                status="failed",
                error=f"{exc.code}: {exc}",
                result={"document_id": document_id, "error_code": exc.code},
                logs=run.logs,
            )
            storage.fail_document(s, document=document, code=exc.code, message=str(exc))
        return
    run.log(
        f"extracted {len(extraction.fields)} field(s) from {extraction.pages} page(s) as "
        f"{extraction.document_type} in {time.perf_counter() - started:.2f} s"
    )
    tables = lcfs_tables()  # parsed once per process
    with session_scope() as s:
        document = s.get(Document, document_id)
        warnings = list(extraction.warnings)
        reconciliation = None
        facility = (
            s.get(Facility, document.facility_id) if document and document.facility_id else None
        )
        if facility is not None and facility.tenant_id == document.tenant_id:
            try:
                reconciliation = storage.reconcile_with_meters(
                    s, facility=facility, extraction=extraction, tables=tables
                )
            except PipelineError as exc:  # e.g. a mapping the meter maths refuses
                reconciliation = {"status": "unknown", "note": f"{exc.code}: {exc}"}
        if reconciliation is not None:
            run.log(f"reconciliation: {reconciliation['status']}")
        transaction, notes = storage.upsert_transaction(
            s, document=document, extraction=extraction, tables=tables
        )
        warnings += notes
        finish_or_stop(  # the job row first, then the audit chain head: every task's order
            s,
            job_id=job_id,
            status="succeeded",
            result={
                "document_id": document_id,
                "document_type": extraction.document_type,
                "fields": len(extraction.fields),
                "reconciliation": (reconciliation or {}).get("status"),
                "fuel_transaction_id": transaction.id if transaction else None,
            },
            logs=run.logs,
        )
        storage.save_extraction(
            s,
            document=document,
            extraction=extraction,
            warnings=warnings,
            reconciliation=reconciliation,
        )


def _mark_failed(document_id: str | None, code: str, message: str) -> None:
    """Best effort: the job's own failure is recorded by ``job_attempt`` either way."""
    if document_id is None:
        return
    try:
        with session_scope() as s:
            document = s.get(Document, document_id)
            if document is not None and document.status != "processed":
                storage.fail_document(s, document=document, code=code, message=message)
    except Exception:  # the original error is the one worth raising
        log.exception("document %s: could not record its failure", document_id)
