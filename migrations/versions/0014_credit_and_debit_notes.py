"""credit and debit notes

- corrections: a credit or debit note asked for a voucher, waiting in its batch of notes until
  the authority authorizes (or rejects) its note.
- billing_batches.kind: what a batch issues, invoices (every batch so far) or notes.
- invoices.corrects_invoice_id and correction_id: a note, the voucher it corrects and the
  correction it was issued for (unique: never issued twice). The check on the vouchers Lote
  issues now takes a note, which comes from a correction instead of a pending.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

NEVER_REUSED_IDS = {"sqlite_autoincrement": True}
FROM_A_PENDING = (
    "issued_outside OR (customer_id IS NOT NULL AND service_id IS NOT NULL "
    "AND pending_id IS NOT NULL AND batch_id IS NOT NULL)"
)
ISSUED_BY_LOTE = (
    "issued_outside OR (customer_id IS NOT NULL AND batch_id IS NOT NULL AND ("
    "(service_id IS NOT NULL AND pending_id IS NOT NULL) "
    "OR (correction_id IS NOT NULL AND corrects_invoice_id IS NOT NULL)))"
)


def upgrade():
    op.create_table('corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('credit', 'debit', name='notekind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'ISSUED', 'REJECTED', 'RELEASED', name='correctionstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('rejection_code', sa.Integer(), nullable=True),
    sa.Column('rejection_message', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_corrections_amount_positive')),
    sa.ForeignKeyConstraint(['batch_id'], ['billing_batches.id'], name=op.f('fk_corrections_batch_id_billing_batches')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_corrections_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_corrections')),
    **NEVER_REUSED_IDS
    )
    with op.batch_alter_table('corrections', schema=None) as batch_op:
        batch_op.create_index('ix_corrections_invoice_id_id', ['invoice_id', 'id'], unique=False)
        batch_op.create_index('ix_corrections_batch_id_id', ['batch_id', 'id'], unique=False)

    with op.batch_alter_table('billing_batches', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('invoices', 'notes', name='batchkind', native_enum=False, create_constraint=True, length=24), server_default='invoices', nullable=False))

    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('corrects_invoice_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('correction_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_invoices_corrects_invoice_id'), ['corrects_invoice_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_invoices_correction_id'), ['correction_id'])
        batch_op.create_foreign_key(batch_op.f('fk_invoices_corrects_invoice_id_invoices'), 'invoices', ['corrects_invoice_id'], ['id'])
        batch_op.drop_constraint(op.f('ck_invoices_issued_by_lote_from_a_pending'), type_='check')
        batch_op.create_check_constraint('issued_by_lote', ISSUED_BY_LOTE)


def downgrade():
    notes = op.get_bind().scalar(sa.text("SELECT count(*) FROM corrections"))
    if notes:
        raise RuntimeError(
            f"{notes} credit or debit notes were asked for, which the previous schema cannot "
            "hold"
        )
    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_issued_by_lote'), type_='check')
        batch_op.create_check_constraint('issued_by_lote_from_a_pending', FROM_A_PENDING)
        batch_op.drop_constraint(batch_op.f('fk_invoices_corrects_invoice_id_invoices'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_invoices_correction_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_invoices_corrects_invoice_id'))
        batch_op.drop_column('correction_id')
        batch_op.drop_column('corrects_invoice_id')

    with op.batch_alter_table('billing_batches', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_constraint(op.f('ck_billing_batches_batchkind'), type_='check')
        batch_op.drop_column('kind')

    with op.batch_alter_table('corrections', schema=None) as batch_op:
        batch_op.drop_index('ix_corrections_batch_id_id')
        batch_op.drop_index('ix_corrections_invoice_id_id')

    op.drop_table('corrections')
