"""Request and response bodies of the public API."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PAGE = 10**9  # (page - 1) * limit stays far inside a signed 64-bit OFFSET
# Names and units hold no control characters (NUL, CR, LF, ESC, ...): the same rule as ingest.
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"


class Pagination(BaseModel):
    total: int | None = Field(description="Items in the listing; null on a cursor page")
    page: int | None = Field(description="Page number; null on a cursor page")
    per_page: int


class CursorFields(BaseModel):
    has_more: bool = Field(description="Whether items follow this page")
    next: str | None = Field(
        description="Path and query of the next page (by cursor), or null on the last"
    )


class DataPointOut(BaseModel):
    id: str
    facility_id: str
    tag: str
    timestamp: str
    value: float
    unit: str
    quality: Literal["good", "uncertain", "bad"]


class DataPointPage(CursorFields):
    data: list[DataPointOut]
    pagination: Pagination


class Accepted(BaseModel):
    job_id: str
    upload_id: str | None = None
    status: str = "queued"


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone '{value}' (use an IANA name like America/Los_Angeles)"
        ) from exc
    return value


# Input models are strict: JSON types are not coerced ("1" is not a number, 0 not a boolean).
class FacilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    timezone: str = "UTC"
    strict_tags: bool = Field(default=False, description="Refuse points of tags not created first.")
    carb_facility_id: str = Field(
        default="", max_length=60, description="The facility / FSE id registered in LRT-CBTS"
    )

    _tz = field_validator("timezone")(_check_timezone)


class FacilityPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE)
    timezone: str | None = None
    strict_tags: bool | None = None
    carb_facility_id: str | None = Field(default=None, max_length=60)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)


class FacilityOut(BaseModel):
    id: str
    name: str
    timezone: str
    strict_tags: bool
    carb_facility_id: str
    created_at: str


class FacilityPage(BaseModel):
    data: list[FacilityOut]
    pagination: Pagination


Role = Literal["rate", "totalizer", "analyzer", "other"]


class TagRules(BaseModel):
    """Quality rules and alert thresholds of a tag; null means the default."""

    flatline_tolerance: float | None = Field(
        default=None, ge=0, description="|change| counted as flat"
    )
    flatline_min_s: float | None = Field(
        default=None, gt=0, description="Flat this long (s) is a flatline"
    )
    spike_threshold: float | None = Field(
        default=None, gt=0, description="Spike test threshold (units)"
    )
    max_rate: float | None = Field(default=None, gt=0, description="Max |change| per second")
    alert_gap_minutes: float | None = Field(default=None, gt=0)
    alert_completeness: float | None = Field(default=None, ge=0, le=1)
    alert_flatline_hours: float | None = Field(default=None, gt=0)


class TagIn(TagRules):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    unit: str = Field(default="", max_length=40, pattern=PRINTABLE)
    expected_interval_seconds: float | None = Field(default=None, gt=0)
    min_value: float | None = None
    max_value: float | None = None
    role: Role = "rate"
    description: str = Field(default="", max_length=500)


class TagPatch(TagRules):
    model_config = ConfigDict(extra="forbid", strict=True)
    unit: str | None = Field(default=None, max_length=40, pattern=PRINTABLE)
    expected_interval_seconds: float | None = Field(default=None, gt=0)
    min_value: float | None = None
    max_value: float | None = None
    role: Role | None = None
    description: str | None = Field(default=None, max_length=500)


class TagOut(BaseModel):
    name: str
    facility_id: str
    unit: str
    expected_interval_seconds: float | None
    interval_inferred: bool
    min_value: float | None
    max_value: float | None
    role: str
    description: str
    flatline_tolerance: float | None
    flatline_min_s: float | None
    spike_threshold: float | None
    max_rate: float | None
    alert_gap_minutes: float | None
    alert_completeness: float | None
    alert_flatline_hours: float | None
    created_at: str


class TagList(BaseModel):
    data: list[TagOut]


class LogLine(BaseModel):
    timestamp: str
    level: str
    message: str


class JobOut(BaseModel):
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


class JobPage(CursorFields):
    data: list[JobOut]
    pagination: Pagination


class RejectedRowOut(BaseModel):
    row: int
    reason: str
    raw: str


class RejectedRowPage(BaseModel):
    data: list[RejectedRowOut]
    pagination: Pagination


# --- bodies that routes read themselves (raw JSON, CSV, multipart), documented for OpenAPI ----


def request_body(content: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``openapi_extra`` declaring the body of a route that reads ``request`` itself."""
    return {
        "requestBody": {"required": True, "content": {k: {"schema": v} for k, v in content.items()}}
    }


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined (for ``request_body``)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        return [resolve(v) for v in node] if isinstance(node, list) else node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


POINT_EXAMPLE = {"facility_id": "fac_...", "tag": "biogas_flow",
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
}
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
}
