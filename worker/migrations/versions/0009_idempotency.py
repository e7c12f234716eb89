"""Idempotency keys: the first answer to a keyed POST, per tenant, for 24 h

Create Date: 2026-12-02 16:50:00
"""

import sqlalchemy as sa
from alembic import op

from worker.storage.models import BigId, UtcTimestamp

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_type", sa.String(length=200), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("expires_at", UtcTimestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            ondelete="CASCADE",
            name=op.f("fk_idempotency_key_tenant_id_tenant"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_idempotency_key_tenant_id_key")),
    )
    op.create_index(
        op.f("ix_idempotency_key_tenant_id_expires_at"),
        "idempotency_key",
        ["tenant_id", "expires_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_tenant_id_expires_at", table_name="idempotency_key")
    op.drop_table("idempotency_key")
