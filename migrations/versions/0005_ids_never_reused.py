"""ids never reused on SQLite

- users, services, billing_pendings, billing_batches, invoices and erp_syncs: on SQLite the
  tables are rebuilt with AUTOINCREMENT, so a new row never takes the id of a deleted one and
  never inherits its audit trail; each table's counter starts above the highest id it holds and
  the highest the audit trail names, which covers rows deleted before this migration.
  PostgreSQL's sequences never reuse an id: nothing changes there.
- The rebuild reflects each table (batch_alter_table, recreate), so it keeps whatever columns
  earlier migrations gave it; its indexes are created again from their stored SQL, partial
  ones included, and the status-count triggers of services and billing_pendings, which SQLite
  drops with the old table, from the helper that created them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from webapp.billing.status_counts import COUNTED_TABLES, create_count_triggers


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# Each rebuilt table, and the entity type the audit trail names its rows by.
AUDITED_TABLES = {
    "users": "user",
    "services": "service",
    "billing_pendings": "pending",
    "billing_batches": "batch",
    "invoices": "invoice",
    "erp_syncs": "erp_sync",
}


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        rebuild(autoincrement=True)
        for table, entity_type in AUDITED_TABLES.items():
            op.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :table").bindparams(table=table))
            op.execute(
                sa.text(
                    f"INSERT INTO sqlite_sequence (name, seq) SELECT :table, max("
                    f"(SELECT coalesce(max(id), 0) FROM {table}), "
                    f"(SELECT coalesce(max(entity_id), 0) FROM audit_events "
                    f"WHERE entity_type = :entity_type))"
                ).bindparams(table=table, entity_type=entity_type)
            )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        rebuild(autoincrement=False)
        op.execute(
            sa.text("DELETE FROM sqlite_sequence WHERE name IN :tables").bindparams(
                sa.bindparam("tables", list(AUDITED_TABLES), expanding=True)
            )
        )


def rebuild(autoincrement: bool) -> None:
    """Rebuilds each audited table with or without AUTOINCREMENT, keeping its rows, columns,
    constraints, indexes and triggers."""
    bind = op.get_bind()
    for table in AUDITED_TABLES:
        indexes = bind.execute(
            sa.text(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = :table AND sql IS NOT NULL"
            ),
            {"table": table},
        ).all()
        # Dropped first and created again from their own SQL: reflection would lose the WHERE
        # of the partial ones.
        for name, _ in indexes:
            op.execute(f"DROP INDEX {name}")
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
        for _, sql in indexes:
            op.execute(sql)
    create_count_triggers(bind, COUNTED_TABLES)
