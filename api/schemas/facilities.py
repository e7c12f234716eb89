"""Facilities and their tags: request and response bodies."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.errors import ApiError
from api.schemas.common import PRINTABLE, Pagination, example_of, page_example
from worker.storage.events import iso
from worker.storage.models import Facility, Tag

RULE_FIELDS = (
    "flatline_tolerance",
    "flatline_min_s",
    "spike_threshold",
    "max_rate",
    "alert_gap_minutes",
    "alert_completeness",
    "alert_flatline_hours",
)
# What a tag PATCH may set to null (clearing it); null elsewhere leaves the value alone.
CLEARABLE = ("expected_interval_s", "min_value", "max_value", *RULE_FIELDS)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone '{value}' (use an IANA name like America/Los_Angeles)"
        ) from exc
    return value


def check_limits(min_value: float | None, max_value: float | None) -> None:
    """400 on ``min_value`` when the range is upside down."""
    if min_value is not None and max_value is not None and min_value > max_value:
        raise ApiError(
            400, "invalid_parameter", "min_value is greater than max_value", field="min_value"
        )


# Input models are strict: JSON types are not coerced ("1" is not a number, 0 not a boolean).
class FacilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "name": "Valley RNG", "timezone": "America/Los_Angeles", "strict_tags": False,
        "carb_facility_id": "F-0042",
    }]})  # fmt: skip
    name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    timezone: str = "UTC"
    strict_tags: bool = Field(default=False, description="Refuse points of tags not created first.")
    carb_facility_id: str = Field(
        default="", max_length=60, description="The facility / FSE id registered in LRT-CBTS"
    )

    _tz = field_validator("timezone")(_check_timezone)


class FacilityPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "name": "Valley RNG (Plant 2)", "strict_tags": True,
    }]})  # fmt: skip
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=PRINTABLE)
    timezone: str | None = None
    strict_tags: bool | None = None
    carb_facility_id: str | None = Field(default=None, max_length=60)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    def changes(self) -> dict[str, Any]:
        """The columns to set: those sent, null ones left alone."""
        return self.model_dump(exclude_unset=True, exclude_none=True)


class FacilityOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "fac_3kz9q7m2x8c4v6b1", "name": "Valley RNG", "timezone": "America/Los_Angeles",
        "strict_tags": False, "carb_facility_id": "F-0042", "created_at": "2025-10-01T12:00:00Z",
    }]})  # fmt: skip

    id: str
    name: str
    timezone: str
    strict_tags: bool
    carb_facility_id: str
    created_at: str

    @classmethod
    def of(cls, f: Facility) -> FacilityOut:
        return cls(id=f.id, name=f.name, timezone=f.timezone, strict_tags=f.strict_tags,
                   carb_facility_id=f.carb_facility_id, created_at=iso(f.created_at))  # fmt: skip


class FacilityPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(FacilityOut)]})

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
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "name": "biogas_flow", "unit": "scfm", "expected_interval_seconds": 60.0,
        "min_value": 0.0, "role": "rate", "description": "Digester gas to the upgrader",
        "alert_gap_minutes": 30.0, "alert_completeness": 0.95,
    }]})  # fmt: skip
    name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    unit: str = Field(default="", max_length=40, pattern=PRINTABLE)
    expected_interval_seconds: float | None = Field(default=None, gt=0)
    min_value: float | None = None
    max_value: float | None = None
    role: Role = "rate"
    description: str = Field(default="", max_length=500)

    def columns(self) -> dict[str, Any]:
        """The tag's columns but its name, by their stored names."""
        return {"unit": self.unit, "expected_interval_s": self.expected_interval_seconds,
                "min_value": self.min_value, "max_value": self.max_value, "role": self.role,
                "description": self.description,
                **{name: getattr(self, name) for name in RULE_FIELDS}}  # fmt: skip


class TagPatch(TagRules):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "max_value": 2000.0, "flatline_min_s": 3600.0, "alert_gap_minutes": None,
    }]})  # fmt: skip
    unit: str | None = Field(default=None, max_length=40, pattern=PRINTABLE)
    expected_interval_seconds: float | None = Field(default=None, gt=0)
    min_value: float | None = None
    max_value: float | None = None
    role: Role | None = None
    description: str | None = Field(default=None, max_length=500)

    def changes(self) -> dict[str, Any]:
        """The columns to set, by their stored names: those sent; null clears a limit, a rule or
        the interval, and leaves anything else alone."""
        sent = self.model_dump(exclude_unset=True)
        if "expected_interval_seconds" in sent:
            sent["expected_interval_s"] = sent.pop("expected_interval_seconds")
        return {k: v for k, v in sent.items() if v is not None or k in CLEARABLE}


class TagOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "biogas_flow", "facility_id": "fac_3kz9q7m2x8c4v6b1", "unit": "scfm",
        "expected_interval_seconds": 60.0, "interval_inferred": False, "min_value": 0.0,
        "max_value": None, "role": "rate", "description": "", "flatline_tolerance": None,
        "flatline_min_s": None, "spike_threshold": None, "max_rate": None,
        "alert_gap_minutes": None, "alert_completeness": None, "alert_flatline_hours": None,
        "created_at": "2025-10-01T12:00:00Z",
    }]})  # fmt: skip

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

    @classmethod
    def of(cls, t: Tag) -> TagOut:
        return cls(
            name=t.name, facility_id=t.facility_id, unit=t.unit,
            expected_interval_seconds=t.expected_interval_s, interval_inferred=t.interval_inferred,
            min_value=t.min_value, max_value=t.max_value, role=t.role, description=t.description,
            **{name: getattr(t, name) for name in RULE_FIELDS}, created_at=iso(t.created_at),
        )  # fmt: skip


class TagList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [example_of(TagOut)]}]})

    data: list[TagOut]
