"""gaps quality alerts events

Create Date: 2026-11-23 07:23:52.474187
"""

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0002"
down_revision = "0001"

TAG_THRESHOLDS = (
    "flatline_tolerance",
    "flatline_min_s",
    "spike_threshold",
    "max_rate",
    "alert_gap_minutes",
    "alert_completeness",
    "alert_flatline_hours",
)


def upgrade() -> None:
    op.create_table(
        "event",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        ddl.json_column("payload"),
        ddl.timestamp("created_at"),
        ddl.foreign_key("event", "tenant_id", "tenant"),
        ddl.primary_key("event"),
        ddl.unique("event", "tenant_id", "dedupe_key"),
    )
    ddl.create_index("event", "tenant_id", "created_at")

    op.create_table(
        "alert",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("facility_id"),
        ddl.big_id("tag_id"),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        ddl.json_column("details"),
        ddl.timestamp("triggered_at"),
        ddl.foreign_key("alert", "facility_id", "facility"),
        ddl.foreign_key("alert", "tag_id", "tag"),
        ddl.foreign_key("alert", "tenant_id", "tenant"),
        ddl.primary_key("alert"),
        ddl.unique("alert", "tag_id", "rule", "key"),
    )
    ddl.create_index("alert", "tenant_id", "triggered_at")

    op.create_table(
        "gap",
        ddl.serial_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("facility_id"),
        ddl.big_id("tag_id"),
        ddl.timestamp("gap_start"),
        ddl.timestamp("gap_end"),
        sa.Column("duration_minutes", sa.Float(), nullable=False),
        sa.Column("missing_points", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        ddl.timestamp("detected_at"),
        ddl.timestamp("updated_at"),
        ddl.timestamp("resolved_at", nullable=True),
        ddl.foreign_key("gap", "facility_id", "facility"),
        ddl.foreign_key("gap", "tag_id", "tag"),
        ddl.foreign_key("gap", "tenant_id", "tenant"),
        ddl.primary_key("gap"),
    )
    ddl.create_index("gap", "tenant_id", "facility_id", "gap_start")
    op.create_index(
        "uq_gap_active_tag_start",
        "gap",
        ["tag_id", "gap_start"],
        unique=True,
        postgresql_where=sa.text("status <> 'resolved'"),
        sqlite_where=sa.text("status <> 'resolved'"),
    )

    op.create_table(
        "quality_score",
        ddl.serial_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("facility_id"),
        ddl.big_id("tag_id"),
        sa.Column("day", sa.String(length=10), nullable=False),
        ddl.timestamp("period_start"),
        ddl.timestamp("period_end"),
        ddl.json_column("metrics"),
        sa.Column("score", sa.Float(), nullable=False),
        ddl.timestamp("computed_at"),
        ddl.foreign_key("quality_score", "facility_id", "facility"),
        ddl.foreign_key("quality_score", "tag_id", "tag"),
        ddl.foreign_key("quality_score", "tenant_id", "tenant"),
        ddl.primary_key("quality_score"),
        ddl.unique("quality_score", "tag_id", "period_start"),
    )
    ddl.create_index("quality_score", "tenant_id", "facility_id", "period_start")

    with op.batch_alter_table("tag") as batch:
        for name in TAG_THRESHOLDS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tag") as batch:
        for name in reversed(TAG_THRESHOLDS):
            batch.drop_column(name)
    for table in ("quality_score", "gap", "alert", "event"):
        op.drop_table(table)  # and its indexes
