"""webhooks

Create Date: 2026-11-23 08:10:53.862287
"""

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "webhook_endpoint",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        ddl.json_column("event_types"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=300), nullable=True),
        sa.Column("legacy_signature", sa.Boolean(), nullable=False),
        ddl.json_column("secrets"),
        ddl.timestamp("failing_since", nullable=True),
        ddl.timestamp("created_at"),
        ddl.timestamp("updated_at"),
        ddl.foreign_key("webhook_endpoint", "tenant_id", "tenant"),
        ddl.primary_key("webhook_endpoint"),
    )
    ddl.create_index("webhook_endpoint", "tenant_id", "created_at")

    op.create_table(
        "webhook_message",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("endpoint_id"),
        ddl.string_id("event_id", nullable=True),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        ddl.timestamp("next_attempt_at", nullable=True),
        ddl.timestamp("locked_until", nullable=True),
        ddl.timestamp("last_attempt_at", nullable=True),
        ddl.timestamp("created_at"),
        ddl.foreign_key("webhook_message", "endpoint_id", "webhook_endpoint"),
        ddl.foreign_key("webhook_message", "tenant_id", "tenant"),
        ddl.primary_key("webhook_message"),
        ddl.unique("webhook_message", "endpoint_id", "event_id"),
    )
    ddl.create_index("webhook_message", "status", "next_attempt_at")
    ddl.create_index("webhook_message", "tenant_id", "created_at")

    op.create_table(
        "delivery_attempt",
        ddl.serial_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("endpoint_id"),
        ddl.string_id("message_id"),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        ddl.timestamp("attempted_at"),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("response_excerpt", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        ddl.foreign_key("delivery_attempt", "endpoint_id", "webhook_endpoint"),
        ddl.foreign_key("delivery_attempt", "message_id", "webhook_message"),
        ddl.foreign_key("delivery_attempt", "tenant_id", "tenant"),
        ddl.primary_key("delivery_attempt"),
    )
    ddl.create_index("delivery_attempt", "endpoint_id", "attempted_at")
    ddl.create_index("delivery_attempt", "message_id")

    with op.batch_alter_table("event") as batch:
        batch.add_column(ddl.timestamp("fanned_out_at", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("event") as batch:
        batch.drop_column("fanned_out_at")
    for table in ("delivery_attempt", "webhook_message", "webhook_endpoint"):
        op.drop_table(table)  # and its indexes
