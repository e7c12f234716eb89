"""The data that goes in and comes out of document extraction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

DocumentType = Literal["invoice", "bill_of_lading", "product_transfer_document", "unknown"]
DOCUMENT_TYPES: tuple[DocumentType, ...] = (
    "invoice",
    "bill_of_lading",
    "product_transfer_document",
    "unknown",
)

#: Upload size the API should accept (larger: 413). Extraction itself refuses more than
#: ``Limits.max_bytes``, which defaults to the same figure.
MAX_DOCUMENT_BYTES = 25 * 1024 * 1024

#: Open ranges outside which a number is implausible (quantity in its unit, money in its
#: currency, carbon intensity in gCO2e/MJ): extraction lowers its confidence, review refuses it.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "quantity": (0.0, 1e9),
    "unit_price": (0.0, 1e6),
    "total_amount": (-1e10, 1e10),
    "carbon_intensity": (-500.0, 500.0),
}
#: Every field extraction can return. Numbers are floats, dates ISO ``YYYY-MM-DD`` strings.
#: PTDs: ``seller`` is the transferor and ``buyer`` the recipient;
#: ``compliance_obligation`` is ``"transferor"`` or ``"recipient"``.
FIELD_NAMES: tuple[str, ...] = (
    "document_number",
    "document_date",
    "seller",
    "buyer",
    "fuel_type",
    "quantity",
    "unit",
    "unit_price",
    "total_amount",
    "currency",
    "fuel_pathway_code",
    "carbon_intensity",
    "facility_id",
    "transaction_type",
    "transaction_date",
    "compliance_obligation",
    "epa_company_id",
    "epa_facility_id",
)

Value = str | float


@dataclass(frozen=True)
class Field:
    """One extracted value, how sure we are (0..1) and the text it was read from."""

    value: Value
    confidence: float
    source: str


@dataclass(frozen=True)
class Limits:
    """Resource limits for one extraction; the defaults suit uploads through the API.

    ``max_stream_bytes`` caps every decompressed stream (it is handed to pypdf's own
    ``zlib``/``LZW``/run-length/declared-length limits), so a small Flate bomb cannot expand
    into gigabytes. ``timeout_s`` is a wall-time budget checked between pages and stages.
    """

    max_bytes: int = MAX_DOCUMENT_BYTES
    max_pages: int = 200
    max_stream_bytes: int = 32 * 1024 * 1024
    max_text_chars: int = 2_000_000
    timeout_s: float = 30.0
    min_text_chars: int = 16  # fewer extractable characters than this: the file needs OCR


@dataclass(frozen=True)
class Extraction:
    """What was read from one document. ``fields`` holds only the fields found."""

    document_type: DocumentType
    fields: dict[str, Field]
    warnings: tuple[str, ...]
    pages: int
    text_chars: int
    issuer: str | None = None  # the template that matched, if any
    page_texts: tuple[str, ...] = field(default=(), repr=False)

    def value(self, name: str) -> Value | None:
        found = self.fields.get(name)
        return None if found is None else found.value

    def to_dict(self, *, sources: bool = True) -> dict[str, Any]:
        """JSON-ready: ``{"document_type", "fields": {name: {value, confidence[, source]}},
        "warnings"}`` plus ``issuer``, ``pages`` and ``text_chars``."""
        fields: dict[str, dict[str, Any]] = {}
        for name, f in self.fields.items():
            entry: dict[str, Any] = {"value": f.value, "confidence": round(f.confidence, 3)}
            if sources:
                entry["source"] = f.source
            fields[name] = entry
        return {
            "document_type": self.document_type,
            "issuer": self.issuer,
            "fields": fields,
            "warnings": list(self.warnings),
            "pages": self.pages,
            "text_chars": self.text_chars,
        }
