"""Documents reviewed by a person: the values entered, and the fields as they then count."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipelines.documents import effective_fields
from worker.storage.models import Document


class DocumentReview(BaseModel):
    """The body of ``POST /v1/documents/{document_id}/review``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "fields": {"quantity": 8210.0, "document_date": "2025-09-30", "unit": "gal"},
    }]})  # fmt: skip

    fields: dict[str, Any] = Field(
        min_length=1,
        description="The reviewed value of each field to correct or confirm, by its name "
        "(document_number, document_date, quantity, unit, fuel_pathway_code, carbon_intensity, "
        "...): numbers for quantity, unit_price, total_amount and carbon_intensity, ISO dates "
        "(YYYY-MM-DD) for document_date and transaction_date, strings for the others",
        json_schema_extra={"additionalProperties": {"type": ["string", "number"]}},
    )


class ReviewedFieldOut(BaseModel):
    """A value a person entered, beside the extracted one (which is kept as it was)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "value": 8210.0, "reviewed_by": "api_key:key_7c3v1b6n8m2k4x9q",
        "reviewed_at": "2025-10-02T09:15:00Z", "extracted": 8120.0,
    }]})  # fmt: skip

    value: str | float
    reviewed_by: str = Field(description="Who reviewed it: api_key:key_... or operator")
    reviewed_at: str
    extracted: str | float | None = Field(
        description="The extracted value it replaces; null when extraction found none"
    )


class EffectiveFieldOut(BaseModel):
    """A field as it counts for the reconciliation, the fuel transaction and the LCFS report."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "value": 8210.0, "confidence": 1.0, "reviewed": True,
    }]})  # fmt: skip

    value: str | float
    confidence: float = Field(description="1.0 for a reviewed value")
    reviewed: bool


def effective_view(doc: Document) -> dict[str, dict[str, Any]]:
    """``{name: {"value", "confidence", "reviewed"}}`` of the fields that count."""
    reviewed = doc.reviewed_fields or {}
    return {
        name: {"value": f.value, "confidence": f.confidence, "reviewed": name in reviewed}
        for name, f in effective_fields(doc.fields or {}, reviewed).items()
    }
