"""Request body size limits, enforced before a route reads anything.

A body larger than its limit gets 413 in the error format: at once when the request
declares its size (``Content-Length``), or as soon as the bytes received pass the limit when it
does not (``Transfer-Encoding: chunked``), so an endless stream costs at most the limit.

Limits (bytes, read per request so a settings change applies at once):

- file uploads: ``POST /v1/data-points/import`` ``TICKWORK_MAX_UPLOAD_BYTES`` (256 MiB) and
  ``POST /v1/documents`` ``TICKWORK_DOCUMENT_MAX_BYTES`` (25 MiB), each plus 64 KiB for the
  multipart framing and the form's other fields; the routes then check the file itself;
- anything else: ``TICKWORK_MAX_REQUEST_BYTES`` (16 MiB), far above a full JSON batch of
  ``TICKWORK_MAX_BATCH_POINTS`` points or a fuel-transaction file.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from worker.settings import Settings, get_settings

FORM_OVERHEAD = 64 * 1024
CLOSE = (b"connection", b"close")  # the server closes instead of draining the unread rest
UPLOADS: dict[str, Callable[[Settings], int]] = {
    "/v1/data-points/import": lambda s: s.max_upload_bytes + FORM_OVERHEAD,
    "/v1/documents": lambda s: s.document_max_bytes + FORM_OVERHEAD,
}


def install(app: FastAPI) -> None:
    app.add_middleware(BodyLimit)


def limit_for(path: str, settings: Settings) -> int:
    upload = UPLOADS.get(path.rstrip("/") or "/")
    return upload(settings) if upload else settings.max_request_bytes


class TooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes its limit. An ``HTTPException``,
    so a route or FastAPI reading the body lets it through to the 413 handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"], get_settings())
        lengths = {v.strip() for k, v in scope["headers"] if k.lower() == b"content-length"}
        if len(lengths) > 1 or (lengths and not next(iter(lengths)).isdigit()):
            await _refuse(scope, send, 400, "invalid_content_length", "bad Content-Length")
            return
        if lengths and int(next(iter(lengths))) > limit:
            await _refuse(scope, send, 413, "payload_too_large", TooLarge(limit).detail)
            return

        received, exceeded, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body, or one longer than it said
                    exceeded = True
                    raise TooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if exceeded:  # the 413 came from the app's handler: still never read the rest
                    message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLarge as exc:  # not turned into a response on the way out (e.g. middleware)
            if started:
                raise
            await _refuse(scope, send, 413, "payload_too_large", exc.detail)


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    response = JSONResponse(
        error_body(status, code, message), status_code=status, headers={"Connection": "close"}
    )
    await response(scope, _nothing, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}
