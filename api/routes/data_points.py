"""Data points: read them back; accept JSON batches and CSV files for the ingest queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api import enqueue
from api.deps import CallerDep, ReadSession, WriterDep, WriteSession, owned_facility
from api.errors import ApiError, responses
from api.pages import StartingAfter, bad_cursor, either_page_or_cursor, next_link
from api.params import DATE_EXAMPLES, parse_bound
from api.schemas import (
    CSV_UPLOAD,
    MAX_PAGE,
    POINT_BATCH,
    Accepted,
    ArchivedRangeOut,
    DataPointOut,
    DataPointPage,
    Pagination,
    request_body,
)
from api.uploads import FormFile, MultipartFile, media_type, read_body
from worker.settings import get_settings
from worker.storage import readings

router = APIRouter(tags=["data points"])


@router.get("/data-points")
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
    who: CallerDep,
    session: ReadSession,
) -> DataPointPage:
    """Readings oldest first (then by tag name). Page by ``page`` or, faster deep into a long
    range, by ``starting_after`` (the ``next`` link). ``archived`` lists the months of the range
    whose points were moved to archive files and are not in the answer."""
    if not 1 <= limit <= 1000:
        raise ApiError(400, "invalid_parameter", "limit must be between 1 and 1000", field="limit")
    if not 1 <= page <= MAX_PAGE:
        raise ApiError(400, "invalid_parameter", f"page must be between 1 and {MAX_PAGE}",
                       field="page")  # fmt: skip
    either_page_or_cursor(page, starting_after)
    start = parse_bound(start_date, "start_date", end=False)
    end = parse_bound(end_date, "end_date", end=True)
    if end < start:
        raise ApiError(400, "invalid_parameter", "end_date is before start_date", field="end_date")
    facility = owned_facility(session, who, facility_id)
    names = sorted({n.strip() for t in tags or [] for n in t.split(",") if n.strip()})
    found = readings.read_points(session, tenant_id=who.tenant_id, facility_id=facility.id,
                                 names=names, start=start, end=end, limit=limit, page=page,
                                 after=starting_after)  # fmt: skip
    if found is None:
        raise bad_cursor()
    data = [DataPointOut.of(r, facility_id=facility.id) for r in found.readings]
    counted = starting_after is None
    pagination = Pagination(total=found.total, page=page if counted else None, per_page=limit)
    nxt = next_link(request, data[-1].id) if found.has_more and data else None
    return DataPointPage(data=data, pagination=pagination, has_more=found.has_more, next=nxt,
                         archived=[ArchivedRangeOut.of(a) for a in found.archived])  # fmt: skip


def _too_large(size: int) -> ApiError:
    limit = get_settings().max_upload_bytes
    message = f"the upload is {size} bytes; the limit is {limit} bytes: split the file"
    return ApiError(413, "payload_too_large", message)


@dataclass(frozen=True)
class PointBatch:
    content: bytes  # the body as received: the worker parses it again, point by point
    facility_id: str | None


async def point_batch(request: Request) -> PointBatch:
    """The body of ``POST /v1/data-points``: ``{"facility_id"?, "data": [...]}``, checked as a
    whole (the points themselves are the worker's to check)."""
    if media_type(request) != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the batch as application/json "
                       "(CSV files go to POST /v1/data-points/import)")  # fmt: skip
    settings = get_settings()
    body = await read_body(request, limit=settings.max_upload_bytes, too_large=_too_large)
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # also "[[[[..."
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from exc
    items = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise ApiError(400, "invalid_parameter", 'the body must be {"data": [ ...points ]}',
                       field="data")  # fmt: skip
    if not items:
        raise ApiError(400, "invalid_parameter", "data is empty", field="data")
    if len(items) > settings.max_batch_points:
        raise ApiError(413, "too_many_points",
                       f"{len(items)} points in one batch; the limit is "
                       f"{settings.max_batch_points}: send several batches or a CSV file",
                       field="data")  # fmt: skip
    facility_id = payload.get("facility_id")
    if facility_id is not None and not isinstance(facility_id, str):
        raise ApiError(400, "invalid_parameter", "facility_id must be a string",
                       field="facility_id")  # fmt: skip
    return PointBatch(content=body, facility_id=facility_id)


csv_file = MultipartFile(
    limit=lambda settings: settings.max_upload_bytes,
    too_large=_too_large,
    unsupported="send the CSV as multipart/form-data with the file in the 'file' field, "
    "e.g. curl -F file=@points.csv",
    fields={"facility_id": None},
)


@router.post("/data-points", status_code=202, responses=responses(413, 415),
             openapi_extra=request_body({"application/json": POINT_BATCH}))  # fmt: skip
def ingest_batch(
    who: WriterDep,
    batch: PointBatch = Depends(point_batch),
    *,
    session: WriteSession,
) -> Accepted:
    """Queue a JSON batch ``{"data": [{facility_id, tag, timestamp, value, unit?, quality?}]}``.

    Each point is validated by the worker; invalid points become rejected rows of the job.
    """
    if batch.facility_id is not None:
        owned_facility(session, who, batch.facility_id)
    return enqueue.points(session, tenant_id=who.tenant_id, content=batch.content,
                          facility_id=batch.facility_id)  # fmt: skip


@router.post("/data-points/import", status_code=202, responses=responses(413, 415),
             openapi_extra=request_body({"multipart/form-data": CSV_UPLOAD}))  # fmt: skip
def import_csv(
    who: WriterDep,
    file: FormFile = Depends(csv_file),
    *,
    session: WriteSession,
) -> Accepted:
    """Queue a CSV file (multipart field ``file``; optional field ``facility_id``).

    Columns: ``facility_id,tag,timestamp,value[,unit][,quality]``; ``facility_id`` may be left
    out when the form names the facility. The raw file is kept even when it is refused.
    """
    facility_id = file.fields["facility_id"]
    if facility_id is not None:
        owned_facility(session, who, facility_id)
    return enqueue.points_csv(session, tenant_id=who.tenant_id, file=file,
                              facility_id=facility_id)  # fmt: skip
