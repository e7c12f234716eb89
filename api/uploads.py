"""Request bodies that routes read themselves: a multipart form carrying one file (a CSV of
points, a document) or a raw body (a JSON batch, fuel transactions), each checked against its
size limit before it is read (the declared ``Content-Length``) and after.

``limits.BodyLimit`` refuses an oversized body before any route runs; these checks name the
limit of the file itself, in the route's words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile

from api.errors import ApiError
from api.limits import FORM_OVERHEAD
from api.params import file_name
from worker.settings import Settings, get_settings

TooLarge = Callable[[int], ApiError]  # the 413 for a body or file of this many bytes


@dataclass(frozen=True)
class FormFile:
    """The ``file`` part of a multipart form, and the form's other text fields."""

    content: bytes
    filename: str  # as it can be kept: no control characters, at most 300 characters
    media_type: str | None  # the part's own Content-Type
    fields: Mapping[str, str | None]  # the fields asked for, stripped; None when blank or absent


class MultipartFile:
    """A dependency reading a ``multipart/form-data`` body: the file in its ``file`` field
    (required, not empty, at most ``limit`` bytes) and the text ``fields`` (name -> the values
    it may take, or None for any).

    415 ``unsupported`` unless the body is multipart; 413 ``too_large(size)`` when the declared
    body passes the limit (plus the form's framing) or the file does; 400 for a missing or empty
    file or a field's value it may not take.
    """

    def __init__(
        self,
        *,
        limit: Callable[[Settings], int],
        too_large: TooLarge,
        unsupported: str,
        fields: Mapping[str, Sequence[str] | None],
    ) -> None:
        self.limit, self.too_large, self.unsupported = limit, too_large, unsupported
        self.fields = fields

    async def __call__(self, request: Request) -> FormFile:
        limit = self.limit(get_settings())
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise ApiError(415, "unsupported_media_type", self.unsupported)
        declared = int(request.headers.get("content-length") or 0)
        if declared > limit + FORM_OVERHEAD:
            raise self.too_large(declared)
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(
                400, "missing_parameter", "file is required (multipart field 'file')", field="file"
            )
        fields = {name: _text(form.get(name)) for name in self.fields}
        for name, allowed in self.fields.items():
            if fields[name] is not None and allowed is not None and fields[name] not in allowed:
                message = f"{name} must be one of {', '.join(allowed)}"
                raise ApiError(400, "invalid_parameter", message, field=name)
        content = await upload.read()
        if len(content) > limit:
            raise self.too_large(len(content))
        if not content:
            raise ApiError(400, "empty_file", "the file is empty", field="file")
        return FormFile(
            content=content,
            filename=file_name(upload.filename),
            media_type=upload.content_type,
            fields=fields,
        )


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, lower-cased (``""`` when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, *, limit: int, too_large: TooLarge) -> bytes:
    """The raw body, at most ``limit`` bytes (declared or received); else ``too_large(size)``."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise too_large(declared)
    body = await request.body()
    if len(body) > limit:
        raise too_large(len(body))
    return body
