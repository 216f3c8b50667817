"""invoices issued outside Lote

- invoices.issued_outside: a voucher another system issued on one of Lote's books, brought in
  from the tax authority when the book is reconciled. Every invoice so far was issued by Lote.
- invoices.customer_id, service_id, pending_id and batch_id become optional: such an invoice
  comes from no pending, service or batch, and its receiver may be no customer of Lote's. A
  check keeps them required on every invoice Lote issues.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

NEVER_REUSED_IDS = {"sqlite_autoincrement": True}
ISSUED_BY_LOTE_CHECK = (
    "issued_outside OR (customer_id IS NOT NULL AND service_id IS NOT NULL "
    "AND pending_id IS NOT NULL AND batch_id IS NOT NULL)"
)
FROM_A_PENDING = ('customer_id', 'service_id', 'pending_id', 'batch_id')


def upgrade():
    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('issued_outside', sa.Boolean(), server_default=sa.false(), nullable=False))
        for column in FROM_A_PENDING:
            batch_op.alter_column(column, existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint('issued_by_lote_from_a_pending', ISSUED_BY_LOTE_CHECK)


def downgrade():
    outside = op.get_bind().scalar(sa.text("SELECT count(*) FROM invoices WHERE issued_outside"))
    if outside:
        raise RuntimeError(
            f"{outside} invoices were issued outside Lote, which the previous schema cannot "
            "hold: each needs a pending, a service, a batch and a customer"
        )
    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_issued_by_lote_from_a_pending'), type_='check')
        for column in FROM_A_PENDING:
            batch_op.alter_column(column, existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('issued_outside')
