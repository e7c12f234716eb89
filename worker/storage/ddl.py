"""Column and constraint builders for the migrations.

The revisions in ``worker/migrations/versions/`` repeat a few shapes: string ids, the
JSON-or-JSONB column, UTC timestamps, big integer ids, and constraints and indexes named by the
naming convention (``worker.storage.models.NAMING``). Each builder spells one shape out once and
returns a new object per call (a column belongs to one table).

A revision is history: what it creates must not change when the models do. So these builders
describe DDL only and never read the models (``UtcTimestamp`` is a column type, not a model),
and changing one changes every revision that calls it: add a new builder instead. Names are
passed through ``conv`` (what ``op.f`` returns), so they are used as given.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import conv

from worker.storage.models import UtcTimestamp


def string_id(name: str = "id", *, nullable: bool = False) -> sa.Column[str]:
    """A generated string id (``worker.storage.db.new_id``), or a reference to one."""
    return sa.Column(name, sa.String(length=40), nullable=nullable)


def big_id(name: str, *, nullable: bool = False) -> sa.Column[int]:
    """A reference to a ``serial_id``: BIGINT, INTEGER on SQLite to match it."""
    return sa.Column(name, _big_integer(), nullable=nullable)


def serial_id() -> sa.Column[int]:
    """An autoincrementing ``id``: BIGINT, INTEGER on SQLite (it autoincrements INTEGER only)."""
    return sa.Column("id", _big_integer(), autoincrement=True, nullable=False)


def json_column(name: str, *, nullable: bool = False) -> sa.Column[object]:
    """JSON, stored as JSONB on PostgreSQL."""
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    return sa.Column(name, json, nullable=nullable)


def timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    """An aware UTC datetime (``UtcTimestamp``)."""
    return sa.Column(name, UtcTimestamp(), nullable=nullable)


def primary_key(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    """``pk_<table>`` on ``columns`` (``id`` when none are given)."""
    return sa.PrimaryKeyConstraint(*(columns or ("id",)), name=conv(f"pk_{table}"))


def foreign_key(
    table: str, column: str, referred: str, *, ondelete: str | None = "CASCADE"
) -> sa.ForeignKeyConstraint:
    """``fk_<table>_<column>_<referred>``: ``column`` refers to ``<referred>.id``; deleting the
    referred row deletes this one unless ``ondelete`` says otherwise."""
    return sa.ForeignKeyConstraint(
        [column],
        [f"{referred}.id"],
        name=conv(f"fk_{table}_{column}_{referred}"),
        ondelete=ondelete,
    )


def unique(table: str, *columns: str) -> sa.UniqueConstraint:
    """``uq_<table>_<columns>``."""
    return sa.UniqueConstraint(*columns, name=conv(f"uq_{table}_{'_'.join(columns)}"))


def create_index(table: str, *columns: str) -> None:
    """Create the plain index ``ix_<table>_<columns>`` (dropping the table drops it)."""
    name = conv(f"ix_{table}_{'_'.join(columns)}")
    op.create_index(name, table, list(columns), unique=False)


def _big_integer() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
