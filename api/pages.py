"""Listing answers: page numbers (``page``/``limit``, with ``pagination.total``) or a cursor
(``starting_after`` = the last item's id), both with ``has_more`` and a ``next`` link.

``next`` continues with the cursor whichever way the page was asked for, so a client that follows
it never pays OFFSET's cost deeper in a long listing (see ``worker.storage.pages``). What to list
and in which order is the storage module's (a ``Listing`` or a query); reading a page is
``worker.storage.pages``'; the answer's paging fields are made here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.schemas.common import MAX_PAGE, Pagination
from worker.storage.pages import AnySelect, Listing, numbered_page, page_after

Limit = Annotated[int, Query(ge=1, le=1000)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
StartingAfter = Annotated[
    str | None,
    Query(
        max_length=200,
        description="Cursor: the id of the last item of the previous page (its `next` link "
        "carries it); the page continues after that item. Not with `page`.",
    ),
]


@dataclass(frozen=True)
class PageParams:
    """The page a listing's query asks for: ``limit`` items of page number ``page``."""

    limit: int
    page: int


def page_params(limit: Limit = 100, page: PageNumber = 1) -> PageParams:
    return PageParams(limit=limit, page=page)


@dataclass(frozen=True)
class CursorPageParams(PageParams):
    """A page by number or, with ``starting_after``, after a cursor; ``request`` makes the
    ``next`` link."""

    starting_after: str | None
    request: Request


def cursor_page_params(
    request: Request, limit: Limit = 100, page: PageNumber = 1, starting_after: StartingAfter = None
) -> CursorPageParams:
    return CursorPageParams(limit=limit, page=page, starting_after=starting_after, request=request)


# A route's paging query parameters, declared once: ``paging: Page`` (by number only) or
# ``paging: CursorPage`` (by number or cursor).
Page = Annotated[PageParams, Depends(page_params)]
CursorPage = Annotated[CursorPageParams, Depends(cursor_page_params)]


def bad_cursor(message: str = "starting_after does not name an item of this listing") -> ApiError:
    return ApiError(400, "invalid_parameter", message, field="starting_after")


def either_page_or_cursor(page: int, starting_after: str | None) -> None:
    if starting_after is not None and page != 1:
        raise ApiError(400, "invalid_parameter", "give either page or starting_after", field="page")


def listing_page(
    session: Session, listing: Listing, paging: CursorPageParams
) -> tuple[list[Any], dict[str, Any]]:
    """The rows of the page asked for and the answer's paging fields (``pagination``,
    ``has_more``, ``next``). A cursor naming no row of the listing for this caller (another
    tenant's, a deleted one, garbage) is 400 on ``starting_after``."""
    limit, page, starting_after = paging.limit, paging.page, paging.starting_after
    if starting_after is None:
        rows, has_more, total = numbered_page(session, query=listing.query, limit=limit, page=page)
        pagination = Pagination(total=total, page=page, per_page=limit)
    else:
        either_page_or_cursor(page, starting_after)
        found = page_after(session, listing=listing, cursor=starting_after, limit=limit)
        if found is None:
            raise bad_cursor()
        rows, has_more = found
        pagination = Pagination(total=None, page=None, per_page=limit)
    nxt = next_link(paging.request, listing.item_id(rows[-1])) if has_more and rows else None
    return rows, {"pagination": pagination, "has_more": has_more, "next": nxt}


def numbered(
    session: Session, query: AnySelect, paging: PageParams
) -> tuple[list[Any], Pagination]:
    """The rows of the page asked for of a listing paged by number only, and its
    ``pagination``."""
    limit, page = paging.limit, paging.page
    rows, _, total = numbered_page(session, query=query, limit=limit, page=page)
    return rows, Pagination(total=total, page=page, per_page=limit)


def next_link(request: Request, last_id: str) -> str:
    """This request's path and query, continued after ``last_id``."""
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "starting_after")
    ]
    params.append(("starting_after", last_id))
    return f"{request.url.path}?{urlencode(params)}"
