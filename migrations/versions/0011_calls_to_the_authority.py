"""calls to the tax authority, committed call by call

- authority_calls: a call Lote reserved the numbers of, with the vouchers it sends; deleted when
  its answer is stored.
- batch_books: what each batch invoiced on each book (first and last number, authorized and
  rejected), filled from the invoices already issued.
- receipt_books.held_by_batch_id (the batch holding the book) and adopted_number (the
  authority's last number a point of sale used before Lote started from).
- billing_batches.rejected_count; billing_pendings.rejection_code, rejection_message and
  rejected_by_batch_id: the authority's last rejection of a pending's voucher.
- authority_vouchers: the simulated authority's own table, when it lives in Lote's database
  (the default); it adopts the invoices Lote already issued, so existing books start in step.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

FILL_BATCH_BOOKS = """
INSERT INTO batch_books (batch_id, receipt_book, document_type, first_number, last_number,
                         authorized, rejected)
SELECT batch_id, receipt_book, min(document_type), min(sequence_number), max(sequence_number),
       count(*), 0
FROM invoices GROUP BY batch_id, receipt_book
"""
ADOPT_INVOICES = """
INSERT INTO authority_vouchers (pto_vta, cbte_tipo, cbte_nro, cbte_fch, doc_tipo, doc_nro,
                                imp_total, cae, cae_fch_vto)
SELECT point_of_sale, document_type, sequence_number, issue_date, receiver_doc_type,
       receiver_doc_number, amount, cae, cae_due_date
FROM invoices
"""


def upgrade():
    op.create_table('authority_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('receipt_book', sa.String(length=12), nullable=False),
    sa.Column('first_number', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.Column('vouchers', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['billing_batches.id'], name=op.f('fk_authority_calls_batch_id_billing_batches')),
    sa.ForeignKeyConstraint(['receipt_book'], ['receipt_books.code'], name=op.f('fk_authority_calls_receipt_book_receipt_books')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_authority_calls'))
    )
    with op.batch_alter_table('authority_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authority_calls_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_authority_calls_receipt_book'), ['receipt_book'], unique=False)
    op.create_table('batch_books',
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('receipt_book', sa.String(length=12), nullable=False),
    sa.Column('document_type', sa.Integer(), nullable=False),
    sa.Column('first_number', sa.Integer(), nullable=True),
    sa.Column('last_number', sa.Integer(), nullable=True),
    sa.Column('authorized', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['billing_batches.id'], name=op.f('fk_batch_books_batch_id_billing_batches')),
    sa.ForeignKeyConstraint(['receipt_book'], ['receipt_books.code'], name=op.f('fk_batch_books_receipt_book_receipt_books')),
    sa.PrimaryKeyConstraint('batch_id', 'receipt_book', name=op.f('pk_batch_books'))
    )
    op.execute(FILL_BATCH_BOOKS)
    op.add_column('receipt_books', sa.Column('held_by_batch_id', sa.Integer(), nullable=True))
    op.add_column('receipt_books', sa.Column('adopted_number', sa.Integer(), nullable=True))
    op.add_column('billing_batches', sa.Column('rejected_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('billing_pendings', sa.Column('rejection_code', sa.Integer(), nullable=True))
    op.add_column('billing_pendings', sa.Column('rejection_message', sa.Text(), nullable=True))
    op.add_column('billing_pendings', sa.Column('rejected_by_batch_id', sa.Integer(), nullable=True))

    # The simulated authority's table as it was then (migration 0017 keeps its vouchers in runs).
    op.create_table('authority_vouchers',
    sa.Column('pto_vta', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_tipo', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_nro', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_fch', sa.Date(), nullable=False),
    sa.Column('doc_tipo', sa.Integer(), nullable=False),
    sa.Column('doc_nro', sa.String(length=11), nullable=False),
    sa.Column('imp_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('cae', sa.String(length=14), nullable=False),
    sa.Column('cae_fch_vto', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('pto_vta', 'cbte_tipo', 'cbte_nro'),
    if_not_exists=True,
    )
    op.execute(ADOPT_INVOICES)


def downgrade():
    op.drop_table('authority_vouchers')
    for table, column in (
        ('billing_pendings', 'rejected_by_batch_id'),
        ('billing_pendings', 'rejection_message'),
        ('billing_pendings', 'rejection_code'),
        ('billing_batches', 'rejected_count'),
        ('receipt_books', 'adopted_number'),
        ('receipt_books', 'held_by_batch_id'),
    ):
        # Dropped in place: a rebuild would lose the partial indexes and count triggers.
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_table('batch_books')
    with op.batch_alter_table('authority_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authority_calls_receipt_book'))
        batch_op.drop_index(batch_op.f('ix_authority_calls_batch_id'))
    op.drop_table('authority_calls')
