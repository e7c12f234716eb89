"""Pages of a listing: by number (OFFSET, with a total) or after a cursor (keyset).

A keyset page continues after the row a cursor names, comparing the listing's sort key
(``(created_at, id)``, ``(ts, tag name)``, ...) instead of skipping rows, so a page deep into a
long listing costs what the first one does: the index seeks to the cursor's key and reads
``limit + 1`` rows (the extra one says whether there is more). A cursor page is not counted:
counting is what OFFSET paging pays on every page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

AnySelect = Select[*tuple[Any, ...]]  # a query, whatever the shape of its rows


@dataclass(frozen=True)
class SortKey:
    """One column of a listing's order; ``descending`` as in its ``ORDER BY``."""

    column: Any
    descending: bool = False


@dataclass(frozen=True)
class Listing:
    """A listing that pages by cursor as well as by number: its ``query`` (ordered by ``keys``),
    how a cursor finds its row *for this caller* (``locate``: conditions scoped to the tenant and
    parent, or None for text that cannot be one of the listing's ids) and the id of a row."""

    query: AnySelect
    keys: Sequence[SortKey]
    locate: Callable[[str], Sequence[ColumnElement[bool]] | None]
    item_id: Callable[[Any], str]


def tenant_listing(
    model: Any, *, tenant_id: str, query: AnySelect, keys: Sequence[SortKey]
) -> Listing:
    """A listing of the tenant's rows of ``model`` whose cursor is a row's ``id``."""
    return Listing(
        query=query,
        keys=keys,
        locate=lambda cursor: [model.id == cursor, model.tenant_id == tenant_id],
        item_id=lambda row: str(row[0].id),
    )


def within(column: Any, start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    """A listing's optional time bounds: ``start <= column <= end``, each side when given."""
    where = []
    if start is not None:
        where.append(column >= start)
    if end is not None:
        where.append(column <= end)
    return where


def after(keys: Sequence[SortKey], values: Sequence[Any]) -> list[ColumnElement[bool]]:
    """Conditions for "sorts after ``values``": the first key's bound (which an index can seek
    to) and the lexicographic comparison of the whole key."""
    first = keys[0]
    bound = first.column <= values[0] if first.descending else first.column >= values[0]
    alternatives = []
    for i, key in enumerate(keys):
        equal = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        alternatives.append(and_(*equal, beyond))
    return [bound, or_(*alternatives)]


def numbered_page(
    session: Session, *, query: AnySelect, limit: int, page: int
) -> tuple[list[Any], bool, int]:
    """Rows of page ``page`` (from 1), whether more follow, and the listing's total."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = list(session.execute(query.limit(limit + 1).offset((page - 1) * limit)).all())
    return rows[:limit], len(rows) > limit, int(total or 0)


def keyset_page(
    session: Session,
    *,
    query: AnySelect,
    keys: Sequence[SortKey],
    start_after: Sequence[Any] | None,
    limit: int,
) -> tuple[list[Any], bool]:
    """Up to ``limit`` rows of ``query`` (already ordered by ``keys``) after the row whose key is
    ``start_after`` (None: from the start), and whether more follow."""
    if start_after is not None:
        query = query.where(*after(keys, start_after))
    rows = list(session.execute(query.limit(limit + 1)).all())
    return rows[:limit], len(rows) > limit


def page_after(
    session: Session, *, listing: Listing, cursor: str, limit: int
) -> tuple[list[Any], bool] | None:
    """Up to ``limit`` rows after the row ``cursor`` names, and whether more follow; None when
    the cursor names no row of the listing for this caller (another tenant's, a deleted one)."""
    where = listing.locate(cursor)
    key = cursor_key(session, keys=listing.keys, where=where) if where is not None else None
    if key is None:
        return None
    return keyset_page(
        session, query=listing.query, keys=listing.keys, start_after=key, limit=limit
    )


def cursor_key(
    session: Session, *, keys: Sequence[SortKey], where: Sequence[ColumnElement[bool]]
) -> tuple[Any, ...] | None:
    """The sort key of the row a cursor names (``where`` picks it, scoped to its tenant), or
    None when there is no such row for this caller."""
    row = session.execute(select(*(k.column for k in keys)).where(*where).limit(1)).first()
    return tuple(row) if row is not None else None
