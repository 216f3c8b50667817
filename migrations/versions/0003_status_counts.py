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

A later migration that rebuilds services or billing_pendings with batch_alter_table on SQLite
drops these triggers with the old table and must create them again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

COUNTED_TABLES = ("services", "billing_pendings")

POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION count_statuses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO status_counts (table_name, status, delta)
        SELECT TG_TABLE_NAME, status, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO status_counts (table_name, status, delta)
        SELECT TG_TABLE_NAME, status, -count(*) FROM old_rows GROUP BY status;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO status_counts (table_name, status, delta)
        SELECT TG_TABLE_NAME, status, sum(change)
        FROM (SELECT status, 1 AS change FROM new_rows
              UNION ALL
              SELECT status, -1 FROM old_rows) AS changes
        GROUP BY status
        HAVING sum(change) <> 0;
    ELSE
        PERFORM pg_advisory_xact_lock(hashtext('status_counts'));
        DELETE FROM status_counts WHERE table_name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$
"""

POSTGRESQL_TRIGGERS = {
    "insert": "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows",
    "truncate": "AFTER TRUNCATE ON {table}",
}

SQLITE_ADD = """
    INSERT INTO status_counts (table_name, status, delta)
    SELECT '{table}', {row}.status, 0
    WHERE NOT EXISTS (SELECT 1 FROM status_counts
                      WHERE table_name = '{table}' AND status = {row}.status);
    UPDATE status_counts SET delta = delta {sign} 1
    WHERE id = (SELECT min(id) FROM status_counts
                WHERE table_name = '{table}' AND status = {row}.status);
"""

SQLITE_TRIGGERS = {
    "insert": ("AFTER INSERT ON {table}", [("NEW", "+")]),
    "update": (
        "AFTER UPDATE OF status ON {table} WHEN OLD.status <> NEW.status",
        [("OLD", "-"), ("NEW", "+")],
    ),
    "delete": ("AFTER DELETE ON {table}", [("OLD", "-")]),
}


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

    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for table in COUNTED_TABLES:
            for event, when in POSTGRESQL_TRIGGERS.items():
                op.execute(
                    f"CREATE TRIGGER {table}_count_{event} {when.format(table=table)} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION count_statuses()"
                )
    else:
        for table in COUNTED_TABLES:
            for event, (when, changes) in SQLITE_TRIGGERS.items():
                body = "".join(
                    SQLITE_ADD.format(table=table, row=row, sign=sign) for row, sign in changes
                )
                op.execute(
                    f"CREATE TRIGGER {table}_count_{event} {when.format(table=table)} "
                    f"BEGIN {body} END"
                )
    for table in COUNTED_TABLES:
        op.execute(
            f"INSERT INTO status_counts (table_name, status, delta) "
            f"SELECT '{table}', status, count(*) FROM {table} GROUP BY status"
        )


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in COUNTED_TABLES:
        for event in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
            op.execute(
                f"DROP TRIGGER IF EXISTS {table}_count_{event}" + (f" ON {table}" if postgresql else "")
            )
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS count_statuses()")

    with op.batch_alter_table('status_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_status_counts_table_name_status')

    op.drop_table('status_counts')
