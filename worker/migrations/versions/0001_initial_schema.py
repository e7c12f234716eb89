"""initial schema

Create Date: 2026-11-23 06:36:58.996858
"""

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        ddl.string_id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        ddl.timestamp("created_at"),
        ddl.primary_key("tenant"),
    )
    op.create_table(
        "api_key",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        sa.Column("prefix", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        ddl.timestamp("created_at"),
        ddl.timestamp("revoked_at", nullable=True),
        ddl.foreign_key("api_key", "tenant_id", "tenant"),
        ddl.primary_key("api_key"),
        ddl.unique("api_key", "prefix"),
    )
    ddl.create_index("api_key", "tenant_id")

    op.create_table(
        "facility",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("strict_tags", sa.Boolean(), nullable=False),
        ddl.timestamp("created_at"),
        ddl.foreign_key("facility", "tenant_id", "tenant"),
        ddl.primary_key("facility"),
    )
    ddl.create_index("facility", "tenant_id")

    op.create_table(
        "upload",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        ddl.timestamp("created_at"),
        ddl.foreign_key("upload", "tenant_id", "tenant"),
        ddl.primary_key("upload"),
        ddl.unique("upload", "tenant_id", "sha256"),
    )
    op.create_table(
        "job",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        ddl.string_id("upload_id", nullable=True),
        ddl.json_column("params"),
        ddl.json_column("result", nullable=True),
        ddl.json_column("logs"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        ddl.timestamp("created_at"),
        ddl.timestamp("enqueued_at", nullable=True),
        ddl.timestamp("started_at", nullable=True),
        ddl.timestamp("finished_at", nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        ddl.foreign_key("job", "tenant_id", "tenant"),
        ddl.foreign_key("job", "upload_id", "upload", ondelete=None),
        ddl.primary_key("job"),
    )
    ddl.create_index("job", "status", "created_at")
    ddl.create_index("job", "tenant_id", "created_at")

    op.create_table(
        "tag",
        ddl.serial_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("facility_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column("expected_interval_s", sa.Float(), nullable=True),
        sa.Column("interval_inferred", sa.Boolean(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        ddl.timestamp("created_at"),
        ddl.foreign_key("tag", "facility_id", "facility"),
        ddl.foreign_key("tag", "tenant_id", "tenant"),
        ddl.primary_key("tag"),
        ddl.unique("tag", "facility_id", "name"),
    )
    ddl.create_index("tag", "tenant_id")

    op.create_table(
        "data_point",
        ddl.big_id("tag_id"),
        ddl.timestamp("ts"),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("quality", sa.SmallInteger(), nullable=False),
        ddl.primary_key("data_point", "tag_id", "ts"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rejected_row",
        ddl.serial_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("job_id"),
        ddl.string_id("upload_id", nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        ddl.foreign_key("rejected_row", "job_id", "job"),
        ddl.foreign_key("rejected_row", "tenant_id", "tenant"),
        ddl.foreign_key("rejected_row", "upload_id", "upload", ondelete=None),
        ddl.primary_key("rejected_row"),
    )
    ddl.create_index("rejected_row", "job_id")


def downgrade() -> None:
    tables = ("rejected_row", "data_point", "tag", "job", "upload", "facility", "api_key", "tenant")
    for table in tables:
        op.drop_table(table)  # and its indexes
