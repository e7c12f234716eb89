"""Alerts can be acknowledged: when and by whom

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from worker.storage.models import UtcTimestamp

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("acknowledged_at", UtcTimestamp(), nullable=True))
        batch.add_column(
            sa.Column("acknowledged_by", sa.String(length=80), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
