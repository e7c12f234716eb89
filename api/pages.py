"""Listing answers: page numbers (``page``/``limit``, with ``pagination.total``) or a cursor
(``starting_after`` = the last item's id), both with ``has_more`` and a ``next`` link.

``next`` continues with the cursor whichever way the page was asked for, so a client that follows
it never pays OFFSET's cost deeper in a long listing (see ``worker.storage.pages``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from api.errors import ApiError
from worker.storage.pages import SortKey, cursor_key, keyset_page, numbered_page

StartingAfter = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Cursor: the id of the last item of the previous page (its `next` link "
        "carries it); the page continues after that item. Not with `page`.",
    ),
]


def bad_cursor(message: str = "starting_after does not name an item of this listing") -> ApiError:
    return ApiError(400, "invalid_parameter", message, field="starting_after")


def listing_page(
    request: Request,
    session: Session,
    *,
    query: Select[Any],
    keys: Sequence[SortKey],
    limit: int,
    page: int,
    starting_after: str | None,
    locate: Callable[[str], Sequence[ColumnElement[bool]] | None],
    item_id: Callable[[Any], str],
) -> tuple[list[Any], dict[str, Any]]:
    """The rows of the page asked for and the answer's paging fields.

    ``locate`` turns a cursor into conditions that find its row *for this caller* (tenant and
    parent scoped), or None when the text cannot be one of this listing's ids; a cursor naming
    no such row (another tenant's, a deleted one, garbage) is 400 on ``starting_after``.
    """
    if starting_after is None:
        rows, has_more, total = numbered_page(session, query=query, limit=limit, page=page)
        pagination: dict[str, Any] = {"total": total, "page": page, "per_page": limit}
    else:
        if page != 1:
            raise ApiError(400, "invalid_parameter", "give either page or starting_after",
                           field="page")  # fmt: skip
        where = locate(starting_after)
        key = cursor_key(session, keys=keys, where=where) if where is not None else None
        if key is None:
            raise bad_cursor()
        rows, has_more = keyset_page(session, query=query, keys=keys, start_after=key,
                                     limit=limit)  # fmt: skip
        pagination = {"total": None, "page": None, "per_page": limit}
    nxt = next_link(request, item_id(rows[-1])) if has_more and rows else None
    return rows, {"pagination": pagination, "has_more": has_more, "next": nxt}


def next_link(request: Request, last_id: str) -> str:
    """This request's path and query, continued after ``last_id``."""
    params = [(k, v) for k, v in request.query_params.multi_items()
              if k not in ("page", "starting_after")]  # fmt: skip
    params.append(("starting_after", last_id))
    return f"{request.url.path}?{urlencode(params)}"
