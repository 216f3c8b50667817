"""customers and the issuer

- customers: who a service is billed to, keyed by the customerId services already carry. Every
  customer id already named by a service, pending or invoice becomes an incomplete customer
  named after its id, in one INSERT ... SELECT, so a clerk completes it before it is invoiced.
- issuer: the company issuing the invoices, a single row.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02 11:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None

DOC_TYPES = "80, 86, 96, 99"
IVA_CONDITIONS = "1, 4, 5, 6, 7, 8, 9, 10, 13, 15, 16"

FILL_CUSTOMERS = """
INSERT INTO customers (id, legal_name, doc_type, doc_number, iva_condition, address, email,
                       payment_days, incomplete, created_at, updated_at)
SELECT customer_id, 'Customer ' || customer_id, 99, '0', NULL, '', '', 30, :incomplete,
       CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM (SELECT customer_id FROM services
      UNION SELECT customer_id FROM billing_pendings
      UNION SELECT customer_id FROM invoices) AS named
"""


def upgrade():
    op.create_table('customers',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('doc_type', sa.Integer(), nullable=False),
    sa.Column('doc_number', sa.String(length=11), nullable=False),
    sa.Column('iva_condition', sa.Integer(), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('payment_days', sa.Integer(), nullable=False),
    sa.Column('incomplete', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f'doc_type IN ({DOC_TYPES})', name=op.f('ck_customers_doc_type_known')),
    sa.CheckConstraint(f'iva_condition IS NULL OR iva_condition IN ({IVA_CONDITIONS})', name=op.f('ck_customers_iva_condition_known')),
    sa.CheckConstraint('payment_days BETWEEN 0 AND 365', name=op.f('ck_customers_payment_days_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_doc_number', ['doc_number'], unique=False)
        batch_op.create_index('ix_customers_incomplete_id', ['incomplete', 'id'], unique=False)

    op.create_table('issuer',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('cuit', sa.String(length=11), nullable=False),
    sa.Column('iva_condition', sa.Enum('responsable-inscripto', 'monotributo', 'exento', name='issuerivacondition', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('iibb_number', sa.String(length=32), nullable=False),
    sa.Column('activities_start', sa.Date(), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('points_of_sale', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_issuer_single_issuer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer'))
    )

    op.execute(sa.text(FILL_CUSTOMERS).bindparams(sa.bindparam('incomplete', True, type_=sa.Boolean())))


def downgrade():
    op.drop_table('issuer')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_incomplete_id')
        batch_op.drop_index('ix_customers_doc_number')
    op.drop_table('customers')
