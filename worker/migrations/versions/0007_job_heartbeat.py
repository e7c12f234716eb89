"""job heartbeat: the last sign of life of the worker running a job

Create Date: 2026-12-02 16:00:00
"""

from alembic import op

from worker.storage import ddl

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(ddl.timestamp("heartbeat_at", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("heartbeat_at")
