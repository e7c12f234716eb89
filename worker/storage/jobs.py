"""Job records: one per enqueued task; the Celery task id is the job id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from worker.storage.db import new_id
from worker.storage.models import Job, RejectedRow
from worker.storage.pages import Listing, SortKey, tenant_listing, within

FINISHED = ("succeeded", "failed")


def log_line(message: str, level: str = "info") -> dict[str, str]:
    return {"timestamp": _iso(datetime.now(UTC)), "level": level, "message": message}


def create_job(
    session: Session,
    *,
    tenant_id: str,
    kind: str,
    upload_id: str | None = None,
    params: dict[str, Any] | None = None,
) -> Job:
    job = Job(
        id=new_id("job"),
        tenant_id=tenant_id,
        kind=kind,
        status="queued",
        upload_id=upload_id,
        params=params or {},
        logs=[log_line("queued")],
        attempts=0,
        created_at=datetime.now(UTC),
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: str, tenant_id: str | None = None) -> Job | None:
    query = select(Job).where(Job.id == job_id)
    if tenant_id is not None:
        query = query.where(Job.tenant_id == tenant_id)
    return session.scalar(query)


def job_listing(
    *,
    tenant_id: str,
    status: str | None = None,
    kind: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> Listing:
    """The tenant's jobs, newest first; ``created_from``/``created_to`` bound the creation time."""
    where = [Job.tenant_id == tenant_id]
    if status is not None:
        where.append(Job.status == status)
    if kind is not None:
        where.append(Job.kind == kind)
    where += within(Job.created_at, created_from, created_to)
    return tenant_listing(
        Job,
        tenant_id=tenant_id,
        query=select(Job).where(*where).order_by(Job.created_at.desc(), Job.id),
        keys=[SortKey(Job.created_at, descending=True), SortKey(Job.id)],
    )


def rejected_rows(*, tenant_id: str, job_id: str) -> Select[RejectedRow]:
    """The rows a job refused, in file order."""
    return (
        select(RejectedRow)
        .where(RejectedRow.job_id == job_id, RejectedRow.tenant_id == tenant_id)
        .order_by(RejectedRow.row_number)
    )


def mark_enqueued(session: Session, *, job_id: str) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=datetime.now(UTC)))


def _locked(session: Session, job_id: str) -> Job | None:
    """The job's row, locked for update and read as locked (not as loaded earlier)."""
    return session.scalar(
        select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def start_attempt(session: Session, *, job_id: str, worker: str) -> Job | None:
    """Mark a job running for one more attempt; None when it is already finished (or unknown).

    Locks the row so two deliveries of one message cannot both start it at the same moment.
    """
    job = _locked(session, job_id)
    if job is None or job.status in FINISHED:
        return None
    now = datetime.now(UTC)
    job.attempts += 1
    job.status = "running"
    job.started_at = job.started_at or now
    job.heartbeat_at = now
    job.logs = [*job.logs, log_line(f"attempt {job.attempts} started on {worker}")]
    return job


def finish_job(
    session: Session,
    *,
    job_id: str,
    status: str,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    logs: list[dict[str, str]] | None = None,
) -> bool:
    """Record the job's outcome; False (and nothing written) when it is already finished.

    The row is locked, so when two copies of one message ran at once only the first to finish
    records its result: the other's cannot overwrite a success with its own view or a failure.
    """
    job = _locked(session, job_id)
    if job is None or job.status in FINISHED:
        return False
    now = datetime.now(UTC)
    job.status = status
    job.result = result
    job.error = error
    job.finished_at = now
    started = job.started_at or now
    job.duration_ms = int((now - started) / timedelta(milliseconds=1))
    job.logs = [*job.logs, *(logs or [])]
    return True


def record_heartbeat(session: Session, *, job_id: str, at: datetime | None = None) -> None:
    """Record that ``job_id``'s attempt is alive (by default now; a retry waiting in the broker
    gives the time it is due). Only a running job is touched."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running")
        .values(heartbeat_at=at or datetime.now(UTC))
    )


def record_held(session: Session, *, job_ids: list[str]) -> None:
    """Record that a live worker holds the messages of ``job_ids`` (received, not yet started).
    Only queued jobs are touched: a running job's own heartbeat speaks for it."""
    session.execute(
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == "queued")
        .values(heartbeat_at=datetime.now(UTC))
    )


def stale_unsent(session: Session, *, older_than: timedelta, limit: int = 500) -> list[Job]:
    """Queued jobs that never reached the broker (enqueue after commit failed)."""
    cutoff = datetime.now(UTC) - older_than
    return list(
        session.scalars(
            select(Job)
            .where(Job.status == "queued", Job.enqueued_at.is_(None), Job.created_at < cutoff)
            .order_by(Job.created_at)
            .limit(limit)
        )
    )


def stale_held(session: Session, *, held: set[str], older_than: timedelta) -> list[Job]:
    """Queued jobs whose message a worker took (it is among the broker's unacknowledged ones,
    ``held``) but that no live worker has vouched for (``record_held``) in ``older_than``: the
    worker died between taking the message and recording it. Only the visibility timeout would
    bring the message back."""
    if not held:
        return []
    cutoff = datetime.now(UTC) - older_than
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.id.in_(sorted(held)),
                Job.status == "queued",
                Job.heartbeat_at.is_(None),
                Job.enqueued_at < cutoff,
            )
            .order_by(Job.created_at)
        )
    )


def stale_orphaned(
    session: Session,
    *,
    older_than: timedelta,
    silent_for: timedelta | None = None,
    limit: int = 500,
) -> list[Job]:
    """Jobs whose message can no longer be in the broker or a worker's hands.

    ``older_than`` must exceed the visibility timeout: by then an unacknowledged message has been
    redelivered. What is left is a job still ``queued`` though published that long ago (the
    broker lost its queue), and, with ``silent_for``, a job whose worker has recorded no sign of
    life for that long: a ``running`` one (its heartbeat), or a ``queued`` one whose message a
    worker had taken but not yet started (``record_held``). That worker is gone (killed, its
    machine lost; the message would only come back after the visibility timeout), or the
    message was acknowledged while the database was unreachable to record the outcome. A running
    job without any heartbeat counts from the start of its last attempt, with ``older_than``.
    Re-sending is safe: a finished job is skipped and only one copy can record a result.
    """
    now = datetime.now(UTC)
    cutoff = now - older_than
    running = Job.status == "running"
    orphaned = ((Job.status == "queued") & (Job.enqueued_at < cutoff)) | (
        running & Job.heartbeat_at.is_(None) & (Job.started_at < cutoff)
    )
    if silent_for is not None:
        # A running job, or a queued one whose message a worker took (``record_held``), whose
        # worker has fallen silent.
        orphaned |= Job.status.in_(("queued", "running")) & (Job.heartbeat_at < now - silent_for)
    return list(session.scalars(select(Job).where(orphaned).order_by(Job.created_at).limit(limit)))


def job_view(job: Job) -> dict[str, Any]:
    """The public shape of a job (an "execution": status, logs, duration)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "duration_ms": job.duration_ms,
        "attempts": job.attempts,
        "upload_id": job.upload_id,
        "params": job.params,
        "result": job.result,
        "error": job.error,
        "logs": job.logs,
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
