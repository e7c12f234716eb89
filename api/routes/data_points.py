"""Data points: read them back; accept JSON batches and CSV files for the ingest queue."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import Caller, caller, get_session, read_session, writer
from api.errors import ApiError, not_found, responses
from api.pages import StartingAfter, bad_cursor, next_link
from api.params import DATE_EXAMPLES, file_name, parse_bound
from api.schemas import (
    CSV_UPLOAD,
    MAX_PAGE,
    POINT_BATCH,
    Accepted,
    DataPointPage,
    request_body,
)
from pipelines.errors import PipelineError
from pipelines.ingest import QUALITY_NAMES, check_header
from worker import kinds
from worker.dispatch import dispatch
from worker.settings import get_settings
from worker.storage import readings
from worker.storage.jobs import create_job
from worker.storage.models import Facility, from_epoch_us, to_epoch_us
from worker.storage.uploads import save_upload

router = APIRouter(tags=["data points"])


@router.get("/data-points", response_model=DataPointPage)
def list_data_points(
    facility_id: Annotated[str, Query(description="The facility identifier")],
    start_date: Annotated[
        str, Query(description="Start (ISO 8601 date or date-time)", examples=DATE_EXAMPLES)
    ],
    end_date: Annotated[
        str,
        Query(description="End, inclusive (a date covers the whole day)", examples=DATE_EXAMPLES),
    ],
    tags: Annotated[
        list[str] | None, Query(description="Tag names; repeat or comma-separate")
    ] = None,
    limit: Annotated[int, Query(description="Results per page (max 1000)")] = 100,
    page: Annotated[int, Query(description="Page number, from 1")] = 1,
    starting_after: StartingAfter = None,
    *,
    request: Request,
    who: Caller = Depends(caller),
    session: Session = Depends(read_session),
) -> dict[str, Any]:
    """Readings oldest first (then by tag name). Page by ``page`` or, faster deep into a long
    range, by ``starting_after`` (the ``next`` link)."""
    if not 1 <= limit <= 1000:
        raise ApiError(400, "invalid_parameter", "limit must be between 1 and 1000", field="limit")
    if not 1 <= page <= MAX_PAGE:
        raise ApiError(
            400, "invalid_parameter", f"page must be between 1 and {MAX_PAGE}", field="page"
        )
    if starting_after is not None and page != 1:
        raise ApiError(400, "invalid_parameter", "give either page or starting_after", field="page")
    start = parse_bound(start_date, "start_date", end=False)
    end = parse_bound(end_date, "end_date", end=True)
    if end < start:
        raise ApiError(400, "invalid_parameter", "end_date is before start_date", field="end_date")
    facility = session.scalar(
        select(Facility).where(Facility.id == facility_id, Facility.tenant_id == who.tenant_id)
    )
    if facility is None:
        raise not_found("facility", facility_id)
    names = sorted({n.strip() for t in tags or [] for n in t.split(",") if n.strip()})
    refs = readings.facility_tags(session, tenant_id=who.tenant_id, facility_id=facility.id,
                                  names=names)  # fmt: skip
    if starting_after is None:
        rows = readings.list_readings(session, tags=refs, start=start, end=end, limit=limit + 1,
                                      offset=(page - 1) * limit)  # fmt: skip
        total = readings.count_readings(session, tags=refs, start=start, end=end)
        pagination: dict[str, Any] = {"total": total, "page": page, "per_page": limit}
    else:
        cursor = _point_cursor(starting_after, refs)
        rows = readings.list_readings(session, tags=refs, start=start, end=end, limit=limit + 1,
                                      after=cursor)  # fmt: skip
        pagination = {"total": None, "page": None, "per_page": limit}
    has_more, rows = len(rows) > limit, rows[:limit]
    data = [
        {
            "id": f"dp_{r.tag_id}_{to_epoch_us(r.ts)}",
            "facility_id": facility.id,
            "tag": r.tag,
            "timestamp": r.ts.isoformat().replace("+00:00", "Z"),
            "value": r.value,
            "unit": r.unit,
            "quality": QUALITY_NAMES.get(r.quality, "bad"),
        }
        for r in rows
    ]
    nxt = next_link(request, data[-1]["id"]) if has_more and data else None
    return {"data": data, "pagination": pagination, "has_more": has_more, "next": nxt}


_POINT_ID = re.compile(r"dp_(\d{1,18})_(-?\d{1,19})")


def _point_cursor(cursor: str, refs: list[readings.TagRef]) -> tuple[datetime, str]:
    """A data point id of one of the listed tags -> (timestamp, tag name); else 400."""
    found = _POINT_ID.fullmatch(cursor)
    names = {t.id: t.name for t in refs}
    if found is None or int(found.group(1)) not in names:
        raise bad_cursor()
    try:
        ts = from_epoch_us(int(found.group(2)))
    except (OverflowError, ValueError) as exc:
        raise bad_cursor() from exc
    return ts, names[int(found.group(1))]


def _check_facility(session: Session, who: Caller, facility_id: str | None) -> None:
    if facility_id is None:
        return
    found = session.scalar(
        select(Facility.id).where(Facility.id == facility_id, Facility.tenant_id == who.tenant_id)
    )
    if found is None:
        raise not_found("facility", facility_id)


def _too_large(size: int) -> ApiError:
    limit = get_settings().max_upload_bytes
    return ApiError(
        413,
        "payload_too_large",
        f"the upload is {size} bytes; the limit is {limit} bytes: split the file",
    )


def _enqueue(
    session: Session,
    who: Caller,
    *,
    content: bytes,
    content_type: str,
    filename: str,
    facility_id: str | None,
) -> dict[str, Any]:
    upload = save_upload(
        session,
        tenant_id=who.tenant_id,
        content=content,
        content_type=content_type,
        filename=filename,
    )
    params = {"facility_id": facility_id} if facility_id else {}
    job = create_job(
        session, tenant_id=who.tenant_id, kind=kinds.INGEST, upload_id=upload.id, params=params
    )
    session.commit()  # the worker must find the job: publish only after this commit
    dispatch(job.id, job.kind)
    return {"job_id": job.id, "upload_id": upload.id, "status": "queued"}


@router.post(
    "/data-points",
    status_code=202,
    response_model=Accepted,
    responses=responses(413, 415),
    openapi_extra=request_body({"application/json": POINT_BATCH}),
)
async def ingest_batch(
    request: Request,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Queue a JSON batch ``{"data": [{facility_id, tag, timestamp, value, unit?, quality?}]}``.

    Each point is validated by the worker; invalid points become rejected rows of the job.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the batch as application/json (CSV files go to POST /v1/data-points/import)",
        )
    settings = get_settings()
    declared = int(request.headers.get("content-length") or 0)
    if declared > settings.max_upload_bytes:
        raise _too_large(declared)
    body = await request.body()
    if len(body) > settings.max_upload_bytes:
        raise _too_large(len(body))
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # also "[[[[..."
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc
    items = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise ApiError(
            400, "invalid_parameter", 'the body must be {"data": [ ...points ]}', field="data"
        )
    if not items:
        raise ApiError(400, "invalid_parameter", "data is empty", field="data")
    if len(items) > settings.max_batch_points:
        raise ApiError(
            413,
            "too_many_points",
            f"{len(items)} points in one batch; the limit is "
            f"{settings.max_batch_points}: send several batches or a CSV file",
            field="data",
        )
    facility_id = payload.get("facility_id")
    if facility_id is not None and not isinstance(facility_id, str):
        raise ApiError(
            400, "invalid_parameter", "facility_id must be a string", field="facility_id"
        )

    def store() -> dict[str, Any]:
        _check_facility(session, who, facility_id)
        return _enqueue(
            session,
            who,
            content=body,
            content_type="application/json",
            filename="",
            facility_id=facility_id,
        )

    return await run_in_threadpool(store)


@router.post(
    "/data-points/import",
    status_code=202,
    response_model=Accepted,
    responses=responses(413, 415),
    openapi_extra=request_body({"multipart/form-data": CSV_UPLOAD}),
)
async def import_csv(
    request: Request,
    who: Caller = Depends(writer),
    session: Session = Depends(get_session),
) -> dict[str, Any]:
    """Queue a CSV file (multipart field ``file``; optional field ``facility_id``).

    Columns: ``facility_id,tag,timestamp,value[,unit][,quality]``; ``facility_id`` may be left
    out when the form names the facility. The raw file is kept even when it is refused.
    """
    settings = get_settings()
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the CSV as multipart/form-data with the file in the 'file' field, "
            "e.g. curl -F file=@points.csv",
        )
    declared = int(request.headers.get("content-length") or 0)
    if declared > settings.max_upload_bytes + 64 * 1024:
        raise _too_large(declared)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(
            400, "missing_parameter", "file is required (multipart field 'file')", field="file"
        )
    facility_id = form.get("facility_id")
    facility_id = facility_id.strip() or None if isinstance(facility_id, str) else None
    content = await upload.read()
    if len(content) > settings.max_upload_bytes:
        raise _too_large(len(content))
    if not content:
        raise ApiError(400, "empty_file", "the file is empty", field="file")
    filename = file_name(upload.filename)

    def store() -> dict[str, Any]:
        _check_facility(session, who, facility_id)
        try:
            check_header(content, facility_given=facility_id is not None)
        except PipelineError as exc:
            # Keep what was received, then refuse it: the upload id finds the bytes again.
            kept = save_upload(
                session,
                tenant_id=who.tenant_id,
                content=content,
                content_type="text/csv",
                filename=filename,
            )
            session.commit()
            raise ApiError(
                400, exc.code, str(exc), field="file", extra={"upload_id": kept.id}
            ) from exc
        return _enqueue(
            session,
            who,
            content=content,
            content_type="text/csv",
            filename=filename,
            facility_id=facility_id,
        )

    return await run_in_threadpool(store)
