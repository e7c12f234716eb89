"""Typed models of the API's resources: plain dataclasses with a small parse layer.

Timestamps become timezone-aware :class:`datetime.datetime` (UTC), calendar days
:class:`datetime.date`. Fields the server sends that this version of the client does not know are
kept in ``extra`` (so a newer server does not break an older client); fields it leaves out take
their defaults. ``Model.from_dict`` parses one object; ``to_dict`` gives the JSON shape back.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Self, TypeVar, Union, get_args, get_origin

M = TypeVar("M", bound="Model")


def parse_datetime(value: str | datetime) -> datetime:
    """An ISO 8601 date-time (``Z`` or an offset) as an aware datetime; naive text is UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime | date | str) -> str:
    """A query or body value: datetimes as ISO 8601 in UTC with ``Z`` (naive ones are taken as
    UTC), dates as ``YYYY-MM-DD``, strings as given."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclasses.dataclass(kw_only=True)
class Model:
    """Base of every model: ``extra`` holds the fields this client does not know."""

    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    _aliases: ClassVar[dict[str, str]] = {}  # JSON name -> attribute name, where they differ

    @classmethod
    def from_dict(cls, data: typing.Mapping[str, Any]) -> Self:
        fields = _fields(cls)
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            name = cls._aliases.get(key, key)
            if name in fields and name != "extra":
                known[name] = _convert(fields[name], value)
            else:
                extra[key] = value
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (datetimes back to ISO 8601 ``Z``; ``extra`` merged in)."""
        reverse = {v: k for k, v in self._aliases.items()}
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[reverse.get(f.name, f.name)] = _plain(getattr(self, f.name))
        out.update(self.extra)
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, datetime | date):
        return format_datetime(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_FIELDS: dict[type, dict[str, Any]] = {}


def _fields(cls: type) -> dict[str, Any]:
    """Each field's resolved type hint (computed once per class)."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _FIELDS[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return found


def _convert(hint: Any, value: Any) -> Any:
    """``value`` from JSON as ``hint`` says: datetimes, dates, nested models, lists and dicts of
    them; anything the hint does not describe is kept as it came."""
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in get_args(hint):
            if arg is type(None):
                continue
            try:
                return _convert(arg, value)
            except (TypeError, ValueError):
                continue
        return value
    if hint is datetime:
        return parse_datetime(value) if isinstance(value, str | datetime) else value
    if hint is date:
        return date.fromisoformat(value[:10]) if isinstance(value, str) else value
    if isinstance(hint, type) and issubclass(hint, Model):
        return hint.from_dict(value) if isinstance(value, typing.Mapping) else value
    if origin is list and isinstance(value, list):
        (item,) = get_args(hint) or (Any,)
        return [_convert(item, v) for v in value]
    if origin is dict and isinstance(value, dict):
        _, item = get_args(hint) or (str, Any)
        return {k: _convert(item, v) for k, v in value.items()}
    return value


# --- data points and jobs ----------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class DataPoint(Model):
    id: str
    facility_id: str
    tag: str
    timestamp: datetime
    value: float
    unit: str = ""
    quality: str = "good"


@dataclasses.dataclass(kw_only=True)
class ArchivedRange(Model):
    """A month of a data-point listing whose points were moved to an archive file on the server
    (retention): they are not in the listing. An operator brings them back with ``restore``."""

    start: datetime
    end: datetime  # exclusive
    points: int = 0
    restore: str = ""


@dataclasses.dataclass(kw_only=True)
class Accepted(Model):
    """The answer to an ingest: the job to wait for."""

    job_id: str
    upload_id: str | None = None
    status: str = "queued"


@dataclasses.dataclass(kw_only=True)
class LogLine(Model):
    timestamp: datetime
    level: str
    message: str


@dataclasses.dataclass(kw_only=True)
class Job(Model):
    """A background job. ``result`` holds the counts of an ingest (``rows``, ``accepted``,
    ``inserted``, ``updated``, ``duplicates``, ``rejected``)."""

    id: str
    kind: str
    status: str  # queued, running, succeeded, failed
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    attempts: int = 0
    upload_id: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    logs: list[LogLine] = dataclasses.field(default_factory=list)

    FINAL: ClassVar[frozenset[str]] = frozenset({"succeeded", "failed"})

    @property
    def done(self) -> bool:
        return self.status in self.FINAL


@dataclasses.dataclass(kw_only=True)
class RejectedRow(Model):
    row: int
    reason: str
    raw: str = ""


# --- facilities and tags -----------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class Facility(Model):
    id: str
    name: str
    timezone: str = "UTC"
    strict_tags: bool = False
    carb_facility_id: str = ""
    created_at: datetime | None = None


@dataclasses.dataclass(kw_only=True)
class Tag(Model):
    name: str
    facility_id: str
    unit: str = ""
    expected_interval_seconds: float | None = None
    interval_inferred: bool = False
    min_value: float | None = None
    max_value: float | None = None
    role: str = ""
    description: str = ""
    flatline_tolerance: float | None = None
    flatline_min_s: float | None = None
    spike_threshold: float | None = None
    max_rate: float | None = None
    alert_gap_minutes: float | None = None
    alert_completeness: float | None = None
    alert_flatline_hours: float | None = None
    created_at: datetime | None = None


@dataclasses.dataclass(kw_only=True)
class FuelMapping(Model):
    """How a meter tag becomes LCFS fuel (``PUT /v1/facilities/{id}/fuel-mappings``)."""

    tag: str
    fuel_pathway_code: str
    fuel_type: str
    ci: float
    unit: str
    kind: str | None = None
    rate_per: str | None = None
    application: str | None = None
    eer: float | None = None
    transaction_type: str | None = None
    rollover_at: float | None = None
    interval_s: float | None = None
    role: str | None = None
    business_partner: str | None = None
    hhv_btu_per_scf: float | None = None
    lhv_hhv_ratio: float | None = None


# --- analyses ----------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class Gap(Model):
    id: str
    facility_id: str
    tag: str
    gap_start: datetime
    gap_end: datetime
    duration_minutes: float
    missing_points: int
    status: str  # open, closed, resolved
    detected_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclasses.dataclass(kw_only=True)
class QualityScore(Model):
    """One tag's quality on one facility-local day; every dimension the server reports beyond
    these (completeness, validity, flatline minutes, spikes, ...) is in ``extra``."""

    facility_id: str
    tag: str
    day: date
    period_start: datetime
    period_end: datetime
    score: float

    def __getitem__(self, name: str) -> Any:
        """A dimension by name, e.g. ``q["completeness"]``."""
        return self.extra[name]


@dataclasses.dataclass(kw_only=True)
class Alert(Model):
    id: str
    facility_id: str
    tag: str
    rule: str
    message: str = ""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    triggered_at: datetime | None = None
    acknowledged_at: datetime | None = None  # when someone marked it seen
    acknowledged_by: str = ""  # api_key:<id of the key used>


@dataclasses.dataclass(kw_only=True)
class Event(Model):
    """An event as webhooks carry it: ``{"event", "timestamp", "data"}``. From
    ``webhooks.verify``, ``id`` is the delivery's ``webhook-id``."""

    event: str
    timestamp: datetime
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str | None = None


# --- reports and documents ---------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class Report(Model):
    id: str
    status: str  # queued, generated, failed
    facility_id: str
    report_type: str = "lcfs_quarterly"
    quarter: str = ""
    year: int = 0
    format: str = "pdf"
    draft: bool = False
    preparer: str | None = None
    reviewer: str | None = None
    job_id: str | None = None
    has_data: bool | None = None
    totals: dict[str, Any] | None = None
    input_sha256: str | None = None
    file_sha256: str | None = None
    file_size: int | None = None
    download_url: str | None = None
    error: Any = None
    created_at: datetime | None = None
    generated_at: datetime | None = None

    FINAL: ClassVar[frozenset[str]] = frozenset({"generated", "failed"})

    @property
    def done(self) -> bool:
        return self.status in self.FINAL


@dataclasses.dataclass(kw_only=True)
class DocumentField(Model):
    value: Any
    confidence: float
    source: str | None = None


@dataclasses.dataclass(kw_only=True)
class ErrorInfo(Model):
    code: str | None
    message: str = ""


@dataclasses.dataclass(kw_only=True)
class DocumentAccepted(Model):
    document_id: str
    job_id: str | None = None
    status: str = "queued"
    duplicate: bool = False


@dataclasses.dataclass(kw_only=True)
class Document(Model):
    id: str
    status: str  # queued, processed, failed
    document_type: str | None = None
    declared_type: str | None = None
    facility_id: str | None = None
    filename: str = ""
    sha256: str = ""
    pages: int | None = None
    fields: dict[str, DocumentField] = dataclasses.field(default_factory=dict)
    # A person's values (``{name: {"value", "reviewed_by", "reviewed_at", "extracted"}}``) and
    # the fields as they count (``{name: {"value", "confidence", "reviewed"}}``).
    reviewed_fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    effective_fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    warnings: list[Any] = dataclasses.field(default_factory=list)
    reconciliation: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    job_id: str | None = None
    resolution_note: str = ""
    created_at: datetime | None = None
    processed_at: datetime | None = None

    FINAL: ClassVar[frozenset[str]] = frozenset({"processed", "failed"})

    @property
    def done(self) -> bool:
        return self.status in self.FINAL


# --- webhooks ----------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class WebhookEndpoint(Model):
    """A subscription. ``secret`` (``whsec_...``) is only in the answer to ``create``."""

    id: str
    url: str
    description: str = ""
    event_types: list[str] = dataclasses.field(default_factory=list)
    enabled: bool = True
    disabled_reason: str | None = None
    legacy_signature: bool = False
    rate_limit: int | None = None
    failing_since: datetime | None = None
    created_at: datetime | None = None
    secret: str | None = None


@dataclasses.dataclass(kw_only=True)
class RotatedSecret(Model):
    id: str
    secret: str
    previous_secrets_expire_at: datetime | None = None


@dataclasses.dataclass(kw_only=True)
class WebhookMessage(Model):
    """A queued delivery (``test`` and ``resend``)."""

    message_id: str | None
    status: str = "pending"


@dataclasses.dataclass(kw_only=True)
class Recovery(Model):
    endpoint_id: str
    messages: int


@dataclasses.dataclass(kw_only=True)
class WebhookAttempt(Model):
    id: str
    message_id: str
    event_type: str
    attempted_at: datetime
    outcome: str
    status_code: int | None = None
    latency_ms: int | None = None
    response_excerpt: str | None = None
    error: str | None = None


# --- audit log ---------------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class AuditEntry(Model):
    """One entry of the tenant's hash-chained audit log; ``chain`` holds ``prev_hash`` and
    ``row_hash``, ``subject`` its ``type`` and ``id``."""

    id: str
    seq: int
    created_at: datetime
    action: str
    actor: str
    subject: dict[str, Any] = dataclasses.field(default_factory=dict)
    facility_id: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    chain: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class AuditVerification(Model):
    """``valid``, how many ``entries``, the chain ``head`` (``seq``, ``row_hash``: keep it
    elsewhere) and the ``first_problem`` (``kind``, ``seq``, ``entry_id``, ``message``) if any."""

    valid: bool
    entries: int
    head: dict[str, Any] = dataclasses.field(default_factory=dict)
    first_problem: dict[str, Any] | None = None


__all__ = [
    "Accepted",
    "Alert",
    "ArchivedRange",
    "AuditEntry",
    "AuditVerification",
    "DataPoint",
    "Document",
    "DocumentAccepted",
    "DocumentField",
    "ErrorInfo",
    "Event",
    "Facility",
    "FuelMapping",
    "Gap",
    "Job",
    "LogLine",
    "Model",
    "QualityScore",
    "Recovery",
    "RejectedRow",
    "Report",
    "RotatedSecret",
    "Tag",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
    "format_datetime",
    "parse_datetime",
]
