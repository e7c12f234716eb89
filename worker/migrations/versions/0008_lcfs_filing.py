"""LCFS filing fields: organization and facility identity, mapping role (book-and-claim),
business partner and heating-value basis, report sign-off names and audit head

Create Date: 2026-12-02 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

TEXT_COLUMNS = (
    ("tenant", "organization_name", 200, ""),
    ("tenant", "organization_fein", 20, ""),
    ("facility", "carb_facility_id", 60, ""),
    ("fuel_mapping", "role", 12, "fuel"),
    ("fuel_mapping", "business_partner", 200, ""),
    ("report", "preparer", 200, ""),
    ("report", "reviewer", 200, ""),
    ("report", "audit_head", 64, ""),
)
FLOAT_COLUMNS = (
    ("fuel_mapping", "hhv_btu_per_scf"),
    ("fuel_mapping", "lhv_hhv_ratio"),
    ("fuel_transaction", "hhv_btu_per_scf"),
    ("fuel_transaction", "lhv_hhv_ratio"),
)


def upgrade() -> None:
    for table, name, length, default in TEXT_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default=default)
            )
    for table, name in FLOAT_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))
    with op.batch_alter_table("fuel_transaction") as batch:
        batch.add_column(sa.Column("application", sa.String(length=60), nullable=True))
    with op.batch_alter_table("document") as batch:
        batch.add_column(sa.Column("resolution_note", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("report") as batch:
        batch.alter_column("format", type_=sa.String(length=16), existing_type=sa.String(length=8))


def downgrade() -> None:
    with op.batch_alter_table("report") as batch:
        batch.alter_column("format", type_=sa.String(length=8), existing_type=sa.String(length=16))
    with op.batch_alter_table("document") as batch:
        batch.drop_column("resolution_note")
    with op.batch_alter_table("fuel_transaction") as batch:
        batch.drop_column("application")
    for table, name in reversed(FLOAT_COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(name)
    for table, name, _, _ in reversed(TEXT_COLUMNS):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(name)
