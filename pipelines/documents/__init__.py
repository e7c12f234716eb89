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
from pipelines.documents.review import (
    InvalidFieldValueError,
    NotReviewableError,
    ReviewError,
    UnknownFieldError,
    check_review,
    effective_fields,
)

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
    "InvalidFieldValueError",
    "Limits",
    "NeedsOcrError",
    "NotAPdfError",
    "NotReviewableError",
    "Reconciliation",
    "ReviewError",
    "TooLargeError",
    "TooManyPagesError",
    "UnknownFieldError",
    "UnsupportedDocumentTypeError",
    "check_review",
    "detect_type",
    "effective_fields",
    "extract_document",
    "reconcile",
]
