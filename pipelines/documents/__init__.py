"""Document extraction: invoices, bills of lading and product transfer documents (PDF bytes in,
frozen dataclasses out). Pure computation; templates are data in ``templates/``.

Extraction (``extract``, which reads PDFs with pypdf) is imported when ``detect_type`` or
``extract_document`` is first used (``pipelines/_lazy.py``); the data model, reconciliation and
review rules with the package.
"""

from typing import TYPE_CHECKING

from pipelines._lazy import lazy_exports
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
from pipelines.documents.model import (
    DOCUMENT_TYPES,
    FIELD_NAMES,
    MAX_DOCUMENT_BYTES,
    PLAUSIBLE,
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

if TYPE_CHECKING:  # the same names as _LAZY below, for type checkers and readers
    from pipelines.documents.extract import detect_type, extract_document

_LAZY = {"extract": ("detect_type", "extract_document")}
__getattr__ = lazy_exports(globals(), _LAZY)

__all__ = [
    "DOCUMENT_TYPES",
    "FIELD_NAMES",
    "MAX_DOCUMENT_BYTES",
    "PLAUSIBLE",
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
