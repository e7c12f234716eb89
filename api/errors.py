"""The error format: ``{"error": {"type", "code", "message", "field"}}``, and the handlers that
answer every error in it.

Routes raise ``ApiError`` (or ``not_found``/``found``) for what the request gets wrong, and let a
``PipelineError`` (pipelines/errors.py: the input itself is wrong) through: its handler answers
400 with the error's ``code`` and message. ``about`` names the request field such an error is
about, for the code that reads it::

    with errors.about("year"):
        report = reports.request_report(session, ...)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.errors import PipelineError

log = logging.getLogger(__name__)
T = TypeVar("T")
# Request scope key set when query names were rewritten (api.params): [(as sent, as read), ...],
# so an error names the parameter the way the caller wrote it (per_page, not limit).
QUERY_NAMES = "tickwork.query_names"

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


DESCRIPTIONS = {
    400: "Invalid request: `code` says what is wrong, `field` which parameter or body field",
    401: "Missing, malformed, unknown or revoked API key",
    403: "The API key is read-only (scope `read`)",
    404: "Not found: an id in the path, query or body that is unknown or another tenant's",
    409: "Conflict with the current state",
    413: "The body is larger than the limit",
    415: "Unsupported Content-Type",
    429: "Rate limit exceeded: retry after `Retry-After` seconds",
    503: "The database is unavailable: retry after `Retry-After` seconds",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # e.g. upload_id of a refused file
    type: str = Field(description="invalid_request, authentication_error, not_found, ...")
    code: str = Field(description="Machine-readable reason, e.g. invalid_parameter")
    message: str = Field(description="What went wrong and how to fix it")
    field: str | None = Field(default=None, description="The parameter or field at fault")


class ErrorBody(BaseModel):
    """Every error: ``{"error": {"type", "code", "message", "field"}}``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "type": "invalid_request",
                        "code": "missing_parameter",
                        "message": "facility_id is required",
                        "field": "facility_id",
                    },
                }
            ]
        },
    )
    error: ErrorDetail


