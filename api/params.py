"""Query parameters, once for every route: spellings, unknown names, date bounds.

Every ``/v1`` route either honours a query parameter or answers 400 naming it:

- ``QueryAliases`` (middleware) reads the array spellings of Ruby, PHP and form libraries
  (``tags[]=a``, ``tags[0]=a``) as ``tags=a``, and ``per_page`` as ``limit`` (the name the
  pagination object answers with);
- ``known_query`` (a dependency of every ``/v1`` route, after authentication and rate limiting)
  compares the query's names with the parameters the route declares: an unknown one is 400
  ``unknown_parameter``, a single-valued one given twice is 400 ``invalid_parameter``.

``parse_bound`` reads a date or date-time bound the same way on every route; ``bounds`` the
optional ``start_date``/``end_date`` pair of a listing.
"""

from __future__ import annotations

import re
import types
import typing
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import CallerDep
from api.errors import QUERY_NAMES, ApiError

PREFIX = "/v1/"
ALIASES = {"per_page": "limit"}
RENAMED = QUERY_NAMES  # scope key: [(name as sent, name read), ...]
_ARRAY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[\d*\]")

# Date bounds: the examples OpenAPI shows, which make clients and fuzzers try the far ends too.
DATE_EXAMPLES = [
    "2025-01-15",
    "2025-01-15T14:30:00Z",
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
]


class QueryAliases:
    """Rewrite the query string of ``/v1`` requests to the names routes declare."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if raw and scope["path"].startswith(PREFIX):
            pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
            names = [(key, canonical(key)) for key, _ in pairs]
            if any(sent != read for sent, read in names):
                # In place: outer middleware (metrics) reads what the router adds to this scope.
                scope[RENAMED] = names
                scope["query_string"] = urlencode(
                    [(read, value) for (_, read), (_, value) in zip(names, pairs, strict=True)]
                ).encode("latin-1")
        await self.app(scope, receive, send)


def canonical(name: str) -> str:
    array = _ARRAY.fullmatch(name)
    name = array.group(1) if array else name
    return ALIASES.get(name, name)


def known_query(request: Request, who: CallerDep) -> None:
    """400 for a query parameter the route does not declare, or a single one given twice."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared = _declared(dependant)
    names = request.scope.get(RENAMED) or [(k, k) for k, _ in request.query_params.multi_items()]
    for sent, read in names:
        if read not in declared:
            takes = ", ".join(sorted(declared)) or "none"
            raise ApiError(
                400,
                "unknown_parameter",
                f"unknown query parameter '{sent}' (this route takes: {takes})",
                field=sent,
            )
    for read, count in Counter(read for _, read in names).items():
        if count > 1 and not declared[read]:
            spellings = sorted({sent for sent, r in names if r == read})
            message = (
                f"{read} takes one value; it was given {count} times"
                if len(spellings) == 1
                else f"{' and '.join(spellings)} are the same parameter: give one"
            )
            raise ApiError(400, "invalid_parameter", message, field=spellings[0])


_DECLARED: dict[int, dict[str, bool]] = {}


def _declared(dependant: Dependant) -> dict[str, bool]:
    """The query parameters of a route and its dependencies: name -> takes several values."""
    key = id(dependant)
    if key not in _DECLARED:
        found: dict[str, bool] = {}
        stack = [dependant]
        while stack:
            node = stack.pop()
            for field in node.query_params:
                found[field.alias] = _is_sequence(field.field_info.annotation)
            stack.extend(node.dependencies)
        _DECLARED[key] = found
    return _DECLARED[key]


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _is_sequence(typing.get_args(annotation)[0])
    target = origin or annotation
    return (
        isinstance(target, type)
        and issubclass(target, Sequence | set | frozenset)
        and (not issubclass(target, str | bytes))
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def file_name(raw: str | None) -> str:
    """An uploaded file's name as it can be kept: no control characters (a NUL cannot even be
    stored), at most 300 characters. The file itself is kept as received."""
    return _CONTROL.sub("", raw or "")[:300]


FAR_PAST = datetime.min.replace(tzinfo=UTC)
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def parse_bound(raw: str, name: str, *, end: bool) -> datetime:
    """ISO 8601 date or date-time with an offset, in UTC. A date-only end bound covers that
    whole day (``9999-12-31``, a common "no end", included). A date-time that leaves the
    calendar once moved to UTC (``9999-12-31T23:59:59-14:00``) is as far as the calendar goes."""
    text = raw.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max if end else time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ApiError(
            400, "invalid_parameter", f"{name} must be an ISO 8601 date or date-time", field=name
        ) from exc
    if moment.tzinfo is None:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{name} needs a UTC offset (e.g. 2025-01-15T00:00:00Z)",
            field=name,
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return FAR_FUTURE if moment.year > 1 else FAR_PAST


def bounds(start_date: str | None, end_date: str | None) -> tuple[datetime | None, datetime | None]:
    """A listing's optional ``start_date``/``end_date`` (``parse_bound``; a date-only end covers
    its whole day); None where not given."""
    start = parse_bound(start_date, "start_date", end=False) if start_date else None
    end = parse_bound(end_date, "end_date", end=True) if end_date else None
    return start, end
