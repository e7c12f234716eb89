"""Documents keep a person's reviewed values beside the extracted ones

Create Date: 2026-12-03 06:45:00
"""

from alembic import op

from worker.storage import ddl

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.add_column(ddl.json_column("reviewed_fields", nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.drop_column("reviewed_fields")