def responses(
    *statuses: int, examples: dict[int, dict[str, object]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for error statuses a route returns beyond the common ones, each
    with its example in ``examples`` or the status's usual one (``EXAMPLES``)."""
    chosen = {**EXAMPLES, **(examples or {})}
    return {
        s: {
            "model": ErrorBody,
            "description": DESCRIPTIONS[s],
            "content": {"application/json": {"example": chosen[s]}},
        }
        for s in statuses
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


def found(value: T | None, what: str, ident: str) -> T:
    """``value``; 404 ``not_found`` naming ``what`` and ``ident`` when it is None (unknown, or
    another tenant's: the lookups are scoped to the caller's tenant)."""
    if value is None:
        raise not_found(what, ident)
    return value


@dataclasses.dataclass(frozen=True)
class About:
    """What ``about`` attaches to a ``PipelineError`` on its way to the handler."""

    field: str | None = None
    code: str | None = None
    extra: dict[str, object] = dataclasses.field(default_factory=dict)


_ABOUT = "_tickwork_about"  # attribute of a PipelineError: the About of the innermost ``about``


@contextmanager
def about(field: str, *, code: str | None = None, **extra: object) -> Iterator[None]:
    """A ``PipelineError`` raised inside is about request field ``field``: its answer names it,
    carries ``extra`` (e.g. the id of a file kept though refused) and, with ``code``, answers
    that code instead of the error's own. The innermost ``about`` wins. An error that names a
    key of its own in ``field`` (a reviewed document field) is about that key inside: a
    ``quantity`` under ``about("fields")`` answers ``fields.quantity``."""
    try:
        yield
    except PipelineError as exc:
        if not hasattr(exc, _ABOUT):
            setattr(exc, _ABOUT, About(field=field, code=code, extra=extra))
        raise


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


# What each documented error status answers, for /openapi.json: a typical case of each.
EXAMPLES = {
    400: error_body(400, "missing_parameter", "facility_id is required", "facility_id"),
    401: error_body(401, "unauthorized", "invalid or revoked API key"),
    403: error_body(403, "insufficient_scope", "this API key is read-only"),
    404: error_body(404, "not_found", "facility 'fac_3kz9q7m2x8c4v6b1' not found"),
    409: error_body(409, "already_exists", "tag 'biogas_flow' already exists", "name"),
    413: error_body(
        413,
        "payload_too_large",
        "the upload is 301989888 bytes; the limit is 268435456 bytes: split the file",
    ),
    415: error_body(
        415,
        "unsupported_media_type",
        "send the batch as application/json (CSV files go to POST /v1/data-points/import)",
    ),
    429: error_body(429, "rate_limited", "rate limit exceeded; retry after 12 s"),
    503: error_body(
        503, "database_unavailable", "the database is unavailable; retry in a few seconds"
    ),
}


def install(app: FastAPI) -> None:
    _document(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        body = error_body(
            exc.status, exc.code, exc.message, _as_sent(request, exc.field), **exc.extra
        )
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(PipelineError)
    async def _refused(request: Request, exc: PipelineError) -> JSONResponse:
        # The input itself is wrong (a file, a transaction, a URL): 400, with the error's code.
        context = getattr(exc, _ABOUT, None) or About()
        own = getattr(exc, "field", None)
        field = ".".join(f for f in (context.field, own) if isinstance(f, str) and f) or None
        body = error_body(
            400, context.code or exc.code, str(exc), _as_sent(request, field), **context.extra
        )
        return JSONResponse(body, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = _first_error(request, exc.errors())
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path")]
        field = _as_sent(request, ".".join(loc) or None)
        kind = first.get("type", "")
        if kind == "missing":
            code, message = "missing_parameter", f"{field or 'a parameter'} is required"
        elif kind in ("json_invalid", "model_attributes_type", "dict_type"):
            code, message = "invalid_json", "the request body is not a valid JSON object"
        elif kind == "string_pattern_mismatch" and "\\x00" in str(first.get("ctx", {})):
            code = "invalid_parameter"
            message = f"{field}: must not contain control characters (NUL, CR, LF, ...)"
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

    @app.exception_handler(sqlalchemy.exc.DataError)
    async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL refused a value taken from the request (a NUL character, a number out of
        # range): the request is wrong, not the server.
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]  # not the SQL or its values
        log.warning("value refused by the database on %s: %s", request.url.path, reason)
        message = "a value in the request is out of range or holds a NUL character"
        return JSONResponse(error_body(400, "invalid_parameter", message), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = error_body(500, "internal_error", "something went wrong on our end")
        return JSONResponse(body, status_code=500)


def _first_error(request: Request, errors: Sequence[Any]) -> Any:
    """The error an answer names when several parameters are wrong: the first in the order
    /openapi.json lists the route's parameters (path, query, header, cookie; the route's own
    before its dependencies', such as the paging of ``api.pages``), then any in the body.
    FastAPI itself reports a dependency's parameters before the route's own."""
    if not errors:
        return {}
    dependant = getattr(request.scope.get("route"), "dependant", None)
    nodes = list(_with_dependencies(dependant)) if dependant is not None else []
    order: dict[tuple[str, str], int] = {}
    for where in ("path", "query", "header", "cookie"):
        for node in nodes:
            for param in getattr(node, f"{where}_params"):
                order.setdefault((where, param.alias), len(order))
    return min(errors, key=lambda e: order.get(tuple(e.get("loc", ())[:2]), len(order)))


def _with_dependencies(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _with_dependencies(sub)


def _as_sent(request: Request, field: str | None) -> str | None:
    names = request.scope.get(QUERY_NAMES, ())
    direct = {read for sent, read in names if sent == read}  # also sent under its own name
    renamed = {read: sent for sent, read in names if sent != read and read not in direct}
    return renamed.get(field, field) if field else field


def _document(app: FastAPI) -> None:
    """Make /openapi.json tell the truth about errors. Every operation that takes an API key
    (it names a security scheme) documents 400, 401, 404, 429 and 503 in this format, and 403
    unless it is a GET (a read-only key may only read); FastAPI's default 422 goes, since the
    handler above answers validation errors with 400. Routes add others with ``responses()``."""
    build = app.openapi
    done: set[int] = set()

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI's own, cached until the routes change
        if id(schema) not in done:
            _add_errors(schema)
            done.add(id(schema))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_errors(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in body.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault("ErrorBody", body)
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)
            if not operation.get("security"):
                continue
            for status in [400, 401, 404, 429, 503] + ([403] if method != "get" else []):
                answers.setdefault(str(status), _error_response(status))
    if "HTTPValidationError" not in str(schema.get("paths")):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)


HEADERS = {
    401: {"WWW-Authenticate": "Bearer"},
    429: {"Retry-After": "Seconds to wait", "X-RateLimit-Reset": "When the window resets"},
    503: {"Retry-After": "Seconds to wait"},
}


def _error_response(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorBody"},
                "example": EXAMPLES[status],
            }
        },
    }
    if status in HEADERS:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in HEADERS[status].items()
        }
    return answer
