"""Alerts can be acknowledged: when and by whom

Create Date: 2026-12-03 07:00:00
"""

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(ddl.timestamp("acknowledged_at", nullable=True))
        batch.add_column(
            sa.Column("acknowledged_by", sa.String(length=80), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
