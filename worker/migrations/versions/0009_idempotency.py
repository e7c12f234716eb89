"""Idempotency keys: the first answer to a keyed POST, per tenant, for 24 h

Create Date: 2026-12-02 16:50:00
"""

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        ddl.serial_id(),
        ddl.string_id("tenant_id"),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_type", sa.String(length=200), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        ddl.timestamp("created_at"),
        ddl.timestamp("expires_at"),
        ddl.foreign_key("idempotency_key", "tenant_id", "tenant"),
        ddl.primary_key("idempotency_key"),
        ddl.unique("idempotency_key", "tenant_id", "key"),
    )
    ddl.create_index("idempotency_key", "tenant_id", "expires_at")


def downgrade() -> None:
    op.drop_table("idempotency_key")  # and its index
