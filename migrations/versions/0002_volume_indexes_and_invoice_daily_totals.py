"""volume indexes and invoice daily totals

- invoice_daily_totals: invoice count and amount per issue date, receipt book and customer,
  added to by the invoicing transaction, so invoice statistics add up a few rows per day instead
  of every invoice. Filled here from the invoices already issued.
- Two partial indexes on billing_pendings that stay as small as the work waiting, however long
  the invoiced history grows: the pendings a new batch may claim (the available list and its
  count), and the PENDING amounts by customer (the summary, read from the index alone on
  PostgreSQL).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:48:27.058418

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invoice_daily_totals',
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('receipt_book', sa.String(length=12), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('invoice_count', sa.Integer(), nullable=False),
    sa.Column('total_amount', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['receipt_book'], ['receipt_books.code'], name=op.f('fk_invoice_daily_totals_receipt_book_receipt_books')),
    sa.PrimaryKeyConstraint('issue_date', 'receipt_book', 'customer_id', name=op.f('pk_invoice_daily_totals'))
    )
    with op.batch_alter_table('invoice_daily_totals', schema=None) as batch_op:
        batch_op.create_index('ix_invoice_daily_totals_customer_id', ['customer_id', 'issue_date'], unique=False)
    op.execute(
        "INSERT INTO invoice_daily_totals "
        "(issue_date, receipt_book, customer_id, invoice_count, total_amount) "
        "SELECT issue_date, receipt_book, customer_id, count(*), sum(amount) FROM invoices "
        "GROUP BY issue_date, receipt_book, customer_id"
    )

    with op.batch_alter_table('billing_pendings', schema=None) as batch_op:
        batch_op.create_index('ix_billing_pendings_available_id', ['id'], unique=False, postgresql_where=sa.text("status = 'PENDING' AND batch_id IS NULL"), sqlite_where=sa.text("status = 'PENDING' AND batch_id IS NULL"))
        batch_op.create_index('ix_billing_pendings_pending_customer_id', ['customer_id'], unique=False, postgresql_include=['amount', 'service_date'], postgresql_where=sa.text("status = 'PENDING'"), sqlite_where=sa.text("status = 'PENDING'"))



def downgrade():
    with op.batch_alter_table('billing_pendings', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_pendings_pending_customer_id', postgresql_include=['amount', 'service_date'], postgresql_where=sa.text("status = 'PENDING'"), sqlite_where=sa.text("status = 'PENDING'"))
        batch_op.drop_index('ix_billing_pendings_available_id', postgresql_where=sa.text("status = 'PENDING' AND batch_id IS NULL"), sqlite_where=sa.text("status = 'PENDING' AND batch_id IS NULL"))

    with op.batch_alter_table('invoice_daily_totals', schema=None) as batch_op:
        batch_op.drop_index('ix_invoice_daily_totals_customer_id')

    op.drop_table('invoice_daily_totals')
