"""gaps quality alerts events

Create Date: 2026-11-23 07:23:52.474187
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import worker.storage.models

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_event_tenant_id_tenant"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("tenant_id", "dedupe_key", name=op.f("uq_event_tenant_id_dedupe_key")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_tenant_id_created_at"), ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "alert",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("facility_id", sa.String(length=40), nullable=False),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("triggered_at", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_alert_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_alert_tag_id_tag"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_alert_tenant_id_tenant"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.UniqueConstraint("tag_id", "rule", "key", name=op.f("uq_alert_tag_id_rule_key")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_tenant_id_triggered_at"),
            ["tenant_id", "triggered_at"],
            unique=False,
        )

    op.create_table(
        "gap",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("facility_id", sa.String(length=40), nullable=False),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gap_start", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.Column("gap_end", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.Column("duration_minutes", sa.Float(), nullable=False),
        sa.Column("missing_points", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("detected_at", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.Column("updated_at", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.Column("resolved_at", worker.storage.models.UtcTimestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_gap_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_gap_tag_id_tag"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_gap_tenant_id_tenant"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gap")),
    )
    with op.batch_alter_table("gap", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gap_tenant_id_facility_id_gap_start"),
            ["tenant_id", "facility_id", "gap_start"],
            unique=False,
        )
        batch_op.create_index(
            "uq_gap_active_tag_start",
            ["tag_id", "gap_start"],
            unique=True,
            postgresql_where=sa.text("status <> 'resolved'"),
            sqlite_where=sa.text("status <> 'resolved'"),
        )

    op.create_table(
        "quality_score",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("facility_id", sa.String(length=40), nullable=False),
        sa.Column("tag_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("period_start", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.Column("period_end", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.Column(
            "metrics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("computed_at", worker.storage.models.UtcTimestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facility.id"],
            name=op.f("fk_quality_score_facility_id_facility"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_quality_score_tag_id_tag"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_quality_score_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_score")),
        sa.UniqueConstraint(
            "tag_id", "period_start", name=op.f("uq_quality_score_tag_id_period_start")
        ),
    )
    with op.batch_alter_table("quality_score", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quality_score_tenant_id_facility_id_period_start"),
            ["tenant_id", "facility_id", "period_start"],
            unique=False,
        )

    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flatline_tolerance", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("flatline_min_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("spike_threshold", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_rate", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("alert_gap_minutes", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("alert_completeness", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("alert_flatline_hours", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_column("alert_flatline_hours")
        batch_op.drop_column("alert_completeness")
        batch_op.drop_column("alert_gap_minutes")
        batch_op.drop_column("max_rate")
        batch_op.drop_column("spike_threshold")
        batch_op.drop_column("flatline_min_s")
        batch_op.drop_column("flatline_tolerance")

    with op.batch_alter_table("quality_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quality_score_tenant_id_facility_id_period_start"))

    op.drop_table("quality_score")
    with op.batch_alter_table("gap", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_gap_active_tag_start",
            postgresql_where=sa.text("status <> 'resolved'"),
            sqlite_where=sa.text("status <> 'resolved'"),
        )
        batch_op.drop_index(batch_op.f("ix_gap_tenant_id_facility_id_gap_start"))

    op.drop_table("gap")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_tenant_id_triggered_at"))

    op.drop_table("alert")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_tenant_id_created_at"))

    op.drop_table("event")
