"""Ingest: load an upload -> parse and validate -> upsert points -> finish the job."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from celery import Task
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from pipelines import ingest
from pipelines.errors import MalformedInputError
from worker import kinds
from worker.celery_app import app
from worker.dispatch import dispatch
from worker.storage import audit
from worker.storage.db import session_scope
from worker.storage.events import iso, publish
from worker.storage.jobs import create_job
from worker.storage.models import Job, RejectedRow, Upload
from worker.storage.points import resolve_tags, upsert_points
from worker.tasks.base import RETRY_OPTIONS, JobRun, finish_or_stop, job_attempt


@app.task(name=kinds.INGEST, bind=True, **RETRY_OPTIONS)
def process_upload(self: Task, job_id: str) -> None:
    """Parse the job's upload (CSV or a JSON batch) and store its points idempotently."""
    with job_attempt(self, job_id) as run:
        if run is None:
            return  # already finished: a redelivered or duplicated message
        with session_scope() as s:
            job = s.get(Job, job_id)
            upload = s.get(Upload, job.upload_id) if job and job.upload_id else None
            if job is None or upload is None:
                raise MalformedInputError(f"job {job_id} has no upload to ingest")
            content, content_type = upload.content, upload.content_type
            tenant_id, params = job.tenant_id, dict(job.params)

        started = time.perf_counter()
        parsed = _parse(content, content_type, facility_id=params.get("facility_id"))
        run.log(
            f"parsed {parsed.rows} rows in {time.perf_counter() - started:.2f} s: "
            f"{len(parsed.points)} valid, {len(parsed.rejected)} rejected, "
            f"{parsed.duplicates} repeated in the upload"
        )
        with session_scope() as s:
            result = store_parsed(
                s, job_id=job_id, tenant_id=tenant_id, upload_id=upload.id, parsed=parsed, run=run
            )
            run.log(f"stored in {time.perf_counter() - started:.2f} s total")
            follow_up = _analysis_job(s, tenant_id=tenant_id, result=result, run=run)
            finish_or_stop(s, job_id=job_id, status="succeeded", result=result, logs=run.logs)
            summary = {k: v for k, v in result.items() if k != "tags_created"}
            publish(
                s,
                tenant_id=tenant_id,
                type="ingest.completed",
                key=job_id,
                data={"job_id": job_id, **summary},
            )
            audit.record(
                s, tenant_id=tenant_id, action="ingest.completed", subject_type="job",
                subject_id=job_id, facility_id=params.get("facility_id"),
                details={"upload_id": upload.id, "upload_sha256": upload.sha256,
                         "content_type": content_type, "bytes": len(content), **summary},
            )  # fmt: skip
        if follow_up is not None:  # committed with the ingest: safe to publish now
            dispatch(follow_up.id, follow_up.kind)


def _analysis_job(session: Session, *, tenant_id: str, result: dict, run: JobRun) -> Job | None:
    """The analysis of what this ingest changed, as a job in the same transaction."""
    ranges = result.pop("ranges")
    if not (result["inserted"] or result["updated"]) or not ranges:
        return None
    job = create_job(session, tenant_id=tenant_id, kind=kinds.ANALYSE, params={"ranges": ranges})
    run.log(f"analysis queued as {job.id}")
    result["analysis_job_id"] = job.id
    return job


def _parse(content: bytes, content_type: str, *, facility_id: str | None) -> ingest.ParsedPoints:
    if content_type.startswith("application/json"):
        return ingest.parse_batch(content, facility_id=facility_id)
    return ingest.parse_csv(content, facility_id=facility_id)


def store_parsed(
    session: Session,
    *,
    job_id: str,
    tenant_id: str,
    upload_id: str | None,
    parsed: ingest.ParsedPoints,
    run: JobRun | None = None,
) -> dict[str, int | list[str]]:
    """Resolve tags, upsert points and record rejected rows; return the job's counts."""
    points = parsed.points
    resolved = resolve_tags(
        session, tenant_id=tenant_id, points=points, intervals=ingest.infer_intervals(points)
    )
    if resolved.tags_created and run is not None:
        run.log(f"created {len(resolved.tags_created)} tag(s): {', '.join(resolved.tags_created)}")
    kept = points[resolved.keep]
    counts = upsert_points(
        session,
        tag_id=resolved.tag_id,
        ts=kept["ts"],
        value=kept["value"].to_numpy(),
        quality=kept["quality"].to_numpy(),
    )
    rejected = pd.concat(
        [parsed.rejected, _with_raw(resolved.rejected, parsed)], ignore_index=True
    ).sort_values("row", kind="stable")
    # A redelivered job replaces, never adds to, its rejected rows.
    session.execute(delete(RejectedRow).where(RejectedRow.job_id == job_id))
    if not rejected.empty:
        session.execute(
            insert(RejectedRow),
            [
                {
                    "tenant_id": tenant_id,
                    "job_id": job_id,
                    "upload_id": upload_id,
                    "row_number": int(r),
                    "reason": str(why)[:300],
                    "raw": str(raw),
                }
                for r, why, raw in rejected[["row", "reason", "raw"]].itertuples(index=False)
            ],
        )
    return {
        "ranges": _ranges(resolved.tag_id, kept["ts"]),
        "rows": parsed.rows,
        "accepted": parsed.rows - len(rejected),
        "inserted": counts.inserted,
        "updated": counts.updated,
        "duplicates": counts.unchanged + parsed.duplicates,
        "rejected": len(rejected),
        "tags_created": resolved.tags_created,
    }


def _ranges(tag_id: np.ndarray, ts: pd.Series) -> dict[str, list[str]]:
    """First and last timestamp per tag id (ISO 8601 UTC), for the follow-up analysis."""
    if len(tag_id) == 0:
        return {}
    frame = pd.DataFrame({"tag": tag_id, "ts": ts.to_numpy()})
    bounds = frame.groupby("tag")["ts"].agg(["min", "max"])
    return {
        str(tag): [iso(lo.to_pydatetime()), iso(hi.to_pydatetime())]
        for tag, lo, hi in bounds.itertuples()
    }


def _with_raw(rejected: pd.DataFrame, parsed: ingest.ParsedPoints) -> pd.DataFrame:
    if rejected.empty:
        return rejected.assign(raw=pd.Series(dtype=object))
    points = parsed.points.set_index("row")
    raw = [
        f"{p.facility_id},{p.tag},{p.ts.isoformat()},{p.value!r},{p.unit}"
        for p in points.loc[rejected["row"]].itertuples()
    ]
    return rejected.assign(raw=raw)
