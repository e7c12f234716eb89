"""List results: iterators that fetch the next page only when the previous one is used up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tickwork_client._base import Call, Params, json_of, next_params, page_items
from tickwork_client.models import ArchivedRange

if TYPE_CHECKING:
    from tickwork_client._client import AsyncClient, Client

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One answer of a list route: its items, the server's ``total`` when it gives one, and the
    raw body (``pagination``, ``has_more``, ...). ``archived``: on a data-point listing, the
    months of the range whose points the server moved to archive files (not in ``items``)."""

    items: list[T]
    total: int | None
    raw: Mapping[str, Any]
    archived: list[ArchivedRange] = field(default_factory=list)


def _page(body: Mapping[str, Any], parse: Callable[[Mapping[str, Any]], T]) -> Page[T]:
    pagination = body.get("pagination")
    total = pagination.get("total") if isinstance(pagination, Mapping) else None
    archived = body.get("archived")
    return Page(
        page_items(body, parse),
        None if total is None else int(total),
        body,
        [ArchivedRange.from_dict(a) for a in archived] if isinstance(archived, list) else [],
    )


class _Listing(Generic[T]):
    """What both pagers keep: the client, the list route, how to read an item, and what the
    pages said."""

    def __init__(
        self,
        client: Any,  # the Client or AsyncClient that sends the requests
        path: str,
        params: Params,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> None:
        self._client, self._path, self._params, self._parse = client, path, params, parse
        self.total: int | None = None
        self.archived: list[ArchivedRange] = []  # of the first page, once it is in

    def _call(self, params: Params) -> Call[Any]:
        return Call("GET", self._path, json_of, params=params)

    def _read(self, body: Mapping[str, Any], params: Params) -> Page[T]:
        """The page ``body`` answers to ``params``, noting its ``total`` and, on the first
        page, its ``archived`` months."""
        page = _page(body, self._parse)
        if page.total is not None:
            self.total = page.total
        if params == self._params:
            self.archived = page.archived
        return page


class Pager(_Listing[T]):
    """Every item of a list, page by page: ``for item in pager`` fetches a page, yields its
    items, then fetches the next. ``pages()`` iterates whole pages; ``total`` is the server's
    count once the first page is in (None before, or if the server gives none). Each iteration
    starts again from the first page."""

    _client: Client

    def pages(self) -> Iterator[Page[T]]:
        params: Params | None = dict(self._params)
        while params is not None:
            body = self._client._request(self._call(params))
            yield self._read(body, params)
            params = next_params(params, body)

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def first(self) -> T | None:
        """The first item (one request), or None when there is none."""
        return next(iter(self), None)

    def to_list(self) -> list[T]:
        return list(self)


class AsyncPager(_Listing[T]):
    """:class:`Pager` for :class:`AsyncClient`: ``async for item in pager``."""

    _client: AsyncClient

    async def pages(self) -> AsyncIterator[Page[T]]:
        params: Params | None = dict(self._params)
        while params is not None:
            body = await self._client._request(self._call(params))
            yield self._read(body, params)
            params = next_params(params, body)

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def first(self) -> T | None:
        async for item in self:
            return item
        return None

    async def to_list(self) -> list[T]:
        return [item async for item in self]
