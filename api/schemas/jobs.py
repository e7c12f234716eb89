"""Jobs: the state, logs and outcome of enqueued work, and the rows an ingest refused."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from api.schemas.common import CursorFields, Pagination, page_example
from worker.storage.jobs import job_view
from worker.storage.models import Job, RejectedRow


class LogLine(BaseModel):
    timestamp: str
    level: str
    message: str


class JobOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "job_8m2k4x9q7c3v1b6n", "kind": "ingest.process_upload", "status": "succeeded",
        "created_at": "2025-10-01T12:00:00Z", "started_at": "2025-10-01T12:00:01Z",
        "finished_at": "2025-10-01T12:00:03Z", "duration_ms": 1840, "attempts": 1,
        "upload_id": "upl_2x8c4v6b1k3z9q7m", "params": {},
        "result": {"rows": 1440, "accepted": 1438, "rejected": 2}, "error": None,
        "logs": [{"timestamp": "2025-10-01T12:00:00Z", "level": "info", "message": "queued"}],
    }]})  # fmt: skip

    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    attempts: int
    upload_id: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    logs: list[LogLine]

    @classmethod
    def of(cls, job: Job) -> JobOut:
        # job_view is the shape the CLI prints too (tickwork job).
        return cls.model_validate(job_view(job))


class JobPage(CursorFields):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(
        JobOut, total=31, per_page=1, has_more=True,
        next="/v1/jobs?status=succeeded&limit=1&starting_after=job_8m2k4x9q7c3v1b6n",
    )]})  # fmt: skip

    data: list[JobOut]
    pagination: Pagination


class RejectedRowOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "row": 17, "reason": "timestamp has no UTC offset",
        "raw": "fac_3kz9q7m2x8c4v6b1,biogas_flow,2025-10-01T00:17:00,412.5",
    }]})  # fmt: skip

    row: int
    reason: str
    raw: str

    @classmethod
    def of(cls, r: RejectedRow) -> RejectedRowOut:
        return cls(row=r.row_number, reason=r.reason, raw=r.raw)


class RejectedRowPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(RejectedRowOut)]})

    data: list[RejectedRowOut]
    pagination: Pagination
