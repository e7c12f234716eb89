"""webhook endpoint rate limit; partial index for the event fan-out

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.add_column(sa.Column("rate_limit", sa.Integer(), nullable=True))
    op.create_index(
        "ix_event_not_fanned_out",
        "event",
        ["created_at"],
        postgresql_where=sa.text("fanned_out_at IS NULL"),
        sqlite_where=sa.text("fanned_out_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_event_not_fanned_out", table_name="event")
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.drop_column("rate_limit")
