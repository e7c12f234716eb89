"""reports, documents, fuel mappings and transactions

Create Date: 2026-11-23 10:46:40.153789
"""

import sqlalchemy as sa
from alembic import op

from worker.storage import ddl

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "document",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("upload_id"),
        ddl.string_id("facility_id", nullable=True),
        ddl.string_id("job_id", nullable=True),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("declared_type", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("document_type", sa.String(length=40), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        ddl.json_column("fields"),
        ddl.json_column("warnings"),
        ddl.json_column("reconciliation", nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        ddl.timestamp("created_at"),
        ddl.timestamp("processed_at", nullable=True),
        ddl.foreign_key("document", "tenant_id", "tenant"),
        ddl.foreign_key("document", "upload_id", "upload", ondelete=None),
        ddl.primary_key("document"),
        ddl.unique("document", "tenant_id", "upload_id"),
    )
    ddl.create_index("document", "tenant_id", "created_at")

    op.create_table(
        "fuel_mapping",
        ddl.serial_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("facility_id"),
        sa.Column("tag", sa.String(length=200), nullable=False),
        sa.Column("fuel_pathway_code", sa.String(length=60), nullable=False),
        sa.Column("fuel_type", sa.String(length=60), nullable=False),
        sa.Column("ci", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("rate_per", sa.String(length=4), nullable=False),
        sa.Column("application", sa.String(length=60), nullable=True),
        sa.Column("eer", sa.Float(), nullable=True),
        sa.Column("transaction_type", sa.String(length=60), nullable=False),
        sa.Column("rollover_at", sa.Float(), nullable=True),
        sa.Column("interval_s", sa.Float(), nullable=True),
        ddl.foreign_key("fuel_mapping", "facility_id", "facility"),
        ddl.foreign_key("fuel_mapping", "tenant_id", "tenant"),
        ddl.primary_key("fuel_mapping"),
        ddl.unique("fuel_mapping", "facility_id", "tag"),
    )
    ddl.create_index("fuel_mapping", "tenant_id")

    op.create_table(
        "fuel_transaction",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("facility_id"),
        sa.Column("fuel_pathway_code", sa.String(length=60), nullable=False),
        sa.Column("fuel_type", sa.String(length=60), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("ci", sa.Float(), nullable=False),
        sa.Column("transaction_type", sa.String(length=60), nullable=False),
        sa.Column("date", sa.String(length=10), nullable=False),
        sa.Column("business_partner", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        ddl.string_id("document_id", nullable=True),
        ddl.timestamp("created_at"),
        ddl.foreign_key("fuel_transaction", "facility_id", "facility"),
        ddl.foreign_key("fuel_transaction", "tenant_id", "tenant"),
        ddl.primary_key("fuel_transaction"),
        ddl.unique("fuel_transaction", "document_id"),
    )
    ddl.create_index("fuel_transaction", "facility_id", "date")
    ddl.create_index("fuel_transaction", "tenant_id")

    op.create_table(
        "report",
        ddl.string_id(),
        ddl.string_id("tenant_id"),
        ddl.string_id("facility_id"),
        sa.Column("report_type", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("draft", sa.Boolean(), nullable=False),
        sa.Column("schedule_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        ddl.string_id("job_id", nullable=True),
        sa.Column("has_data", sa.Boolean(), nullable=True),
        ddl.json_column("totals", nullable=True),
        sa.Column("input_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("content_type", sa.String(length=60), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        ddl.timestamp("created_at"),
        ddl.timestamp("generated_at", nullable=True),
        ddl.foreign_key("report", "facility_id", "facility"),
        ddl.foreign_key("report", "tenant_id", "tenant"),
        ddl.primary_key("report"),
        ddl.unique("report", "schedule_key"),
    )
    ddl.create_index("report", "facility_id", "year")
    ddl.create_index("report", "tenant_id", "created_at")


def downgrade() -> None:
    for table in ("report", "fuel_transaction", "fuel_mapping", "document"):
        op.drop_table(table)  # and its indexes
