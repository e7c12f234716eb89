"""The webhook events: the body each delivery POSTs and the ``data`` of each event type.

Every delivery is one JSON object ``{"event", "timestamp", "data"}`` (``worker.storage.events``
writes it in the outbox, ``pipelines.webhooks.encode_event`` serialises it) with the Standard
Webhooks headers (docs/webhooks.md). ``data`` is built where the change happens: gaps and alerts
in ``worker.storage.analysis``, reports in ``worker.storage.reports``, documents in
``worker.storage.documents``, ingests in ``worker.tasks.ingest``, a disabled endpoint in
``worker.storage.webhooks`` and the test message in ``worker.storage.endpoints``.

/openapi.json lists these under ``webhooks`` (api/events.py); tests/api/test_openapi_contract.py
checks events the code really sends against them. Receivers should ignore fields they do not
know: new ones may be added.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from pipelines.documents import DocumentType

# worker.storage.events.iso: UTC with "Z", microseconds when not zero.
UTC_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
Timestamp = Annotated[str, Field(pattern=UTC_TIMESTAMP, description="ISO 8601, UTC")]
Date = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")]
Quarter = Annotated[str, Field(pattern=r"^Q[1-4]$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# A key that is left out rather than sent as null: its schema is the value's alone.
Absent = SkipJsonSchema[None]

EVENT_TIMESTAMP = "When the event happened (ISO 8601, UTC); the same on every attempt"


class DeliveryHeaders(BaseModel):
    """The headers of every delivery attempt (Standard Webhooks v1; docs/webhooks.md)."""

    webhook_id: str = Field(
        description="The message id (msg_...): the same on every attempt of one message, "
        "so a receiver can drop a message it has already processed",
        examples=["msg_3v1b6n8m2k4x9q7c"],
    )
    webhook_timestamp: str = Field(
        pattern=r"^\d+$",
        description="Unix seconds when this attempt was sent: refuse old ones (replays)",
        examples=["1736951462"],
    )
    webhook_signature: str = Field(
        pattern=r"^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$",
        description='Space-separated "v1,<base64 HMAC-SHA256>" of "{webhook-id}.{webhook-'
        "timestamp}.{body}\", one per secret still signing (two during a rotation's grace "
        "period), keyed with the base64-decoded part of the endpoint's whsec_ secret",
        examples=["v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="],
    )
    x_signature: str | Absent = Field(
        default=None,
        pattern=r"^sha256=[0-9a-f]{64}$",
        description='Only for endpoints with legacy_signature: "sha256=<hex HMAC-SHA256 of the '
        'body>", keyed with the UTF-8 bytes of the whole whsec_ secret',
        examples=["sha256=0f1c7a3e5b9d2468ace013579bdf2468ace013579bdf2468ace013579bdf2468"],
    )


# --- data_gap.detected, data_gap.resolved ----------------------------------------------------


class GapData(BaseModel):
    gap_id: str
    facility_id: str
    tag: str
    gap_start: Timestamp = Field(description="The last usable reading before the gap")
    gap_end: Timestamp = Field(
        description="The first usable reading after it; while open, the end of what was analysed"
    )
    duration_minutes: float
    missing_points: int = Field(description="Readings missing at the tag's expected interval")
    open: bool = Field(description="No usable reading since: the gap may still grow")


class DataGapDetected(BaseModel):
    """A gap in a tag's readings was found (once per gap, when the analysis first sees it)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "data_gap.detected", "timestamp": "2025-01-15T14:31:02.417215Z",
        "data": {"gap_id": "gap_41", "facility_id": "fac_3kz9q7m2x8c4v6b1", "tag": "flow_rate",
                 "gap_start": "2025-01-15T12:00:00Z", "gap_end": "2025-01-15T14:30:00Z",
                 "duration_minutes": 150.0, "missing_points": 149, "open": False},
    }]})  # fmt: skip

    event: Literal["data_gap.detected"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: GapData


class DataGapResolved(BaseModel):
    """Late readings filled a gap announced before; ``data`` is the gap as it was."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "data_gap.resolved", "timestamp": "2025-01-16T03:12:40.118304Z",
        "data": {"gap_id": "gap_41", "facility_id": "fac_3kz9q7m2x8c4v6b1", "tag": "flow_rate",
                 "gap_start": "2025-01-15T12:00:00Z", "gap_end": "2025-01-15T14:30:00Z",
                 "duration_minutes": 150.0, "missing_points": 149, "open": False},
    }]})  # fmt: skip

    event: Literal["data_gap.resolved"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: GapData


# --- alert.triggered -------------------------------------------------------------------------


class _AlertData(BaseModel):
    alert_id: str
    facility_id: str
    tag: str
    message: str


class GapTooLongAlert(_AlertData):
    rule: Literal["gap_too_long"]
    gap_id: str
    gap_start: Timestamp
    duration_minutes: float


class LowCompletenessAlert(_AlertData):
    rule: Literal["low_completeness"]
    day: Date = Field(description="The facility's local day")
    completeness: float = Field(description="Fraction of the day's expected readings, 0-1")


class FlatlineAlert(_AlertData):
    rule: Literal["flatline"]
    day: Date = Field(description="The facility's local day")
    flatline_minutes: float


class AlertTriggered(BaseModel):
    """A tag crossed an alert threshold: a gap too long, a day too incomplete or too long flat.
    Once per tag, rule and occasion (the gap, or the day)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "alert.triggered", "timestamp": "2025-01-16T08:10:03.902114Z",
        "data": {"alert_id": "alr_5b1k3z9q7m2x8c4v", "facility_id": "fac_3kz9q7m2x8c4v6b1",
                 "tag": "flow_rate", "rule": "low_completeness",
                 "message": "flow_rate: 89.6% complete on 2025-01-15 (threshold 95%)",
                 "day": "2025-01-15", "completeness": 0.8958},
    }]})  # fmt: skip

    event: Literal["alert.triggered"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: GapTooLongAlert | LowCompletenessAlert | FlatlineAlert = Field(discriminator="rule")


# --- report.generated, report.failed ---------------------------------------------------------


class ReportTotals(BaseModel):
    """MT CO2e as the PDF prints them: two decimals, thousands separators."""

    credits_mt: str
    deficits_mt: str
    net_mt: str


class ReportGeneratedData(BaseModel):
    report_id: str
    facility_id: str
    report_type: str = Field(description="lcfs_quarterly")
    quarter: Quarter
    year: int
    format: Literal["pdf", "csv", "calculation_csv", "json"]
    draft: bool
    has_data: bool = Field(description="False: no meter data or transactions in the quarter")
    input_sha256: Sha256 = Field(description="Of the data the report was built from")
    file_sha256: Sha256 = Field(description="Of the file GET /v1/reports/{id}/file returns")
    totals: ReportTotals | None = Field(description="null when the quarter has no data")


class ReportGenerated(BaseModel):
    """A report's file is ready: ``GET /v1/reports/{report_id}/file``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "report.generated", "timestamp": "2026-01-05T09:00:12.530411Z",
        "data": {"report_id": "rpt_4x9q7c3v1b6n8m2k", "facility_id": "fac_3kz9q7m2x8c4v6b1",
                 "report_type": "lcfs_quarterly", "quarter": "Q4", "year": 2025,
                 "format": "pdf", "draft": False, "has_data": True,
                 "input_sha256": "3be6c58c6712eac00a60abc940165a52ac26d62bf67b79971044ce37c11e9fe2",
                 "file_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                 "totals": {"credits_mt": "1,204.50", "deficits_mt": "0.00",
                            "net_mt": "1,204.50"}},
    }]})  # fmt: skip

    event: Literal["report.generated"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: ReportGeneratedData


class Failure(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. lcfs_no_benchmark, needs_ocr")
    message: str


class ReportFailedData(BaseModel):
    report_id: str
    facility_id: str
    quarter: Quarter
    year: int
    error: Failure


class ReportFailed(BaseModel):
    """A report could not be built from its inputs (the error says what is missing)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "report.failed", "timestamp": "2026-01-05T09:00:04.208833Z",
        "data": {"report_id": "rpt_4x9q7c3v1b6n8m2k", "facility_id": "fac_3kz9q7m2x8c4v6b1",
                 "quarter": "Q4", "year": 2025,
                 "error": {"code": "lcfs_no_benchmark",
                           "message": "no diesel CI benchmark for 2025 Q4 in the benchmark "
                                      "table; add a row to benchmarks.csv in the LCFS tables "
                                      "override directory (values from 17 CCR §95484 Tables "
                                      "1-3 in force for that period)"}},
    }]})  # fmt: skip

    event: Literal["report.failed"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: ReportFailedData


# --- document.processed, document.failed -----------------------------------------------------


class DocumentFields(BaseModel):
    """The main fields extracted: only those found are present (all of them:
    ``GET /v1/documents/{document_id}``)."""

    document_number: str | Absent = None
    document_date: Date | Absent = None
    transaction_date: Date | Absent = None
    fuel_type: str | Absent = None
    fuel_pathway_code: str | Absent = None
    quantity: float | Absent = None
    unit: str | Absent = None
    carbon_intensity: float | Absent = Field(default=None, description="gCO2e/MJ")


class DocumentProcessedData(BaseModel):
    document_id: str
    facility_id: str | None
    document_type: DocumentType
    fields: DocumentFields
    reconciliation_status: Literal["pass", "warn", "fail", "no_meter_data", "unknown"] | None = (
        Field(description="The quantity against the meters; null: not reconciled")
    )


class DocumentProcessed(BaseModel):
    """A document was read: its type and main fields, and how it reconciles with the meters."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "document.processed", "timestamp": "2025-10-01T12:00:04.881520Z",
        "data": {"document_id": "doc_6b1k3z9q7m2x8c4v", "facility_id": "fac_3kz9q7m2x8c4v6b1",
                 "document_type": "invoice",
                 "fields": {"document_number": "INV-1042", "document_date": "2025-09-30",
                            "fuel_type": "rng", "fuel_pathway_code": "CNG-RNG-001",
                            "quantity": 8120.0, "unit": "m3", "carbon_intensity": 40.0},
                 "reconciliation_status": "pass"},
    }]})  # fmt: skip

    event: Literal["document.processed"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: DocumentProcessedData


class DocumentFailedData(BaseModel):
    document_id: str
    facility_id: str | None
    error: Failure


class DocumentFailed(BaseModel):
    """A document could not be read (not a PDF, encrypted, a scan without text, too long...)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "document.failed", "timestamp": "2025-10-01T12:00:02.004716Z",
        "data": {"document_id": "doc_6b1k3z9q7m2x8c4v", "facility_id": None,
                 "error": {"code": "needs_ocr",
                           "message": "the PDF has no text layer (1 page(s), 1 image(s)): it is "
                                      "a scan or a picture of text; run OCR on it or upload "
                                      "the original PDF"}},
    }]})  # fmt: skip

    event: Literal["document.failed"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: DocumentFailedData


# --- ingest.completed ------------------------------------------------------------------------


class IngestData(BaseModel):
    job_id: str
    rows: int = Field(description="Rows or points in the upload")
    accepted: int
    inserted: int = Field(description="New points stored")
    updated: int = Field(description="Stored points whose value or quality changed")
    duplicates: int = Field(description="Points already stored as sent, or repeated in the upload")
    rejected: int = Field(description="GET /v1/jobs/{job_id}/rejected-rows says why")
    analysis_job_id: str | Absent = Field(
        default=None, description="The analysis queued for what changed; absent when nothing did"
    )


class IngestCompleted(BaseModel):
    """An ingest job finished: what it stored and what it refused."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "ingest.completed", "timestamp": "2025-10-01T12:00:03.310927Z",
        "data": {"job_id": "job_8m2k4x9q7c3v1b6n", "rows": 1440, "accepted": 1438,
                 "inserted": 1438, "updated": 0, "duplicates": 0, "rejected": 2,
                 "analysis_job_id": "job_1k3z9q7m2x8c4v6b"},
    }]})  # fmt: skip

    event: Literal["ingest.completed"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: IngestData


# --- endpoint.disabled, endpoint.test --------------------------------------------------------


class EndpointDisabledData(BaseModel):
    endpoint_id: str
    url: str
    reason: str


class EndpointDisabled(BaseModel):
    """An endpoint was disabled: it answered 410 Gone, or every delivery failed for days. Sent
    to the tenant's other endpoints; ``PATCH {"enabled": true}`` re-enables it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "endpoint.disabled", "timestamp": "2025-10-06T12:00:05.772190Z",
        "data": {"endpoint_id": "whe_9q7c3v1b6n8m2k4x",
                 "url": "https://hooks.example.com/tickwork",
                 "reason": "every delivery failed since 2025-10-01T12:00:05Z"},
    }]})  # fmt: skip

    event: Literal["endpoint.disabled"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: EndpointDisabledData


class EndpointTestData(BaseModel):
    endpoint_id: str
    message: str


class EndpointTest(BaseModel):
    """``POST /v1/webhook-endpoints/{endpoint_id}/test``: sent to that endpoint whatever its
    event types, to check that it receives and verifies deliveries."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "event": "endpoint.test", "timestamp": "2025-10-01T12:00:00.125803Z",
        "data": {"endpoint_id": "whe_9q7c3v1b6n8m2k4x", "message": "test from Tickwork"},
    }]})  # fmt: skip

    event: Literal["endpoint.test"]
    timestamp: Timestamp = Field(description=EVENT_TIMESTAMP)
    data: EndpointTestData


# Every event type a delivery can carry, with its body (worker.storage.events.EVENT_TYPES, then
# the test message).
EVENTS: dict[str, type[BaseModel]] = {
    "data_gap.detected": DataGapDetected,
    "data_gap.resolved": DataGapResolved,
    "alert.triggered": AlertTriggered,
    "report.generated": ReportGenerated,
    "report.failed": ReportFailed,
    "document.processed": DocumentProcessed,
    "document.failed": DocumentFailed,
    "ingest.completed": IngestCompleted,
    "endpoint.disabled": EndpointDisabled,
    "endpoint.test": EndpointTest,
}
