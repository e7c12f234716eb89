"""Why a document could not be read. Each leaf has a stable ``code`` for the API and job records.

Every failure of :func:`pipelines.documents.extract_document` on bad input is one of these; a
pypdf exception never escapes. All of them mean "this file, as uploaded, cannot be extracted":
the caller records the code and does not retry.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.errors import PipelineError


class DocumentError(PipelineError):
    """Base of the document leaves (never raised itself)."""

    code = "invalid_document"


@dataclass
class NotAPdfError(DocumentError):
    detected: str  # what the bytes look like instead: "png", "jpeg", "zip", "empty", "unknown"
    code = "not_a_pdf"

    def __str__(self) -> str:
        if self.detected == "empty":
            return "the file is empty"
        return f"the file is not a PDF (it looks like {self.detected}); upload the PDF itself"


@dataclass
class CorruptPdfError(DocumentError):
    detail: str
    code = "corrupt_pdf"
    template = "the PDF is damaged or truncated and cannot be read ({detail})"


@dataclass
class EncryptedPdfError(DocumentError):
    detail: str = "it needs a password to open"
    code = "encrypted"
    template = "the PDF is encrypted: {detail}; upload an unprotected copy"


@dataclass
class NeedsOcrError(DocumentError):
    pages: int
    images: int
    code = "needs_ocr"
    template = (
        "the PDF has no text layer ({pages} page(s), {images} image(s)): it is a "
        "scan or a picture of text; run OCR on it or upload the original PDF"
    )


@dataclass
class TooManyPagesError(DocumentError):
    pages: int
    limit: int
    code = "too_many_pages"
    template = "the PDF has {pages} pages; at most {limit} are read"


@dataclass
class TooLargeError(DocumentError):
    what: str  # "file", "stream" (decompressed content) or "text"
    limit: int
    code = "too_large"
    template = "the PDF's {what} exceeds the limit of {limit:,} bytes"


@dataclass
class ExtractionTimeoutError(DocumentError):
    seconds: float
    stage: str
    code = "timeout"
    template = "extraction took longer than {seconds:g} s (while {stage})"


@dataclass
class UnsupportedDocumentTypeError(DocumentError):
    document_type: str
    code = "invalid_document_type"
    template = (
        "unknown document type {document_type!r}; use invoice, bill_of_lading, "
        "product_transfer_document or unknown"
    )
