"""What both clients share: the description of one API call, request building, answer
handling, and the pagination rule."""

from __future__ import annotations

import io
import logging
import os
import platform
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from tickwork_client._retry import RetryPolicy
from tickwork_client._version import __version__
from tickwork_client.errors import error_for
from tickwork_client.models import format_datetime

log = logging.getLogger("tickwork_client")

T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
FileInput = str | os.PathLike[str] | bytes | IO[bytes]
DateInput = str | date | datetime
Params = dict[str, Any]


@dataclass
class Call(Generic[T]):
    """One logical API call: retried as a whole, under one idempotency key when it is a POST."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Params | None = None
    json: Any = None
    files: Callable[[], dict[str, Any]] | None = None  # built afresh for every attempt
    data: dict[str, str] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if self.method == "POST" and self.idempotency_key is None:
            self.idempotency_key = str(uuid.uuid4())


def path(template: str, *ids: str) -> str:
    """``template`` with each ``{}`` replaced by an id, quoted as one path segment."""
    return template.format(*(quote(str(i), safe="") for i in ids))


def query(**values: Any) -> Params:
    """Query parameters without the ones left out (None); dates and datetimes as ISO 8601,
    booleans as true/false, lists kept (sent repeated)."""
    out: Params = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, date | datetime):
            out[name] = format_datetime(value)
        elif isinstance(value, list | tuple):
            out[name] = [format_datetime(v) if isinstance(v, date) else v for v in value]
        else:
            out[name] = value
    return out


def body(**values: Any) -> dict[str, Any]:
    """A JSON body without the fields left out (None); dates and datetimes as ISO 8601."""
    return {
        k: format_datetime(v) if isinstance(v, date | datetime) else v
        for k, v in values.items()
        if v is not None
    }


def json_of(response: httpx.Response) -> Any:
    return response.json()


def nothing(response: httpx.Response) -> None:
    return None


def file_part(file: FileInput, filename: str | None, content_type: str) -> Callable[[], Any]:
    """A factory of the multipart ``file`` part, so each retry sends the whole file again: a
    path is opened afresh, bytes are reused, a seekable stream is rewound."""
    if isinstance(file, bytes):
        name = filename or "upload"
        return lambda: (name, file, content_type)
    if isinstance(file, str | os.PathLike):
        file_path = Path(file)
        name = filename or file_path.name
        return lambda: (name, file_path.read_bytes(), content_type)
    stream = file
    name = filename or Path(str(getattr(stream, "name", "upload"))).name
    if stream.seekable():
        start = stream.tell()

        def rewound() -> Any:
            stream.seek(start)
            return (name, stream, content_type)

        return rewound
    buffered = stream.read()
    return lambda: (name, io.BytesIO(buffered), content_type)


def user_agent() -> str:
    return (
        f"tickwork-client/{__version__} httpx/{httpx.__version__} "
        f"python/{platform.python_version()}"
    )


class BaseClient:
    """Settings and request building shared by :class:`Client` and :class:`AsyncClient`."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 3,
        max_retry_after: float = 120.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        key = api_key or os.environ.get("TICKWORK_API_KEY")
        if not key:
            raise ValueError("an API key is required (argument or TICKWORK_API_KEY)")
        self.api_key = key
        self.base_url = (
            base_url or os.environ.get("TICKWORK_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.retry = RetryPolicy(max_retries=max_retries, max_retry_after=max_retry_after)
        self._headers = {
            "Authorization": f"Bearer {key}",
            "User-Agent": user_agent(),
            "Accept": "application/json",
            **(headers or {}),
        }

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _build(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        headers = {**self._headers, **call.headers}
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return http.build_request(
            call.method,
            self.base_url + call.path,
            params=call.params,
            json=call.json,
            files=call.files() if call.files is not None else None,
            data=call.data,
            content=call.content,
            headers=headers,
            timeout=self.timeout,
        )

    @staticmethod
    def _error(response: httpx.Response) -> Exception:
        try:
            decoded: Any = response.json()
        except ValueError:
            decoded = response.text
        return error_for(response.status_code, decoded, response.headers)


# --- pagination --------------------------------------------------------------------------------


def next_params(params: Params, body: Mapping[str, Any]) -> Params | None:
    """The query for the page after the one in ``body`` (requested with ``params``), or None
    when it was the last.

    A cursor answer (``has_more``) continues with ``starting_after`` = the last item's id; a
    page-numbered answer (``pagination``: ``total``, ``page``, ``per_page``) with the next page
    number; an answer with neither was the only page.
    """
    items = body.get("data") or []
    if "has_more" in body:
        if not body["has_more"] or not items:
            return None
        last = items[-1]
        cursor = last.get("id") if isinstance(last, Mapping) else None
        if cursor is not None:
            nxt = {k: v for k, v in params.items() if k != "page"}
            nxt["starting_after"] = cursor
            return nxt
        # items without ids: ask for the next page by number
        return {**params, "page": int(params.get("page") or 1) + 1}
    pagination = body.get("pagination")
    if not isinstance(pagination, Mapping) or not items:
        return None
    page = int(pagination.get("page") or params.get("page") or 1)
    per_page = int(pagination.get("per_page") or params.get("limit") or len(items))
    total = pagination.get("total")
    if total is None:
        if len(items) < per_page:
            return None
    elif page * per_page >= int(total):
        return None
    return {**params, "page": page + 1}


def page_items(body: Mapping[str, Any], parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    data: Iterable[Mapping[str, Any]] = body.get("data") or []
    return [parse(item) for item in data]
