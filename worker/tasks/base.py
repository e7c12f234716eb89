"""What every job-backed task shares: start an attempt, record the outcome, retry policy."""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis
import sqlalchemy.exc
from billiard.exceptions import SoftTimeLimitExceeded
from celery import Task
from sqlalchemy.orm import Session

from pipelines.errors import PipelineError
from worker.observability import logs
from worker.settings import get_settings
from worker.storage import audit
from worker.storage.db import session_scope
from worker.storage.jobs import finish_job, log_line, start_attempt
from worker.storage.models import Job, Upload

log = logging.getLogger(__name__)

# Errors that say "try again later", named once. Everything else is a verdict on the input.
TRANSIENT = (
    httpx.TransportError,
    redis.ConnectionError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
)
# A message redelivered this many times (each time its worker died) is given up on, so one
# poison message cannot loop forever.
MAX_ATTEMPTS = 5

RETRY_OPTIONS = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 300,  # well under the visibility timeout: no long broker countdowns
    "retry_jitter": True,
    "max_retries": get_settings().task_max_retries,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@dataclass
class JobRun:
    """One attempt of a job: the job as the attempt found it, and the log lines it adds."""

    job: Job
    logs: list[dict[str, str]] = field(default_factory=list)
    # The status this attempt gave the job (``finish_or_stop``): final once the body returns.
    status: str | None = None
    # Set by a body whose subject must fail with the job (a document): called, best effort,
    # with "timeout", "unavailable" or "internal" just before the job fails for that reason.
    on_failure: Callable[[str], None] | None = None

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append(log_line(message, level))


@contextmanager
def job_attempt(task: Task, job_id: str) -> Iterator[JobRun | None]:
    """Start an attempt of ``job_id``; yields None when the job is already finished.

    The body must finish the job itself (``finish_or_stop``) in the same transaction as its
    writes, so a crash between the two cannot happen. Failures are recorded here: input errors
    and exhausted retries end the job; transient errors with retries left propagate to
    Celery's autoretry. The task's log context gets the job's tenant, and ``job_failed`` when
    this attempt failed the job (the worker's metrics count it), from what the attempt reads
    anyway: the log and metrics signal receivers make no query of their own.
    """
    with session_scope() as s:
        job = start_attempt(s, job_id=job_id, worker=socket.gethostname())
        # The tenant for the task's log lines, from the row just read; only a copy of a message
        # whose job is finished (or unknown) reads it once more.
        known = job if job is not None else s.get(Job, job_id)
        if known is not None:
            logs.add_job_context(job_id, tenant_id=known.tenant_id)
        gave_up = job is not None and job.attempts > MAX_ATTEMPTS
        if gave_up:
            finish_job(
                s, job_id=job_id, status="failed", error=f"gave up after {MAX_ATTEMPTS} attempts"
            )
    if gave_up:
        logs.add_job_context(job_id, job_failed=True)
    if job is None or gave_up:
        yield None
        return
    run = JobRun(job=job)
    try:
        yield run
    except PipelineError as exc:
        _fail(job_id, run, f"{exc.code}: {exc}")
    except SoftTimeLimitExceeded:
        _subject_fails(run, "timeout")
        _fail(job_id, run, f"timed out after {get_settings().task_soft_time_limit} s")
    except TRANSIENT as exc:
        if task.request.retries < (task.max_retries or 0):
            log.warning("job %s: transient error, will retry: %s", job_id, exc)
            raise
        _subject_fails(run, "unavailable")
        error_id = _log_error(job_id, exc)
        _fail(
            job_id,
            run,
            f"gave up after {task.request.retries + 1} tries: a service it "
            f"needs (database, broker) stayed unavailable (error id {error_id})",
        )
    except AlreadyFinished:
        log.info("job %s: another copy of its message finished it first", job_id)
    except Exception as exc:
        _subject_fails(run, "internal")
        error_id = _log_error(job_id, exc)
        if _fail(
            job_id,
            run,
            f"internal error (error id {error_id}): the job could not be "
            "completed; quote this id when reporting it",
        ):
            raise
        # Another copy finished the job meanwhile (this one collided with its writes).
        log.info("job %s: finished by another copy; this copy's %r is moot", job_id, exc)
    else:
        if run.status == "failed":
            logs.add_job_context(job_id, job_failed=True)


def _subject_fails(run: JobRun, reason: str) -> None:
    if run.on_failure is not None:
        run.on_failure(reason)


def _log_error(job_id: str, exc: BaseException) -> str:
    """Log an unexpected error in full, under a new id; only the id goes to the job, which its
    caller reads: never SQL, a stack trace or a library's message."""
    error_id = f"err_{secrets.token_hex(8)}"
    log.error("job %s: error %s: %s: %s", job_id, error_id, type(exc).__name__, exc, exc_info=exc)
    return error_id


class AlreadyFinished(Exception):
    """Raised by a task body whose ``finish_job`` found the job finished by another copy of its
    message: the body's transaction rolls back and the attempt ends quietly."""


def finish_or_stop(
    session: Session,
    run: JobRun,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Finish ``run``'s job with its log lines (``finish_job``), or roll this copy's transaction
    back if another copy finished first. ``run.status`` holds the status once it commits."""
    if not finish_job(
        session, job_id=run.job.id, status=status, result=result, error=error, logs=run.logs
    ):
        raise AlreadyFinished
    run.status = status


def _fail(job_id: str, run: JobRun, error: str) -> bool:
    """Fail the job with ``error``; False when another copy had finished it."""
    run.log(error, "error")
    with session_scope() as s:
        if not finish_job(s, job_id=job_id, status="failed", error=error, logs=run.logs):
            return False
        if run.job.kind.startswith("ingest."):  # a rejected upload is evidence too
            upload = s.get(Upload, run.job.upload_id) if run.job.upload_id else None
            audit.record(
                s,
                tenant_id=run.job.tenant_id,
                action="ingest.failed",
                subject_type="job",
                subject_id=job_id,
                facility_id=run.job.params.get("facility_id"),
                details={
                    "upload_id": upload.id if upload else None,
                    "upload_sha256": upload.sha256 if upload else None,
                    "error": error,
                },
            )
    logs.add_job_context(job_id, job_failed=True)
    return True
