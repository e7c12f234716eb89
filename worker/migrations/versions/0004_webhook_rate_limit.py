"""webhook endpoint rate limit; partial index for the event fan-out

Create Date: 2026-11-23 09:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


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
