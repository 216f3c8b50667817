"""batch abandonment

- billing_batches.abandoned_at, abandoned_by: when and by whom an ERROR batch was abandoned. An
  abandoned batch keeps its status ERROR (the four batch statuses stay), has released its
  pendings and can no longer be retried.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('billing_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('abandoned_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('abandoned_by', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('billing_batches', schema=None) as batch_op:
        batch_op.drop_column('abandoned_by')
        batch_op.drop_column('abandoned_at')
