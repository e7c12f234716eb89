"""Document extraction: invoices, bills of lading and product transfer documents (PDF bytes in,
frozen dataclasses out). Pure computation; templates are data in ``templates/``."""

from pipelines.documents.errors import (
    CorruptPdfError,
    DocumentError,
    EncryptedPdfError,
    ExtractionTimeoutError,
    NeedsOcrError,
    NotAPdfError,
    TooLargeError,
    TooManyPagesError,
    UnsupportedDocumentTypeError,
)
from pipelines.documents.extract import detect_type, extract_document
from pipelines.documents.model import (
    DOCUMENT_TYPES,
    FIELD_NAMES,
    MAX_DOCUMENT_BYTES,
    DocumentType,
    Extraction,
    Field,
    Limits,
)
from pipelines.documents.reconcile import Reconciliation, reconcile

__all__ = [
    "DOCUMENT_TYPES",
    "FIELD_NAMES",
    "MAX_DOCUMENT_BYTES",
    "CorruptPdfError",
    "DocumentError",
    "DocumentType",
    "EncryptedPdfError",
    "Extraction",
    "ExtractionTimeoutError",
    "Field",
    "Limits",
    "NeedsOcrError",
    "NotAPdfError",
    "Reconciliation",
    "TooLargeError",
    "TooManyPagesError",
    "UnsupportedDocumentTypeError",
    "detect_type",
    "extract_document",
    "reconcile",
]
