"""The error format of seeds/000: ``{"error": {"type", "code", "message", "field"}}``."""

from __future__ import annotations

import logging

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

TYPES = {
    400: "invalid_request",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found",
    405: "invalid_request",
    409: "conflict",
    413: "invalid_request",
    415: "invalid_request",
    429: "rate_limit_error",
    500: "api_error",
    503: "service_unavailable",
}
CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}
        self.extra = extra or {}


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} '{ident}' not found")


def error_body(
    status: int, code: str, message: str, field: str | None = None, **extra: object
) -> dict[str, object]:
    error: dict[str, object] = {
        "type": TYPES.get(status, "invalid_request"),
        "code": code,
        "message": message,
    }
    if field is not None:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = error_body(exc.status, exc.code, exc.message, exc.field, **exc.extra)
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path")]
        field = ".".join(loc) or None
        kind = first.get("type", "")
        if kind == "missing":
            code, message = "missing_parameter", f"{field or 'a parameter'} is required"
        elif kind in ("json_invalid", "model_attributes_type", "dict_type"):
            code, message = "invalid_json", "the request body is not a valid JSON object"
        else:
            code = "invalid_parameter"
            message = (
                f"{field}: {first.get('msg', 'invalid value')}"
                if field
                else str(first.get("msg", "invalid request"))
            )
        return JSONResponse(error_body(400, code, message, field), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = CODES.get(exc.status_code, "invalid_request")
        message = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return JSONResponse(
            error_body(exc.status_code, code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        body = error_body(
            503, "database_unavailable", "the database is unavailable; retry in a few seconds"
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = error_body(500, "internal_error", "something went wrong on our end")
        return JSONResponse(body, status_code=500)
