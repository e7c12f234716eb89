"""hash-chained audit log (append-only: triggers refuse UPDATE and DELETE)

Create Date: 2026-11-23 12:40:00
"""

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0006"
down_revision = "0005"

APPEND_ONLY = "audit_entry is append-only"


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        ddl.timestamp("created_at"),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=80), nullable=False),
        ddl.string_id("facility_id", nullable=True),
        ddl.json_column("details"),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        ddl.foreign_key("audit_entry", "tenant_id", "tenant", ondelete=None),
        ddl.primary_key("audit_entry"),
        ddl.unique("audit_entry", "tenant_id", "seq"),
    )
    ddl.create_index("audit_entry", "tenant_id", "row_hash")
    ddl.create_index("audit_entry", "tenant_id", "created_at")
    op.create_table(
        "audit_head",
        ddl.string_id("tenant_id"),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        ddl.foreign_key("audit_head", "tenant_id", "tenant", ondelete=None),
        ddl.primary_key("audit_head", "tenant_id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY}';
            END $$;
        """)
        op.execute("""
            CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
            FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
        """)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_entry_no_{verb.lower()} BEFORE {verb} ON audit_entry
                BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END;
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_append_only()")
    op.drop_table("audit_head")
    op.drop_table("audit_entry")  # and its indexes
