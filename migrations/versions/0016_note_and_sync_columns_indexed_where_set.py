"""note and sync columns indexed where set

An invoice is stored with corrects_invoice_id and correction_id empty (only a note has them)
and erp_sync_id empty (a sync sets it later), yet their indexes held every invoice: 3 of the 12
index entries each stored invoice wrote. They now hold only the rows where the column is set,
which is every row a lookup by value reads, so storing an invoice writes 9. correction_id stays
unique: a correction is never issued twice.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

NEVER_REUSED_IDS = {"sqlite_autoincrement": True}
# index -> (column, unique)
INDEXED_WHERE_SET = {
    "ix_invoices_corrects_invoice_id": ("corrects_invoice_id", False),
    "uq_invoices_correction_id": ("correction_id", True),
    "ix_invoices_erp_sync_id": ("erp_sync_id", False),
}


def upgrade():
    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_index('ix_invoices_corrects_invoice_id')
        batch_op.drop_constraint('uq_invoices_correction_id', type_='unique')
        batch_op.drop_index('ix_invoices_erp_sync_id')
    for name, (column, unique) in INDEXED_WHERE_SET.items():
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, 'invoices', [column], unique=unique, postgresql_where=where, sqlite_where=where
        )


def downgrade():
    for name in INDEXED_WHERE_SET:
        op.drop_index(name, table_name='invoices')
    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.create_index('ix_invoices_corrects_invoice_id', ['corrects_invoice_id'], unique=False)
        batch_op.create_unique_constraint('uq_invoices_correction_id', ['correction_id'])
        batch_op.create_index('ix_invoices_erp_sync_id', ['erp_sync_id'], unique=False)
