"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 21:11:18.734697

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_entity', ['entity_type', 'entity_id', 'id'], unique=False)

    op.create_table('receipt_books',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.Column('last_issue_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_receipt_books'))
    )
    op.create_table('services',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Enum('CREATED', 'SENT_TO_BILL', 'INVOICED', name='servicestatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_services_amount_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services'))
    )
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.create_index('ix_services_customer_id_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_services_service_date_id', ['service_date', 'id'], unique=False)
        batch_op.create_index('ix_services_status_id', ['status', 'id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.Enum('admin', 'clerk', 'viewer', name='role', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('billing_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('receipt_book', sa.String(length=12), nullable=False),
    sa.Column('status', sa.Enum('PENDING_PROCESSING', 'IN_PROCESS', 'PROCESSED', 'ERROR', name='batchstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('pending_count', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('total_invoices', sa.Integer(), nullable=False),
    sa.Column('total_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('first_invoice_number', sa.String(length=32), nullable=True),
    sa.Column('last_invoice_number', sa.String(length=32), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('processing_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('processing_completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['receipt_book'], ['receipt_books.code'], name=op.f('fk_billing_batches_receipt_book_receipt_books')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_batches'))
    )
    with op.batch_alter_table('billing_batches', schema=None) as batch_op:
        batch_op.create_index('ix_billing_batches_issue_date_id', ['issue_date', 'id'], unique=False)
        batch_op.create_index('ix_billing_batches_receipt_book_id', ['receipt_book', 'id'], unique=False)
        batch_op.create_index('ix_billing_batches_status_id', ['status', 'id'], unique=False)

    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_records_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_records_user_id_key'))
    )
    op.create_table('billing_pendings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'INVOICED', 'CANCELLED', name='pendingstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['billing_batches.id'], name=op.f('fk_billing_pendings_batch_id_billing_batches')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_billing_pendings_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_pendings'))
    )
    with op.batch_alter_table('billing_pendings', schema=None) as batch_op:
        batch_op.create_index('ix_billing_pendings_batch_id_id', ['batch_id', 'id'], unique=False)
        batch_op.create_index('ix_billing_pendings_customer_id_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_billing_pendings_service_date_id', ['service_date', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_billing_pendings_service_id'), ['service_id'], unique=False)
        batch_op.create_index('ix_billing_pendings_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('uq_billing_pendings_one_pending_per_service', ['service_id'], unique=True, postgresql_where=sa.text("status = 'PENDING'"), sqlite_where=sa.text("status = 'PENDING'"))

    op.create_table('erp_syncs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sync_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.Enum('SENT', 'ERROR', 'CONFIRMED', name='syncstatus', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('invoice_count', sa.Integer(), nullable=False),
    sa.Column('total_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['billing_batches.id'], name=op.f('fk_erp_syncs_batch_id_billing_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erp_syncs')),
    sa.UniqueConstraint('sync_id', name=op.f('uq_erp_syncs_sync_id'))
    )
    with op.batch_alter_table('erp_syncs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erp_syncs_batch_id'), ['batch_id'], unique=False)

    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_number', sa.String(length=32), nullable=False),
    sa.Column('receipt_book', sa.String(length=12), nullable=False),
    sa.Column('sequence_number', sa.Integer(), nullable=False),
    sa.Column('cae', sa.String(length=14), nullable=False),
    sa.Column('cae_due_date', sa.Date(), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('net_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('vat_amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('service_id', sa.Integer(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('pending_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('erp_sync_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('abs(amount - (net_amount + vat_amount)) < 0.005', name=op.f('ck_invoices_amount_is_net_plus_vat')),
    sa.ForeignKeyConstraint(['batch_id'], ['billing_batches.id'], name=op.f('fk_invoices_batch_id_billing_batches')),
    sa.ForeignKeyConstraint(['erp_sync_id'], ['erp_syncs.id'], name=op.f('fk_invoices_erp_sync_id_erp_syncs')),
    sa.ForeignKeyConstraint(['pending_id'], ['billing_pendings.id'], name=op.f('fk_invoices_pending_id_billing_pendings')),
    sa.ForeignKeyConstraint(['receipt_book'], ['receipt_books.code'], name=op.f('fk_invoices_receipt_book_receipt_books')),
    sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_invoices_service_id_services')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('cae', name=op.f('uq_invoices_cae')),
    sa.UniqueConstraint('invoice_number', name=op.f('uq_invoices_invoice_number')),
    sa.UniqueConstraint('pending_id', name=op.f('uq_invoices_pending_id')),
    sa.UniqueConstraint('receipt_book', 'sequence_number', name=op.f('uq_invoices_receipt_book_sequence_number'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_amount_id', ['amount', 'id'], unique=False)
        batch_op.create_index('ix_invoices_batch_id_id', ['batch_id', 'id'], unique=False)
        batch_op.create_index('ix_invoices_customer_id_id', ['customer_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_erp_sync_id'), ['erp_sync_id'], unique=False)
        batch_op.create_index('ix_invoices_issue_date_id', ['issue_date', 'id'], unique=False)

    op.create_table('erp_sync_invoices',
    sa.Column('erp_sync_id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['erp_sync_id'], ['erp_syncs.id'], name=op.f('fk_erp_sync_invoices_erp_sync_id_erp_syncs')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_erp_sync_invoices_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('erp_sync_id', 'invoice_id', name=op.f('pk_erp_sync_invoices'))
    )
    with op.batch_alter_table('erp_sync_invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erp_sync_invoices_invoice_id'), ['invoice_id'], unique=False)


def downgrade():
    with op.batch_alter_table('erp_sync_invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erp_sync_invoices_invoice_id'))

    op.drop_table('erp_sync_invoices')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_invoices_issue_date_id')
        batch_op.drop_index(batch_op.f('ix_invoices_erp_sync_id'))
        batch_op.drop_index('ix_invoices_customer_id_id')
        batch_op.drop_index('ix_invoices_batch_id_id')
        batch_op.drop_index('ix_invoices_amount_id')

    op.drop_table('invoices')
    with op.batch_alter_table('erp_syncs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erp_syncs_batch_id'))

    op.drop_table('erp_syncs')
    with op.batch_alter_table('billing_pendings', schema=None) as batch_op:
        batch_op.drop_index('uq_billing_pendings_one_pending_per_service', postgresql_where=sa.text("status = 'PENDING'"), sqlite_where=sa.text("status = 'PENDING'"))
        batch_op.drop_index('ix_billing_pendings_status_id')
        batch_op.drop_index(batch_op.f('ix_billing_pendings_service_id'))
        batch_op.drop_index('ix_billing_pendings_service_date_id')
        batch_op.drop_index('ix_billing_pendings_customer_id_id')
        batch_op.drop_index('ix_billing_pendings_batch_id_id')

    op.drop_table('billing_pendings')
    op.drop_table('idempotency_records')
    with op.batch_alter_table('billing_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_batches_status_id')
        batch_op.drop_index('ix_billing_batches_receipt_book_id')
        batch_op.drop_index('ix_billing_batches_issue_date_id')

    op.drop_table('billing_batches')
    op.drop_table('users')
    with op.batch_alter_table('services', schema=None) as batch_op:
        batch_op.drop_index('ix_services_status_id')
        batch_op.drop_index('ix_services_service_date_id')
        batch_op.drop_index('ix_services_customer_id_id')

    op.drop_table('services')
    op.drop_table('receipt_books')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_entity')

    op.drop_table('audit_events')
