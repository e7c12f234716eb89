"""Documents: load the upload -> extract -> check against the meters -> store -> announce."""

from __future__ import annotations

import logging
import time
from functools import partial

from celery import Task

from pipelines import documents as docs
from pipelines import lcfs
from pipelines.errors import MalformedInputError
from worker import kinds
from worker.celery_app import app
from worker.settings import get_settings
from worker.storage import documents as storage
from worker.storage.db import session_scope
from worker.storage.models import Document, Job, Upload
from worker.storage.reports import lcfs_tables
from worker.tasks.base import RETRY_OPTIONS, JobRun, finish_or_stop, job_attempt

log = logging.getLogger(__name__)

# What a document says when its job fails for a reason other than the file itself.
FAILURES = {
    "timeout": ("timeout", "processing took longer than {limit} s"),
    "unavailable": (
        "internal",
        "gave up after retries: a service it needs stayed unavailable "
        "(the job's error names the error id)",
    ),
    "internal": ("internal", "internal error (the job's error names the error id to report)"),
}


@app.task(name=kinds.PROCESS_DOCUMENT, bind=True, **RETRY_OPTIONS)
def process(self: Task, job_id: str) -> None:
    """Extract one uploaded document. A file that cannot be read is a verdict, not a retry:
    the document and its job fail with the error's code in one transaction."""
    with job_attempt(self, job_id) as run:
        if run is None:
            return  # already finished: a redelivered or duplicated message
        document_id = _document_of(run.job)
        run.on_failure = partial(_mark_failed, document_id)  # a timeout, a crash: it fails too
        process_document(document_id=document_id, run=run)


def _document_of(job: Job) -> str:
    with session_scope() as s:
        document_id = (job.params or {}).get("document_id")
        document = s.get(Document, document_id) if document_id else None
        if document is None or document.tenant_id != job.tenant_id:
            raise MalformedInputError(f"job {job.id} has no document to process")
        return document.id


def process_document(*, document_id: str, run: JobRun) -> None:
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
        _reject(run, document_id=document_id, error=exc)
        return
    run.log(
        f"extracted {len(extraction.fields)} field(s) from {extraction.pages} page(s) as "
        f"{extraction.document_type} in {time.perf_counter() - started:.2f} s"
    )
    _store(run, document_id=document_id, extraction=extraction, tables=lcfs_tables())


def _reject(run: JobRun, *, document_id: str, error: docs.DocumentError) -> None:
    """A file that cannot be read: the job and the document fail in one transaction."""
    run.log(f"{error.code}: {error}", "error")
    with session_scope() as s:
        document = s.get(Document, document_id)
        finish_or_stop(
            s,
            run,
            status="failed",
            error=f"{error.code}: {error}",
            result={"document_id": document_id, "error_code": error.code},
        )
        storage.fail_document(s, document=document, code=error.code, message=str(error))


def _store(
    run: JobRun, *, document_id: str, extraction: docs.Extraction, tables: lcfs.LcfsTables
) -> None:
    """The extraction, its fuel transaction and its check against the meters, with the job's
    success, in one transaction."""
    with session_scope() as s:
        document = s.get(Document, document_id)
        reconciliation = storage.reconcile_document(
            s, document=document, extraction=extraction, tables=tables
        )
        if reconciliation is not None:
            run.log(f"reconciliation: {reconciliation['status']}")
        transaction, notes = storage.upsert_transaction(
            s, document=document, extraction=extraction, tables=tables
        )
        finish_or_stop(  # the job row first, then the audit chain head: every task's order
            s,
            run,
            status="succeeded",
            result={
                "document_id": document_id,
                "document_type": extraction.document_type,
                "fields": len(extraction.fields),
                "reconciliation": (reconciliation or {}).get("status"),
                "fuel_transaction_id": transaction.id if transaction else None,
            },
        )
        storage.save_extraction(
            s,
            document=document,
            extraction=extraction,
            warnings=[*extraction.warnings, *notes],
            reconciliation=reconciliation,
        )


def _mark_failed(document_id: str, reason: str) -> None:
    """Best effort: the job's own failure is recorded by ``job_attempt`` either way."""
    code, message = FAILURES[reason]
    message = message.format(limit=get_settings().task_soft_time_limit)
    try:
        with session_scope() as s:
            document = s.get(Document, document_id)
            if document is not None and document.status != "processed":
                storage.fail_document(s, document=document, code=code, message=message)
    except Exception:  # the original error is the one worth raising
        log.exception("document %s: could not record its failure", document_id)
