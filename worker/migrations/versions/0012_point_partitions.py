"""data_point partitioned by month on PostgreSQL; archived months recorded in point_archive

Create Date: 2026-12-03 09:30:00

On PostgreSQL the existing table is renamed, a parent partitioned by range of ``ts`` is created
with the same columns, one partition per UTC month from the first stored point to the last, the
rows are copied across in one pass (each lands in its month), the primary key is built on every
partition, the counts are compared, and only then is the old table dropped. SQLite keeps one
table; both get the archive tables. The downgrade puts every point back into one plain table; it
refuses while a month is archived (its points are only in the archive file: restore it first).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0012"
down_revision = "0011"

COLUMNS = (
    "tag_id bigint NOT NULL, ts timestamptz NOT NULL, value double precision NOT NULL, "
    "quality smallint NOT NULL"
)


def _month(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def _literal(month: datetime) -> str:
    return f"'{month:%Y-%m-%d} 00:00:00+00'"


def upgrade() -> None:
    op.create_table(
        "point_archive",
        ddl.string_id(),
        ddl.timestamp("range_start"),
        ddl.timestamp("range_end"),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("points_checksum", sa.String(length=64), nullable=False),
        ddl.timestamp("archived_at"),
        ddl.timestamp("restored_at", nullable=True),
        ddl.primary_key("point_archive"),
        ddl.unique("point_archive", "range_start"),
    )
    op.create_table(
        "point_archive_tag",
        ddl.string_id("archive_id"),
        ddl.big_id("tag_id"),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        ddl.foreign_key("point_archive_tag", "archive_id", "point_archive"),
        ddl.primary_key("point_archive_tag", "archive_id", "tag_id"),
    )
    ddl.create_index("point_archive_tag", "tag_id")
    if op.get_bind().dialect.name != "postgresql":
        return
    bind = op.get_bind()
    op.execute("ALTER TABLE data_point RENAME TO data_point_flat")
    op.execute("ALTER TABLE data_point_flat RENAME CONSTRAINT pk_data_point TO pk_data_point_flat")
    op.execute(f"CREATE TABLE data_point ({COLUMNS}) PARTITION BY RANGE (ts)")
    bounds = bind.execute(
        sa.text(
            "SELECT extract(year FROM min(ts) AT TIME ZONE 'UTC')::int,"
            " extract(month FROM min(ts) AT TIME ZONE 'UTC')::int,"
            " extract(year FROM max(ts) AT TIME ZONE 'UTC')::int,"
            " extract(month FROM max(ts) AT TIME ZONE 'UTC')::int FROM data_point_flat"
        )
    ).one()
    if bounds[0] is not None:
        month, end = _month(bounds[0], bounds[1]), _month(bounds[2], bounds[3])
        while month <= end:
            after = _month(month.year, month.month + 1)
            op.execute(
                f"CREATE TABLE data_point_{month:%Y_%m} PARTITION OF data_point"
                f" FOR VALUES FROM ({_literal(month)}) TO ({_literal(after)})"
            )
            month = after
    # One pass over the old table; the primary key is built afterwards, per partition, from
    # sorted rows instead of row by row.
    op.execute(
        "INSERT INTO data_point (tag_id, ts, value, quality)"
        " SELECT tag_id, ts, value, quality FROM data_point_flat"
    )
    op.execute("ALTER TABLE data_point ADD CONSTRAINT pk_data_point PRIMARY KEY (tag_id, ts)")
    moved, kept = bind.execute(
        sa.text("SELECT (SELECT count(*) FROM data_point), (SELECT count(*) FROM data_point_flat)")
    ).one()
    if moved != kept:
        raise RuntimeError(f"data_point: {moved} points moved of {kept}; nothing was changed")
    op.execute("DROP TABLE data_point_flat")
    op.execute("ANALYZE data_point")


def downgrade() -> None:
    bind = op.get_bind()
    archived = (
        bind.execute(
            sa.text(
                "SELECT to_char(range_start AT TIME ZONE 'UTC', 'YYYY-MM') FROM point_archive"
                " WHERE status = 'archived' ORDER BY range_start"
            )
            if bind.dialect.name == "postgresql"
            else sa.text("SELECT range_start FROM point_archive WHERE status = 'archived'")
        )
        .scalars()
        .all()
    )
    if archived:
        raise RuntimeError(
            f"{len(archived)} month(s) of data points are archived"
            f" ({', '.join(map(str, archived))})"
            "; restore them (`tickwork points restore YYYY-MM`) before downgrading"
        )
    if bind.dialect.name == "postgresql":
        op.execute(f"CREATE TABLE data_point_flat ({COLUMNS})")
        op.execute(
            "INSERT INTO data_point_flat (tag_id, ts, value, quality)"
            " SELECT tag_id, ts, value, quality FROM data_point ORDER BY tag_id, ts"
        )
        op.execute(
            "ALTER TABLE data_point_flat ADD CONSTRAINT pk_data_point_flat PRIMARY KEY (tag_id, ts)"
        )
        moved, kept = bind.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM data_point_flat), (SELECT count(*) FROM data_point)"
            )
        ).one()
        if moved != kept:
            raise RuntimeError(f"data_point: {moved} points moved of {kept}; nothing was changed")
        op.execute("DROP TABLE data_point")  # and its partitions
        op.execute("ALTER TABLE data_point_flat RENAME TO data_point")
        op.execute("ALTER TABLE data_point RENAME CONSTRAINT pk_data_point_flat TO pk_data_point")
    op.drop_table("point_archive_tag")  # and its index
    op.drop_table("point_archive")
