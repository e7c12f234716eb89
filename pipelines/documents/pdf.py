"""PDF bytes -> text per page, safely: every pypdf failure becomes a document error leaf.

Text is read with pypdf's layout mode, which keeps each line's words on one line and columns
roughly aligned (labels beside or above their values survive); a page whose layout text comes
out empty is retried in plain mode, which also reads rotated text.
"""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pypdf
from pypdf.errors import (
    DependencyError,
    FileNotDecryptedError,
    LimitReachedError,
    PdfReadError,
    PyPdfError,
)
from pypdf.generic import DictionaryObject

from pipelines.documents.errors import (
    CorruptPdfError,
    DocumentError,
    EncryptedPdfError,
    ExtractionTimeoutError,
    NeedsOcrError,
    NotAPdfError,
    TooLargeError,
    TooManyPagesError,
)
from pipelines.documents.model import Limits

# Readers may put junk before the header; Acrobat accepts it within the first 1024 bytes.
_HEADER_WINDOW = 1024
# Other formats' first bytes. A file that starts with one is that format, even when "%PDF-"
# appears further on (a ZIP or an Office file holding a PDF, an e-mail or a web page quoting one).
_SIGNATURES = (
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"RIFF", "riff (webp, wav or avi)"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\xd0\xcf\x11\xe0", "ole"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
    (b"%!PS", "postscript"),
    (b"{\\rtf", "rtf"),
    (b"<", "html or xml"),
)


class Deadline:
    """A wall-time budget. ``check(stage)`` raises ``ExtractionTimeoutError`` once it is spent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def check(self, stage: str) -> None:
        if time.monotonic() >= self._end:
            raise ExtractionTimeoutError(seconds=self.seconds, stage=stage)


@dataclass(frozen=True)
class PdfText:
    pages: tuple[str, ...]
    images: int  # image XObjects on pages without text, for the needs_ocr message


def sniff(data: bytes) -> str | None:
    """``None`` if ``data`` starts like a PDF, else a guess at what it is."""
    if not data.strip():
        return "empty"
    start = data.lstrip()
    if start.startswith(b"%PDF-"):
        return None
    for magic, name in _SIGNATURES:
        if start.startswith(magic):
            return name
    if b"%PDF-" in data[:_HEADER_WINDOW]:
        return None
    return "text" if _looks_like_text(data[:_HEADER_WINDOW]) else "unknown"


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@contextmanager
def _pypdf_limits(limits: Limits) -> Iterator[None]:
    cap = limits.max_stream_bytes
    with pypdf.apply_configuration(
        zlib_maximum_output_length=cap,
        lzw_maximum_output_length=cap,
        run_length_maximum_output_length=cap,
        array_based_stream_maximum_output_length=cap,
        maximum_declared_stream_length=cap,
        image_maximum_buffer_size=cap,
        brotli_maximum_output_length=cap,
        stream_decoding_work_maximum_length=4 * cap,
        jbig2dec_binary=None,  # never shell out while reading an upload
    ):
        yield


def read_text(pdf: bytes, *, limits: Limits, deadline: Deadline) -> PdfText:
    """The text of every page. Raises a ``DocumentError`` leaf for anything unreadable."""
    if len(pdf) > limits.max_bytes:
        raise TooLargeError(what="file", limit=limits.max_bytes)
    kind = sniff(pdf)
    if kind is not None:
        raise NotAPdfError(detected=kind)
    try:
        with _pypdf_limits(limits):
            return _read(pdf, limits=limits, deadline=deadline)
    except DocumentError:
        raise
    except (FileNotDecryptedError, DependencyError) as exc:
        raise EncryptedPdfError(detail=_first_line(exc)) from exc
    except LimitReachedError as exc:
        raise TooLargeError(what="stream", limit=limits.max_stream_bytes) from exc
    except MemoryError as exc:
        raise TooLargeError(what="stream", limit=limits.max_stream_bytes) from exc
    except RecursionError as exc:
        raise CorruptPdfError(detail="objects nest too deeply") from exc
    except (PdfReadError, PyPdfError, zlib.error) as exc:
        raise CorruptPdfError(detail=_first_line(exc)) from exc
    except Exception as exc:  # pypdf on hostile input raises builtins too (KeyError, ValueError…)
        raise CorruptPdfError(detail=f"{type(exc).__name__}: {_first_line(exc)}") from exc


def _read(pdf: bytes, *, limits: Limits, deadline: Deadline) -> PdfText:
    reader = pypdf.PdfReader(io.BytesIO(pdf), strict=False)
    # An empty user password (permissions-only protection) opens without asking anyone.
    if reader.is_encrypted and not reader.decrypt(""):
        raise EncryptedPdfError()
    deadline.check("reading the page tree")
    count = len(reader.pages)
    if count > limits.max_pages:
        raise TooManyPagesError(pages=count, limit=limits.max_pages)
    if count == 0:
        raise CorruptPdfError(detail="it has no pages")
    pages: list[str] = []
    chars = images = 0
    for number, page in enumerate(reader.pages, start=1):
        deadline.check(f"reading page {number}")
        text = page.extract_text(extraction_mode="layout")
        if not text.strip():
            text = page.extract_text()
        chars += len(text)
        if chars > limits.max_text_chars:
            raise TooLargeError(what="text", limit=limits.max_text_chars)
        if len(text.strip()) < limits.min_text_chars:
            images += _count_images(page)
        pages.append(text)
    if sum(len("".join(p.split())) for p in pages) < limits.min_text_chars:
        raise NeedsOcrError(pages=count, images=images)
    return PdfText(pages=tuple(pages), images=images)


def _count_images(page: pypdf.PageObject) -> int:
    resources = page.get("/Resources")
    if not isinstance(resources, DictionaryObject):
        return 0
    xobjects = resources.get("/XObject")
    if xobjects is None:
        return 0
    xobjects = xobjects.get_object()
    if not isinstance(xobjects, DictionaryObject):
        return 0
    found = 0
    for ref in xobjects.values():
        obj = ref.get_object()
        if isinstance(obj, DictionaryObject) and obj.get("/Subtype") == "/Image":
            found += 1
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
