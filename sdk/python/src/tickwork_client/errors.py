"""Typed errors mirroring the API's error format.

Every error the API returns looks like ``{"error": {"type", "code", "message", "field"}}``; the
client raises the subclass of :class:`APIError` that matches the HTTP status, with those fields as
attributes. Problems that never reached an answer (connection refused, timeouts) raise
:class:`APIConnectionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TickworkError(Exception):
    """Base class of every error this library raises."""


class APIConnectionError(TickworkError):
    """The request got no HTTP answer (after the client's retries): connection refused or
    reset, DNS failure, timeout."""


class WaitTimeout(TickworkError):
    """``wait()`` gave up before the job, report or document reached a final state."""

    def __init__(self, message: str, *, last: object = None) -> None:
        super().__init__(message)
        self.last = last  # the last state seen


class WebhookVerificationError(TickworkError):
    """A webhook delivery's signature or timestamp did not verify."""


class APIError(TickworkError):
    """The API answered with an error status.

    ``type``, ``code``, ``message`` and ``field`` come from the error body; ``extra`` holds any
    other keys of it (e.g. ``report_status`` on a 409, ``upload_id`` of a refused file).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        type: str | None = None,
        code: str | None = None,
        field: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.type = type
        self.code = code
        self.field = field
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.body = body

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        code = f" {self.code}" if self.code else ""
        return f"{self.status_code}{code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"message={self.message!r}, field={self.field!r})"
        )


class InvalidRequestError(APIError):
    """400 (and 405/413/415): a parameter or body field is wrong; ``field`` names it."""


class AuthenticationError(APIError):
    """401: missing, malformed, unknown or revoked API key."""


class PermissionDeniedError(APIError):
    """403: the key is read-only."""


class NotFoundError(APIError):
    """404: an unknown id, or another tenant's."""


class ConflictError(APIError):
    """409: conflicts with the current state (e.g. a report file that is not generated yet)."""


class PayloadTooLargeError(InvalidRequestError):
    """413: the body is larger than the server accepts."""


class _RetryAfterMixin:
    headers: dict[str, str]

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (``Retry-After``), if it said."""
        from tickwork_client._retry import parse_retry_after

        return parse_retry_after(self.headers.get("retry-after"))


class RateLimitError(_RetryAfterMixin, APIError):
    """429: the key's rate limit is used up. ``retry_after`` says how long to wait; ``limit``,
    ``remaining`` and ``reset`` are the ``X-RateLimit-*`` headers."""

    @property
    def limit(self) -> int | None:
        return _int(self.headers.get("x-ratelimit-limit"))

    @property
    def remaining(self) -> int | None:
        return _int(self.headers.get("x-ratelimit-remaining"))

    @property
    def reset(self) -> int | None:
        """Unix time when the window resets."""
        return _int(self.headers.get("x-ratelimit-reset"))


class ServerError(APIError):
    """5xx: the server failed (retried automatically before this is raised)."""


class ServiceUnavailableError(_RetryAfterMixin, ServerError):
    """503: the database or broker is unavailable; ``retry_after`` says when to try again."""


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: InvalidRequestError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_for(status_code: int, body: Any, headers: Mapping[str, str]) -> APIError:
    """The typed error for an error answer (``body`` is the decoded JSON, or text)."""
    detail: Mapping[str, Any] = {}
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        detail = body["error"]
    known = {"type", "code", "message", "field"}
    message = detail.get("message") or (body if isinstance(body, str) and body else None)
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIError
    return cls(
        str(message or f"HTTP {status_code}"),
        status_code=status_code,
        type=_str(detail.get("type")),
        code=_str(detail.get("code")),
        field=_str(detail.get("field")),
        extra={k: v for k, v in detail.items() if k not in known},
        headers=headers,
        body=body,
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
