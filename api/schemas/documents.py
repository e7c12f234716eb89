"""Documents: uploads for extraction, and what was extracted from them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Pagination, page_example
from api.schemas.document_review import EffectiveFieldOut, ReviewedFieldOut, effective_view
from pipelines.documents import DOCUMENT_TYPES
from worker.storage.events import iso
from worker.storage.models import Document


class DocumentAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "document_id": "doc_6b1k3z9q7m2x8c4v", "job_id": "job_8m2k4x9q7c3v1b6n",
        "status": "queued", "duplicate": False,
    }]})  # fmt: skip

    document_id: str
    job_id: str | None
    status: str
    duplicate: bool


class FieldOut(BaseModel):
    value: str | float
    confidence: float
    source: str | None = None


class ErrorOut(BaseModel):
    code: str | None
    message: str


class DocumentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "doc_6b1k3z9q7m2x8c4v", "status": "processed", "document_type": "invoice",
        "declared_type": None, "facility_id": "fac_3kz9q7m2x8c4v6b1", "filename": "inv-1042.pdf",
        "sha256": "5d41402abc4b2a76b9719d911017c592ae1f5c0b8f4e7c2a4f0e6b1d2c3a4b5e", "pages": 1,
        "fields": {"quantity": {"value": 8120.0, "confidence": 0.97, "source": "page 1"}},
        "warnings": [], "reconciliation": {"status": "pass"}, "error": None,
        "job_id": "job_8m2k4x9q7c3v1b6n", "resolution_note": "",
        "created_at": "2025-10-01T12:00:00Z", "processed_at": "2025-10-01T12:00:04Z",
        "reviewed_fields": {},
        "effective_fields": {"quantity": {"value": 8120.0, "confidence": 0.97, "reviewed": False}},
    }]})  # fmt: skip

    id: str
    status: str
    document_type: str | None
    declared_type: str | None
    facility_id: str | None
    filename: str
    sha256: str
    pages: int | None
    fields: dict[str, FieldOut]
    warnings: list[str]
    reconciliation: dict[str, Any] | None
    error: ErrorOut | None
    job_id: str | None
    resolution_note: str = Field(description="How a failed or warned reconciliation was resolved")
    created_at: str
    processed_at: str | None
    reviewed_fields: dict[str, ReviewedFieldOut] = Field(
        default_factory=dict,
        description="Values a person entered (POST /v1/documents/{id}/review), beside the "
        "extracted ones in fields, which stay as they were",
    )
    effective_fields: dict[str, EffectiveFieldOut] = Field(
        default_factory=dict,
        description="The fields that count for the reconciliation, the fuel transaction and the "
        "LCFS report: a reviewed value (confidence 1.0) wins over the extracted one",
    )

    @classmethod
    def of(cls, doc: Document) -> DocumentOut:
        return cls.model_validate({
            "id": doc.id, "status": doc.status, "document_type": doc.document_type,
            "declared_type": doc.declared_type, "facility_id": doc.facility_id,
            "filename": doc.filename, "sha256": doc.sha256, "pages": doc.pages,
            "fields": doc.fields or {}, "warnings": doc.warnings or [],
            "reconciliation": doc.reconciliation,
            "error": (
                {"code": doc.error_code, "message": doc.error_message or ""}
                if doc.status == "failed"
                else None
            ),
            "job_id": doc.job_id, "resolution_note": doc.resolution_note,
            "created_at": iso(doc.created_at),
            "processed_at": iso(doc.processed_at) if doc.processed_at else None,
            "reviewed_fields": doc.reviewed_fields or {}, "effective_fields": effective_view(doc),
        })  # fmt: skip


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "resolution_note": "Invoice quantity is billed from the truck scale; the meter reads "
                           "1.2% low on cold days. Confirmed with the supplier on 2025-10-03.",
    }]})  # fmt: skip
    resolution_note: str = Field(max_length=2000, pattern=r"^[^\x00]*$")


class DocumentPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [page_example(DocumentOut)]})

    data: list[DocumentOut]
    pagination: Pagination


DOCUMENT_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The PDF"},
        "document_type": {"type": "string", "enum": list(DOCUMENT_TYPES)},
        "facility_id": {"type": "string"},
    },
    # A file's bytes cannot be shown; Swagger UI offers a file picker for "file".
    "examples": [{"file": "inv-1042.pdf", "document_type": "invoice",
                  "facility_id": "fac_3kz9q7m2x8c4v6b1"}],
}  # fmt: skip
