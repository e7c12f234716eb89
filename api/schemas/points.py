"""Data points: read back, and the batches and files that queue them for ingest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import CursorFields, Pagination, example_of, page_example
from pipelines.ingest import QUALITY_NAMES
from worker.storage.readings import ArchivedRange, Reading

Quality = Literal["good", "uncertain", "bad"]


class DataPointOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "dp_17_1759276800000000", "facility_id": "fac_3kz9q7m2x8c4v6b1",
        "tag": "biogas_flow", "timestamp": "2025-10-01T00:00:00Z", "value": 412.5,
        "unit": "scfm", "quality": "good",
    }]})  # fmt: skip

    id: str
    facility_id: str
    tag: str
    timestamp: str
    value: float
    unit: str
    quality: Quality

    @classmethod
    def of(cls, r: Reading, *, facility_id: str) -> DataPointOut:
        return cls(id=r.id, facility_id=facility_id, tag=r.tag,
                   timestamp=r.ts.isoformat().replace("+00:00", "Z"), value=r.value, unit=r.unit,
                   quality=cast(Quality, QUALITY_NAMES.get(r.quality, "bad")))  # fmt: skip


class ArchivedRangeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "start": "2024-09-01T00:00:00Z", "end": "2024-10-01T00:00:00Z", "points": 86400,
        "restore": "tickwork points restore 2024-09",
    }]})  # fmt: skip

    start: str = Field(description="First instant of the archived month (UTC)")
    end: str = Field(description="First instant after it (exclusive)")
    points: int = Field(description="Points of the requested tags in the archive")
    restore: str = Field(description="The command an operator runs to bring them back")

    @classmethod
    def of(cls, a: ArchivedRange) -> ArchivedRangeOut:
        return cls(start=_utc(a.start), end=_utc(a.end), points=a.points,
                   restore=f"tickwork points restore {a.start:%Y-%m}")  # fmt: skip


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class DataPointPage(CursorFields):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(
        DataPointOut, total=1543, per_page=1, has_more=True,
        next="/v1/data-points?facility_id=fac_3kz9q7m2x8c4v6b1&start_date=2025-10-01"
        "&end_date=2025-10-31&limit=1&starting_after=dp_17_1759276800000000", archived=[],
    ), page_example(
        DataPointOut, total=1, per_page=100, has_more=False, next=None,
        archived=[example_of(ArchivedRangeOut)],
    )]})  # fmt: skip

    data: list[DataPointOut]
    pagination: Pagination
    archived: list[ArchivedRangeOut] = Field(
        default_factory=list,
        description="Months in the requested range whose points of these tags were moved to "
        "archive files (retention) and are therefore not in `data` or `pagination.total`; "
        "empty when nothing requested is archived",
    )


class Accepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "job_id": "job_8m2k4x9q7c3v1b6n", "upload_id": "upl_2x8c4v6b1k3z9q7m", "status": "queued",
    }]})  # fmt: skip

    job_id: str
    upload_id: str | None = None
    status: str = "queued"


POINT_EXAMPLE = {"facility_id": "fac_3kz9q7m2x8c4v6b1", "tag": "biogas_flow",
                 "timestamp": "2025-10-01T00:00:00Z", "value": 412.5, "unit": "scfm",
                 "quality": "good"}  # fmt: skip
POINT_BATCH = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "facility_id": {
            "type": ["string", "null"],
            "description": "The facility of points that leave out facility_id",
        },
        "data": {
            "type": "array",
            "minItems": 1,
            "description": "Points {facility_id?, tag, timestamp (ISO 8601 with offset), value, "
            "unit?, quality? (good|uncertain|bad)}. The worker validates each: an invalid one "
            "becomes a rejected row of the job, with its reason.",
            "items": {"examples": [POINT_EXAMPLE]},
        },
    },
    "examples": [{"facility_id": "fac_3kz9q7m2x8c4v6b1", "data": [
        {"tag": "biogas_flow", "timestamp": "2025-10-01T00:00:00Z", "value": 412.5,
         "unit": "scfm", "quality": "good"},
        {"tag": "biogas_flow", "timestamp": "2025-10-01T00:01:00Z", "value": 409.8,
         "unit": "scfm"},
        {"tag": "ch4_pct", "timestamp": "2025-10-01T00:00:00-07:00", "value": 58.2, "unit": "%"},
    ]}],
}  # fmt: skip
CSV_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "UTF-8 CSV: facility_id,tag,timestamp,value[,unit][,quality]",
        },
        "facility_id": {"type": "string", "description": "The facility of the whole file"},
    },
    "examples": [{
        "file": "tag,timestamp,value,unit,quality\n"
                "biogas_flow,2025-10-01T00:00:00Z,412.5,scfm,good\n"
                "biogas_flow,2025-10-01T00:01:00Z,409.8,scfm,good\n",
        "facility_id": "fac_3kz9q7m2x8c4v6b1",
    }],
}  # fmt: skip
