"""status counts kept by triggers

- status_counts: how many services and billing pendings are in each status, kept by triggers in
  the transaction of every write, so that the totals of the unfiltered and status-filtered
  lists are read from a few rows instead of counted over every row. Filled here from the rows
  already stored, after the triggers exist: creating them waits for the writers at work and
  holds off new ones until this migration commits, so no write is missed.
- PostgreSQL: one statement-level trigger per table and event; each reads the statement's
  transition tables and appends one delta row per status it changed (inserts only, so
  concurrent writers never queue on a counter row). TRUNCATE clears the table's counts, under
  the same advisory lock as the compaction that folds the delta rows.
- SQLite: row-level triggers add to one row per status (SQLite has one writer at a time).

The triggers come from ``webapp.billing.status_counts.create_count_triggers``: a later migration
that rebuilds services or billing_pendings on SQLite (batch_alter_table) drops their triggers
with the old table and calls it again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

from webapp.billing.status_counts import COUNTED_TABLES, create_count_triggers, drop_count_triggers


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('status_counts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('table_name', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_counts'))
    )
    with op.batch_alter_table('status_counts', schema=None) as batch_op:
        batch_op.create_index('ix_status_counts_table_name_status', ['table_name', 'status'], unique=False)

    create_count_triggers(op.get_bind())
    for table in COUNTED_TABLES:
        op.execute(
            f"INSERT INTO status_counts (table_name, status, delta) "
            f"SELECT '{table}', status, count(*) FROM {table} GROUP BY status"
        )


def downgrade():
    drop_count_triggers(op.get_bind())

    with op.batch_alter_table('status_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_status_counts_table_name_status')

    op.drop_table('status_counts')
